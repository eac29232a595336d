/**
 * The conversation actor: what the durable entity `conversation` does with each operation. Pure and
 * synchronous (no clock reads beyond the `now` handed in, no I/O), so it is tested directly and the
 * entity stays fast: model calls happen in the reply activity, never here.
 *
 * The entity is the serialisation point. It queues turns and hands out one lease: the orchestration of
 * the first turn that finds no holder becomes the holder and runs the queue, one turn at a time, until
 * it is empty. Entity operations run one at a time, so "take the lease" and "give it back because the
 * queue is empty" can never interleave with an enqueue: a turn is either run by the current holder or
 * makes its own orchestration the next holder. None waits for a holder that is not coming.
 *
 * Operations:
 * - `enqueue {ref, turn, holder}` → `lease` (with the work to run), `queued`, `duplicate` or `stale`;
 * - `complete {ref, holder, turnId, outcome}` → the next `work`, `idle` (lease given back) or `stop`
 *   (not the holder any more: the conversation was deleted or made again);
 * - `delete {epoch}` → the entity is destroyed if it holds that epoch or an older one;
 * - `get` → the state.
 */
import type { MemoryCompaction } from '../store/conversations';
import type { ConversationRef, Memory, Outcome, Turn, Work } from './types';

/** Finished turn ids remembered to refuse a repeat. */
export const RECENT_TURNS = 256;

export interface ConversationState {
  ref: ConversationRef;
  memory: Memory;
  /** Turns waiting, in arrival order at the entity. */
  queue: Turn[];
  /** The turn the holder is running. */
  current?: Turn;
  /** Instance id of the orchestration holding the lease. */
  holder?: string;
  /** Ids of the latest finished turns. */
  recent: string[];
  turns: number;
  failedTurns: number;
  updatedAt: string;
}

export interface EnqueueInput {
  ref: ConversationRef;
  turn: Turn;
  holder: string;
}

export type EnqueueResult =
  | { kind: 'lease'; work: Work }
  | { kind: 'queued'; position: number }
  | { kind: 'duplicate' }
  | { kind: 'stale' };

export interface CompleteInput {
  ref: ConversationRef;
  holder: string;
  turnId: string;
  outcome: Outcome;
}

export type CompleteResult = { kind: 'work'; work: Work } | { kind: 'idle' } | { kind: 'stop' };

export interface DeleteInput {
  epoch: string;
}

/** What an operation leaves: the new state (undefined: destroy the entity) and what it answers. */
export interface Applied<R> {
  state: ConversationState | undefined;
  result: R;
}

export function newState(ref: ConversationRef, now: string): ConversationState {
  return {
    ref: { ...ref },
    memory: { messages: [] },
    queue: [],
    recent: [],
    turns: 0,
    failedTurns: 0,
    updatedAt: now,
  };
}

const workOf = (state: ConversationState, turn: Turn): Work => ({
  ref: { ...state.ref },
  turn,
  memory: structuredClone(state.memory),
});

export function enqueue(
  state: ConversationState | undefined,
  input: EnqueueInput,
  now: string,
): Applied<EnqueueResult> {
  // A newer epoch: the conversation was deleted and made again, whatever this entity still held is over.
  let s = !state || state.ref.epoch < input.ref.epoch ? newState(input.ref, now) : structuredClone(state);
  if (s.ref.epoch > input.ref.epoch) return { state, result: { kind: 'stale' } };
  const id = input.turn.id;
  if (s.current?.id === id || s.queue.some((t) => t.id === id) || s.recent.includes(id)) {
    return { state, result: { kind: 'duplicate' } };
  }
  s = { ...s, updatedAt: now };
  if (s.holder === undefined) {
    s.holder = input.holder;
    s.current = input.turn;
    return { state: s, result: { kind: 'lease', work: workOf(s, input.turn) } };
  }
  s.queue.push(input.turn);
  return { state: s, result: { kind: 'queued', position: s.queue.length } };
}

/** The memory after a compaction: messages up to `through` leave it; a summary replaces the old one. */
export function compact(memory: Memory, compaction: MemoryCompaction): Memory {
  const messages = memory.messages.filter((m) => m.seq > compaction.through);
  const summary = compaction.strategy === 'summarize' ? compaction.summary : memory.summary;
  return summary === undefined ? { messages } : { summary, messages };
}

export function complete(
  state: ConversationState | undefined,
  input: CompleteInput,
  now: string,
): Applied<CompleteResult> {
  if (
    !state ||
    state.ref.epoch !== input.ref.epoch ||
    state.holder !== input.holder ||
    state.current?.id !== input.turnId
  ) {
    return { state, result: { kind: 'stop' } };
  }
  const s = structuredClone(state);
  const { outcome } = input;
  if (outcome.status === 'completed') {
    if (outcome.compaction) s.memory = compact(s.memory, outcome.compaction);
    s.memory.messages.push(...outcome.messages);
    s.turns++;
  } else if (outcome.status === 'failed') {
    s.failedTurns++;
  }
  s.recent = [...s.recent, input.turnId].slice(-RECENT_TURNS);
  s.updatedAt = now;
  const next = s.queue.shift();
  if (!next) {
    delete s.current;
    delete s.holder;
    return { state: s, result: { kind: 'idle' } };
  }
  s.current = next;
  return { state: s, result: { kind: 'work', work: workOf(s, next) } };
}

export function destroy(
  state: ConversationState | undefined,
  input: DeleteInput,
): Applied<{ deleted: boolean }> {
  if (!state) return { state, result: { deleted: false } };
  if (state.ref.epoch > input.epoch) return { state, result: { deleted: false } };
  return { state: undefined, result: { deleted: true } };
}

export const OPERATIONS = ['enqueue', 'complete', 'delete', 'get'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** Dispatches an operation by name (the entity function's body). Unknown names change nothing. */
export function applyOperation(
  state: ConversationState | undefined,
  operation: string,
  input: unknown,
  now: string,
): Applied<unknown> {
  switch (operation) {
    case 'enqueue':
      return enqueue(state, input as EnqueueInput, now);
    case 'complete':
      return complete(state, input as CompleteInput, now);
    case 'delete':
      return destroy(state, input as DeleteInput);
    case 'get':
      return { state, result: state ?? null };
    default:
      return {
        state,
        result: { error: `Unknown operation '${operation}' (known: ${OPERATIONS.join(', ')}).` },
      };
  }
}
