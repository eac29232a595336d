/**
 * The turn orchestration (`conversation_turn`, instance id = turn id). Deterministic: it only calls the
 * entity and the reply activity through the port (functions/conversations.ts maps it onto context.df).
 *
 * 1. `enqueue` the turn at the conversation's entity. Unless that hands this orchestration the lease,
 *    it is done: the holder will run the turn.
 * 2. As the holder: run the reply activity for the work in hand, report its outcome with `complete`,
 *    which answers the next queued turn (or takes the lease back when the queue is empty), and repeat.
 *    So one conversation's turns run strictly one at a time, in the entity's queue order.
 * 3. Every TURNS_PER_EXECUTION turns the holder continues as new with the work in hand, keeping its
 *    history (and replay) small while a busy conversation keeps it holding the lease.
 *
 * Crash safety comes from the durable runtime: entity operations happen exactly once and in order, the
 * holder resumes from its history after a crash (its lease is in the entity's state, not in memory), and
 * a repeated reply activity answers from the transcript. A reply activity that fails for good (after its
 * retries) is recorded as a failed turn, so the queue moves on and the client gets an answer.
 */
import { CONVERSATION_REPLY_ACTIVITY, entityKey } from './names';
import type { CompleteResult, EnqueueResult } from './actor';
import type { Outcome, TurnOrchestrationInput, TurnOrchestrationOutput, Work } from './types';

/** Turns one execution runs before it continues as new. */
export const TURNS_PER_EXECUTION = 16;

export const REPLY_RETRY = { firstIntervalMs: 1000, maxAttempts: 3 } as const;

/** A durable task (the SDK's Task has this shape). */
export interface TurnTask {
  readonly isCompleted: boolean;
  readonly isFaulted: boolean;
}

/** What the orchestration needs from `context.df`. */
export interface TurnContext {
  instanceId: string;
  callEntity(key: string, operation: string, input: unknown): TurnTask;
  callActivity(
    name: string,
    input: unknown,
    retry: { firstIntervalMs: number; maxAttempts: number },
  ): TurnTask;
  continueAsNew(input: TurnOrchestrationInput): void;
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Runs one turn's reply activity; a failure after the retries is recorded as a failed turn. */
function* runWork(ctx: TurnContext, work: Work): Generator<TurnTask, Outcome, unknown> {
  try {
    return (yield ctx.callActivity(CONVERSATION_REPLY_ACTIVITY, work, REPLY_RETRY)) as Outcome;
  } catch (err) {
    const failure = { code: 'CONVERSATION.TURN_FAILED', status: 500, message: messageOf(err) };
    try {
      return (yield ctx.callActivity(
        CONVERSATION_REPLY_ACTIVITY,
        { ...work, failure },
        REPLY_RETRY,
      )) as Outcome;
    } catch {
      // The store is down for good: the actor still moves on (the client's wait times out to 202).
      return { status: 'failed', error: failure };
    }
  }
}

export function* conversationTurn(
  ctx: TurnContext,
  input: TurnOrchestrationInput,
): Generator<TurnTask, TurnOrchestrationOutput, unknown> {
  let work: Work | undefined;
  let processed = 0;
  if (input.kind === 'turn') {
    const key = entityKey(input.ref.agentId, input.ref.conversationId);
    const enqueued = (yield ctx.callEntity(key, 'enqueue', {
      ref: input.ref,
      turn: input.turn,
      holder: ctx.instanceId,
    })) as EnqueueResult;
    if (enqueued.kind !== 'lease') return { turnId: input.turn.id, role: enqueued.kind, processed };
    work = enqueued.work;
  } else {
    work = input.work;
    processed = input.processed;
  }
  let inThisExecution = 0;
  while (work) {
    if (inThisExecution === TURNS_PER_EXECUTION) {
      ctx.continueAsNew({ kind: 'resume', work, processed });
      return { role: 'lease', processed };
    }
    const outcome = yield* runWork(ctx, work);
    const key = entityKey(work.ref.agentId, work.ref.conversationId);
    const next = (yield ctx.callEntity(key, 'complete', {
      ref: work.ref,
      holder: ctx.instanceId,
      turnId: work.turn.id,
      outcome,
    })) as CompleteResult;
    processed++;
    inThisExecution++;
    work = next.kind === 'work' ? next.work : undefined;
  }
  return { ...(input.kind === 'turn' && { turnId: input.turn.id }), role: 'lease', processed };
}
