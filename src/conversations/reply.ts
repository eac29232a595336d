/**
 * The reply activity's work (behind `conversation_reply`), free of host types so it is tested directly:
 * compact the working memory when it outgrows the budget (summary by the agent's model, or trim), run
 * the agent on the memory and the turn, record the turn in the transcript, and report the outcome to
 * the actor. A streamed turn also writes its deltas and a final event to the turn's event log.
 *
 * Activities run at least once. The transcript records a turn once (first write wins), and a run that
 * finds its turn recorded answers with that record instead of calling the model again, so the actor and
 * the transcript always agree on the reply. Model and agent failures are outcomes (a failed turn,
 * recorded with its error); only a failing store throws, and the orchestration retries the activity.
 */
import type { AgentRunResult, AgentService, AgentTask } from '../agents/types';
import { AppError } from '../errors';
import type { TokenUsage } from '../llm/types';
import {
  addUsage,
  zeroUsage,
  type ConversationStore,
  type MemoryCompaction,
  type MemoryStrategy,
  type TurnError,
  type TurnRecord,
} from '../store/conversations';
import type { EventLog } from '../store/runs';
import { compact } from './actor';
import { planCompaction, summaryTokens, type MemoryModel } from './memory';
import { turnLogId } from './names';
import type { Memory, MemoryMessage, Outcome, ReplyInput, Turn } from './types';

export interface ReplyDeps {
  store: ConversationStore;
  agents: AgentService;
  memory: MemoryModel;
  strategy: MemoryStrategy;
  /** Where streamed turns write their deltas (the run store's event log). */
  events?: EventLog;
  /** Deltas are coalesced into one event per this many ms. */
  deltaFlushMs: number;
  /** Where failures the client sees only as a code go (the invocation log). */
  log?: (message: string) => void;
}

/** Event types of a turn's log; the terminal ones are the event log's own (they close the log). */
export const TURN_DELTA = 'turn.delta';
export const TURN_COMPLETED = 'run.completed';
export const TURN_FAILED = 'run.failed';

export const GONE: TurnError = {
  code: 'CONVERSATION.DELETED',
  status: 409,
  message: 'The conversation was deleted while the turn waited: nothing was recorded.',
};

/** A failure as a turn error: our own errors keep code and status, anything else is a logged 500. */
export function turnErrorOf(err: unknown, log?: (message: string) => void): TurnError {
  if (err instanceof AppError) return { code: err.code, status: err.status, message: err.message };
  const e = err instanceof Error ? err : new Error(String(err));
  log?.(`Conversation turn failed: ${e.stack ?? e.message}`);
  return { code: 'INTERNAL', status: 500, message: 'The turn failed unexpectedly. It has been logged.' };
}

/** The outcome a stored turn stands for (the messages get their seqs back: they are consecutive). */
export function outcomeOf(record: TurnRecord, turn: Turn): Outcome {
  if (record.status === 'failed') {
    return { status: 'failed', error: record.error ?? turnErrorOf(new Error('unknown failure')) };
  }
  const first = (record.reply?.seq ?? record.messageIds.length) - record.messageIds.length + 1;
  const messages: MemoryMessage[] = record.messageIds.map((id, i) => {
    const input = turn.messages[i];
    const content = input?.content ?? record.reply?.content ?? '';
    return { id, role: input?.role ?? 'assistant', content, seq: first + i, turnId: turn.id };
  });
  return {
    status: 'completed',
    messages,
    usage: record.usage,
    ...(record.memory && { compaction: record.memory }),
  };
}

async function appendTerminal(deps: ReplyDeps, turn: Turn, type: string, data: unknown): Promise<void> {
  if (!turn.stream || !deps.events) return;
  try {
    await deps.events.append(turnLogId(turn.id), { type, data });
  } catch (err) {
    // A repeated activity finds the log closed already: the client got its end.
    if (!(err instanceof AppError && err.code === 'RUN.EVENTS_CLOSED')) throw err;
  }
}

/** Runs the agent, streaming coalesced deltas to the turn's event log; the result as `execute` gives it. */
async function streamReply(
  deps: ReplyDeps,
  events: EventLog,
  turn: Turn,
  task: AgentTask,
): Promise<AgentRunResult> {
  const log = turnLogId(turn.id);
  let pending = '';
  let offset = 0;
  let last = Date.now();
  let writes: Promise<unknown> = Promise.resolve();
  const flush = (): void => {
    if (!pending) return;
    const data = { offset, delta: pending };
    offset += pending.length;
    pending = '';
    last = Date.now();
    // In order; a failed append is not fatal to the turn (the final event and the transcript are).
    writes = writes.then(() => events.append(log, { type: TURN_DELTA, data })).catch(() => undefined);
  };
  const stream = deps.agents.stream(task);
  for (;;) {
    const next = await stream.next();
    if (next.done) {
      flush();
      await writes;
      return next.value;
    }
    pending += next.value;
    if (Date.now() - last >= deps.deltaFlushMs) flush();
  }
}

interface Reply {
  output: string;
  model: string;
  usage: TokenUsage;
  compaction?: MemoryCompaction;
}

/** Memory compaction and the agent call. Throws what the model or agent throws. */
async function reply(deps: ReplyDeps, input: ReplyInput): Promise<Reply> {
  const { ref, turn } = input;
  let memory: Memory = input.memory;
  let usage = zeroUsage();
  let compaction: MemoryCompaction | undefined;
  const budget = await deps.memory.budget(ref.agentId);
  const plan = planCompaction(memory, turn.messages, budget);
  if (plan) {
    if (deps.strategy === 'summarize') {
      const made = await deps.memory.summarize(ref.agentId, memory.summary, plan.fold, summaryTokens(budget));
      usage = addUsage(usage, made.usage);
      compaction = { strategy: 'summarize', summary: made.summary, through: plan.through };
    } else {
      compaction = { strategy: 'trim', through: plan.through };
    }
    memory = compact(memory, compaction);
  }
  const last = turn.messages[turn.messages.length - 1]!;
  const task: AgentTask = {
    agent: ref.agentId,
    prompt: last.content,
    history: [...memory.messages, ...turn.messages.slice(0, -1)].map((m) => ({
      role: m.role,
      content: m.content,
    })),
    ...(memory.summary && { context: { conversation_summary: memory.summary } }),
  };
  const result =
    turn.stream && deps.events
      ? await streamReply(deps, deps.events, turn, task)
      : await deps.agents.execute(task);
  return {
    output: result.output,
    model: result.model,
    usage: addUsage(usage, result.tokenUsage),
    ...(compaction && { compaction }),
  };
}

/** The work of the reply activity; see the file comment. */
export async function replyActivity(deps: ReplyDeps, input: ReplyInput): Promise<Outcome> {
  const { ref, turn } = input;
  const known = await deps.store.getTurn(ref.conversationId, turn.id);
  const conversation = known ? undefined : await deps.store.get(ref.conversationId);
  if (!known && (!conversation || conversation.epoch !== ref.epoch)) {
    await appendTerminal(deps, turn, TURN_FAILED, { error: GONE });
    return { status: 'gone' };
  }
  let record = known;
  if (!record) {
    const common = {
      turnId: turn.id,
      input: turn.messages,
      ...(turn.sender !== undefined && { sender: turn.sender }),
      ...(turn.deliveryId !== undefined && { deliveryId: turn.deliveryId }),
    };
    let made: Reply | undefined;
    let error = input.failure;
    if (!error) {
      try {
        made = await reply(deps, input);
      } catch (err) {
        error = turnErrorOf(err, deps.log);
      }
    }
    record = await deps.store.recordTurn(
      ref.conversationId,
      ref.epoch,
      made
        ? {
            ...common,
            status: 'completed',
            reply: { id: turn.replyId, content: made.output },
            usage: made.usage,
            model: made.model,
            ...(made.compaction && { memory: made.compaction }),
          }
        : { ...common, status: 'failed', error: error! },
    );
    if (!record) {
      await appendTerminal(deps, turn, TURN_FAILED, { error: GONE });
      return { status: 'gone' };
    }
  }
  if (record.status === 'completed') await appendTerminal(deps, turn, TURN_COMPLETED, { turnId: turn.id });
  else await appendTerminal(deps, turn, TURN_FAILED, { error: record.error });
  return outcomeOf(record, turn);
}
