/**
 * The turn orchestration against a simulated task hub: many turn orchestrations of several
 * conversations, entity operations and activity completions delivered in a random (seeded) order, the
 * entity being the real actor. Required: per conversation, one reply activity at a time, every turn run
 * exactly once, in the entity's queue order, the holder continuing as new on the way.
 */
import { applyOperation, type ConversationState } from '../../src/conversations/actor';
import { CONVERSATION_REPLY_ACTIVITY, entityKey } from '../../src/conversations/names';
import {
  conversationTurn,
  REPLY_RETRY,
  TURNS_PER_EXECUTION,
  type TurnContext,
  type TurnTask,
} from '../../src/conversations/orchestrator';
import type {
  ConversationRef,
  MemoryMessage,
  Outcome,
  ReplyInput,
  Turn,
  TurnOrchestrationInput,
  TurnOrchestrationOutput,
} from '../../src/conversations/types';

type Call =
  | { kind: 'entity'; key: string; op: string; input: unknown }
  | { kind: 'activity'; name: string; input: ReplyInput; retry: unknown };

interface Orchestration {
  instanceId: string;
  gen: Generator<TurnTask, TurnOrchestrationOutput, unknown>;
  continued?: TurnOrchestrationInput;
  executions: number;
}

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class SimulatedHub {
  readonly entities = new Map<string, ConversationState | undefined>();
  readonly outputs = new Map<string, TurnOrchestrationOutput>();
  /** Per conversation key: the turn ids, in the order their reply activity started. */
  readonly started = new Map<string, string[]>();
  /** Per conversation key: the turn ids, in the order the entity queued them (enqueue answered). */
  readonly enqueued = new Map<string, string[]>();
  readonly continuedAsNew: string[] = [];
  readonly activityCalls: ReplyInput[] = [];
  private readonly pending: { orch: Orchestration; call: Call; phase: 0 | 1 }[] = [];
  private readonly inFlight = new Map<string, number>();
  private readonly seqs = new Map<string, number>();
  private readonly recorded = new Map<string, Outcome>();

  constructor(
    private readonly random: () => number,
    /** The reply activity; throw to fail it. */
    private readonly reply: (input: ReplyInput, hub: SimulatedHub) => Outcome = (input, hub) =>
      hub.echo(input),
  ) {}

  start(instanceId: string, input: TurnOrchestrationInput): void {
    const orch: Orchestration = { instanceId, gen: undefined!, executions: 0 };
    this.run(orch, input);
  }

  private run(orch: Orchestration, input: TurnOrchestrationInput): void {
    orch.executions++;
    orch.continued = undefined;
    const ctx: TurnContext = {
      instanceId: orch.instanceId,
      callEntity: (key, op, i) => ({ kind: 'entity', key, op, input: i }) as unknown as TurnTask,
      callActivity: (name, i, retry) =>
        ({ kind: 'activity', name, input: i as ReplyInput, retry }) as unknown as TurnTask,
      continueAsNew: (i) => {
        orch.continued = i;
      },
    };
    orch.gen = conversationTurn(ctx, input);
    this.step(orch, () => orch.gen.next());
  }

  private step(orch: Orchestration, advance: () => IteratorResult<TurnTask, TurnOrchestrationOutput>): void {
    const res = advance();
    if (!res.done) {
      this.pending.push({ orch, call: res.value as unknown as Call, phase: 0 });
      return;
    }
    if (orch.continued) {
      this.continuedAsNew.push(orch.instanceId);
      this.run(orch, orch.continued);
      return;
    }
    this.outputs.set(orch.instanceId, res.value);
  }

  /** What the transcript would record: the turn's messages with the next seqs (once per turn). */
  echo(input: ReplyInput): Outcome {
    const key = entityKey(input.ref.agentId, input.ref.conversationId);
    const known = this.recorded.get(input.turn.id);
    if (known) return known;
    let seq = this.seqs.get(key) ?? 0;
    const last = input.turn.messages.at(-1)!;
    const messages: MemoryMessage[] = [
      ...input.turn.messages.map((m) => ({ ...m, seq: ++seq, turnId: input.turn.id })),
      { id: input.turn.replyId, role: 'assistant', content: last.content, seq: ++seq, turnId: input.turn.id },
    ];
    this.seqs.set(key, seq);
    const outcome: Outcome = { status: 'completed', messages, usage: { prompt: 1, completion: 1, total: 2 } };
    this.recorded.set(input.turn.id, outcome);
    return outcome;
  }

  /** Delivers pending calls in random order until nothing is left. */
  drain(): void {
    while (this.pending.length) {
      const i = Math.floor(this.random() * this.pending.length);
      const item = this.pending.splice(i, 1)[0]!;
      const { orch, call } = item;
      if (call.kind === 'entity') {
        const applied = applyOperation(
          this.entities.get(call.key),
          call.op,
          call.input,
          '2026-01-01T00:00:00Z',
        );
        this.entities.set(call.key, applied.state);
        if (call.op === 'enqueue') {
          const list = this.enqueued.get(call.key) ?? [];
          const r = applied.result as { kind: string };
          if (r.kind === 'lease' || r.kind === 'queued') list.push((call.input as { turn: Turn }).turn.id);
          this.enqueued.set(call.key, list);
        }
        this.step(orch, () => orch.gen.next(applied.result));
        continue;
      }
      expect(call.name).toBe(CONVERSATION_REPLY_ACTIVITY);
      expect(call.retry).toEqual(REPLY_RETRY);
      const key = entityKey(call.input.ref.agentId, call.input.ref.conversationId);
      if (item.phase === 0) {
        // The activity starts now and ends when picked again: others may run meanwhile.
        const running = (this.inFlight.get(key) ?? 0) + 1;
        expect(running).toBe(1);
        this.inFlight.set(key, running);
        if (!call.input.failure)
          this.started.set(key, [...(this.started.get(key) ?? []), call.input.turn.id]);
        this.pending.push({ ...item, phase: 1 });
        continue;
      }
      this.inFlight.set(key, (this.inFlight.get(key) ?? 1) - 1);
      this.activityCalls.push(call.input);
      let outcome: Outcome;
      try {
        outcome = this.reply(call.input, this);
      } catch (err) {
        this.step(orch, () => orch.gen.throw(err));
        continue;
      }
      this.step(orch, () => orch.gen.next(outcome));
    }
  }
}

const refOf = (conversationId: string): ConversationRef => ({
  agentId: 'echo',
  conversationId,
  epoch: '2026-01-01T00:00:00.000Z#0000',
});
const turnOf = (id: string): Turn => ({
  id,
  messages: [{ id: `${id}-u`, role: 'user', content: `content of ${id}` }],
  replyId: `${id}-a`,
  at: '2026-01-01T00:00:00.000Z',
});

describe.each([1, 2, 3, 4, 5])('turn orchestrations under a random delivery order (seed %i)', (seed) => {
  it('run each conversation one turn at a time, every turn once, in queue order', () => {
    const hub = new SimulatedHub(rng(seed));
    const conversations = ['a', 'b', 'c'];
    const perConversation = 40;
    for (let i = 0; i < perConversation; i++) {
      for (const c of conversations)
        hub.start(`${c}-${i}`, { kind: 'turn', ref: refOf(c), turn: turnOf(`${c}-${i}`) });
      if (i % 7 === 0) hub.drain(); // some turns arrive after the queue ran dry: the lease is taken again
    }
    hub.drain();
    for (const c of conversations) {
      const key = entityKey('echo', c);
      const started = hub.started.get(key)!;
      expect(started).toEqual(hub.enqueued.get(key));
      expect(new Set(started).size).toBe(perConversation);
      const state = hub.entities.get(key)!;
      expect(state.holder).toBeUndefined();
      expect(state.queue).toEqual([]);
      expect(state.turns).toBe(perConversation);
      expect(state.memory.messages.map((m) => m.seq)).toEqual(
        Array.from({ length: 2 * perConversation }, (_, i) => i + 1),
      );
      // The memory pairs each question with its own answer, in the order the turns ran.
      const contents = state.memory.messages.map((m) => m.content);
      expect(contents).toEqual(started.flatMap((id) => [`content of ${id}`, `content of ${id}`]));
    }
    const outputs = [...hub.outputs.values()];
    expect(outputs.reduce((n, o) => n + o.processed, 0)).toBe(conversations.length * perConversation);
    expect(outputs.every((o) => o.role === 'lease' || o.role === 'queued')).toBe(true);
  });
});

it('continues as new every TURNS_PER_EXECUTION turns, keeping the lease and the work in hand', () => {
  const hub = new SimulatedHub(rng(42));
  const count = TURNS_PER_EXECUTION * 2 + 3;
  // All queued before the first reply runs: the first turn's orchestration runs them all.
  hub.start('t-0', { kind: 'turn', ref: refOf('c'), turn: turnOf('t-0') });
  for (let i = 1; i < count; i++)
    hub.start(`t-${i}`, { kind: 'turn', ref: refOf('c'), turn: turnOf(`t-${i}`) });
  hub.drain();
  const holders = [...hub.outputs.entries()].filter(([, o]) => o.role === 'lease');
  const processed = holders.reduce((n, [, o]) => n + o.processed, 0);
  expect(processed).toBe(count);
  expect(hub.continuedAsNew.length).toBeGreaterThanOrEqual(1);
  expect(hub.entities.get(entityKey('echo', 'c'))!.turns).toBe(count);
});

it('records a reply activity that fails for good as a failed turn, and the queue moves on', () => {
  const hub = new SimulatedHub(rng(7), (input, h) => {
    if (input.turn.id === 't-1') {
      if (input.failure) return { status: 'failed', error: input.failure };
      throw new Error('the store is down');
    }
    if (input.turn.id === 't-2') throw new Error('still down');
    return h.echo(input);
  });
  for (let i = 0; i < 4; i++) hub.start(`t-${i}`, { kind: 'turn', ref: refOf('c'), turn: turnOf(`t-${i}`) });
  hub.drain();
  const state = hub.entities.get(entityKey('echo', 'c'))!;
  expect(state).toMatchObject({ turns: 2, failedTurns: 2, queue: [] });
  expect(state.holder).toBeUndefined();
  const failure = hub.activityCalls.find((c) => c.turn.id === 't-1' && c.failure);
  expect(failure!.failure).toEqual({
    code: 'CONVERSATION.TURN_FAILED',
    status: 500,
    message: 'the store is down',
  });
  // Both calls for t-2 failed: it still counts as a failed turn.
  expect(hub.activityCalls.filter((c) => c.turn.id === 't-2')).toHaveLength(2);
});

it('stops running the queue when the conversation was deleted under it', () => {
  const hub = new SimulatedHub(rng(3), (input, h) => {
    // The conversation is deleted while the first reply runs.
    if (input.turn.id === 't-0') {
      h.entities.set(
        entityKey('echo', 'c'),
        applyOperation(h.entities.get(entityKey('echo', 'c')), 'delete', { epoch: input.ref.epoch }, 'now')
          .state,
      );
    }
    return { status: 'gone' };
  });
  hub.start('t-0', { kind: 'turn', ref: refOf('c'), turn: turnOf('t-0') });
  hub.drain();
  expect(hub.outputs.get('t-0')).toEqual({ turnId: 't-0', role: 'lease', processed: 1 });
  expect(hub.entities.get(entityKey('echo', 'c'))).toBeUndefined();
});
