/** The conversation actor (the `conversation` entity's operations): queue, lease, memory, epochs. */
import {
  applyOperation,
  compact,
  complete,
  destroy,
  enqueue,
  RECENT_TURNS,
  type ConversationState,
  type EnqueueResult,
} from '../../src/conversations/actor';
import type { ConversationRef, MemoryMessage, Outcome, Turn } from '../../src/conversations/types';

const NOW = '2026-01-01T00:00:00.000Z';
const ref: ConversationRef = {
  agentId: 'echo',
  conversationId: 'c1',
  epoch: '2026-01-01T00:00:00.000Z#aaaa',
};
const turn = (id: string): Turn => ({
  id,
  messages: [{ id: `${id}-u`, role: 'user', content: `question ${id}` }],
  replyId: `${id}-a`,
  at: NOW,
});
const done = (id: string, seq: number): Outcome => ({
  status: 'completed',
  messages: [
    { id: `${id}-u`, role: 'user', content: `question ${id}`, seq, turnId: id },
    { id: `${id}-a`, role: 'assistant', content: `answer ${id}`, seq: seq + 1, turnId: id },
  ],
  usage: { prompt: 1, completion: 1, total: 2 },
});

function enqueued(state: ConversationState | undefined, id: string, holder = id) {
  return enqueue(state, { ref, turn: turn(id), holder }, NOW);
}

describe('enqueue', () => {
  it('gives the lease and the work to the first turn, with the memory so far', () => {
    const { state, result } = enqueued(undefined, 't1');
    expect(result).toEqual({ kind: 'lease', work: { ref, turn: turn('t1'), memory: { messages: [] } } });
    expect(state).toMatchObject({ ref, holder: 't1', current: turn('t1'), queue: [] });
  });

  it('queues the turns that come while the lease is held, in order', () => {
    let s = enqueued(undefined, 't1').state;
    const results: EnqueueResult[] = [];
    for (const id of ['t2', 't3']) {
      const applied = enqueued(s, id);
      s = applied.state;
      results.push(applied.result);
    }
    expect(results).toEqual([
      { kind: 'queued', position: 1 },
      { kind: 'queued', position: 2 },
    ]);
    expect(s!.queue.map((t) => t.id)).toEqual(['t2', 't3']);
    expect(s!.holder).toBe('t1');
  });

  it('refuses a turn it already has, queued, running or finished', () => {
    let s = enqueued(undefined, 't1').state;
    s = enqueued(s, 't2').state;
    expect(enqueued(s, 't1').result).toEqual({ kind: 'duplicate' });
    expect(enqueued(s, 't2').result).toEqual({ kind: 'duplicate' });
    s = complete(s, { ref, holder: 't1', turnId: 't1', outcome: done('t1', 1) }, NOW).state;
    expect(enqueued(s, 't1').result).toEqual({ kind: 'duplicate' });
  });

  it('starts afresh for a newer epoch and refuses an older one', () => {
    let s = enqueued(undefined, 't1').state;
    s = complete(s, { ref, holder: 't1', turnId: 't1', outcome: done('t1', 1) }, NOW).state;
    const newer = { ...ref, epoch: '2026-01-02T00:00:00.000Z#bbbb' };
    const fresh = enqueue(s, { ref: newer, turn: turn('n1'), holder: 'n1' }, NOW);
    expect(fresh.result).toEqual({
      kind: 'lease',
      work: { ref: newer, turn: turn('n1'), memory: { messages: [] } },
    });
    expect(enqueue(fresh.state, { ref, turn: turn('old'), holder: 'old' }, NOW)).toEqual({
      state: fresh.state,
      result: { kind: 'stale' },
    });
  });

  it('does not change the state it is given', () => {
    const s = enqueued(undefined, 't1').state!;
    const before = structuredClone(s);
    enqueued(s, 't2');
    expect(s).toEqual(before);
  });
});

describe('complete', () => {
  it('appends the turn to the memory and hands the holder the next queued turn', () => {
    let s = enqueued(undefined, 't1').state;
    s = enqueued(s, 't2').state;
    const applied = complete(s, { ref, holder: 't1', turnId: 't1', outcome: done('t1', 1) }, NOW);
    expect(applied.result).toMatchObject({ kind: 'work', work: { turn: turn('t2') } });
    const memory = (applied.result as { work: { memory: { messages: MemoryMessage[] } } }).work.memory;
    expect(memory.messages.map((m) => m.id)).toEqual(['t1-u', 't1-a']);
    expect(applied.state).toMatchObject({ holder: 't1', current: turn('t2'), queue: [], turns: 1 });
  });

  it('gives the lease back when the queue is empty, so the next turn takes it', () => {
    let s = enqueued(undefined, 't1').state;
    const applied = complete(s, { ref, holder: 't1', turnId: 't1', outcome: done('t1', 1) }, NOW);
    expect(applied.result).toEqual({ kind: 'idle' });
    expect(applied.state!.holder).toBeUndefined();
    expect(applied.state!.current).toBeUndefined();
    s = applied.state;
    expect(enqueued(s, 't2').result).toMatchObject({ kind: 'lease' });
  });

  it('counts a failed turn and keeps it out of the memory', () => {
    const s = enqueued(undefined, 't1').state;
    const failed: Outcome = {
      status: 'failed',
      error: { code: 'LLM.TIMEOUT', status: 504, message: 'slow' },
    };
    const applied = complete(s, { ref, holder: 't1', turnId: 't1', outcome: failed }, NOW);
    expect(applied.state).toMatchObject({ failedTurns: 1, turns: 0, memory: { messages: [] } });
  });

  it('tells anyone but the holder of the running turn to stop, changing nothing', () => {
    let s = enqueued(undefined, 't1').state;
    s = enqueued(s, 't2').state;
    for (const input of [
      { ref, holder: 't2', turnId: 't1' },
      { ref, holder: 't1', turnId: 't2' },
      { ref: { ...ref, epoch: 'other' }, holder: 't1', turnId: 't1' },
    ]) {
      expect(complete(s, { ...input, outcome: done('t1', 1) }, NOW)).toEqual({
        state: s,
        result: { kind: 'stop' },
      });
    }
    expect(
      complete(undefined, { ref, holder: 't1', turnId: 't1', outcome: { status: 'gone' } }, NOW),
    ).toEqual({
      state: undefined,
      result: { kind: 'stop' },
    });
  });

  it('applies the compaction the turn made before adding its messages', () => {
    let s = enqueued(undefined, 't1').state;
    s = complete(s, { ref, holder: 't1', turnId: 't1', outcome: done('t1', 1) }, NOW).state;
    s = enqueued(s, 't2').state;
    const outcome: Outcome = {
      ...(done('t2', 3) as Extract<Outcome, { status: 'completed' }>),
      compaction: { strategy: 'summarize', summary: 'they met', through: 2 },
    };
    s = complete(s, { ref, holder: 't2', turnId: 't2', outcome }, NOW).state;
    expect(s!.memory.summary).toBe('they met');
    expect(s!.memory.messages.map((m) => m.seq)).toEqual([3, 4]);
  });

  it('remembers a bounded number of finished turns', () => {
    let s: ConversationState | undefined;
    for (let i = 0; i < RECENT_TURNS + 5; i++) {
      s = enqueued(s, `t${i}`).state;
      s = complete(s, { ref, holder: `t${i}`, turnId: `t${i}`, outcome: { status: 'gone' } }, NOW).state;
    }
    expect(s!.recent).toHaveLength(RECENT_TURNS);
    expect(s!.recent[0]).toBe('t5');
  });
});

describe('compact', () => {
  const memory = {
    summary: 'old',
    messages: [1, 2, 3, 4].map((seq) => ({
      id: `m${seq}`,
      role: 'user' as const,
      content: 'x',
      seq,
      turnId: 't',
    })),
  };
  it('summarize replaces the summary; trim keeps it; both drop messages up to `through`', () => {
    expect(compact(memory, { strategy: 'summarize', summary: 'new', through: 2 })).toEqual({
      summary: 'new',
      messages: memory.messages.slice(2),
    });
    expect(compact(memory, { strategy: 'trim', through: 3 })).toEqual({
      summary: 'old',
      messages: memory.messages.slice(3),
    });
    expect(compact({ messages: memory.messages }, { strategy: 'trim', through: 1 })).toEqual({
      messages: memory.messages.slice(1),
    });
  });
});

describe('delete and the operation dispatcher', () => {
  it('destroys the entity for its epoch or a newer one, never a newer conversation', () => {
    const s = enqueued(undefined, 't1').state;
    expect(destroy(s, { epoch: ref.epoch })).toEqual({ state: undefined, result: { deleted: true } });
    expect(destroy(s, { epoch: '2027' })).toEqual({ state: undefined, result: { deleted: true } });
    expect(destroy(s, { epoch: '2025' })).toEqual({ state: s, result: { deleted: false } });
    expect(destroy(undefined, { epoch: ref.epoch })).toEqual({
      state: undefined,
      result: { deleted: false },
    });
  });

  it('dispatches by name; `get` answers the state; an unknown name changes nothing', () => {
    const s = applyOperation(undefined, 'enqueue', { ref, turn: turn('t1'), holder: 't1' }, NOW).state;
    expect(applyOperation(s, 'get', undefined, NOW)).toEqual({ state: s, result: s });
    expect(applyOperation(undefined, 'get', undefined, NOW)).toEqual({ state: undefined, result: null });
    expect(applyOperation(s, 'explode', {}, NOW)).toEqual({
      state: s,
      result: { error: expect.stringContaining("Unknown operation 'explode'") },
    });
    expect(applyOperation(s, 'delete', { epoch: ref.epoch }, NOW).state).toBeUndefined();
    expect(
      applyOperation(s, 'complete', { ref, holder: 't1', turnId: 't1', outcome: { status: 'gone' } }, NOW)
        .result,
    ).toEqual({
      kind: 'idle',
    });
  });
});
