/**
 * The reply activity: the agent sees the memory and the turn, the turn is recorded once (a repeat
 * answers from the transcript without calling the model), memory is summarized or trimmed at the
 * budget, failures are recorded as failed turns, a deleted conversation records nothing, and a streamed
 * turn writes its deltas and a final event.
 */
import { createAgentRunner } from '../../src/agents/runner';
import { AppError } from '../../src/errors';
import { memoryTokens, type MemoryModel } from '../../src/conversations/memory';
import { turnLogId } from '../../src/conversations/names';
import { GONE, outcomeOf, replyActivity, turnErrorOf, type ReplyDeps } from '../../src/conversations/reply';
import type { Memory, Outcome, ReplyInput, Turn } from '../../src/conversations/types';
import { LlmError } from '../../src/llm/errors';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';
import { MemoryConversationStore } from '../../src/store/memory-conversations';
import { MemoryRunStore } from '../../src/store/memory-runs';
import { ScriptedModel, type ScriptStep } from '../fixtures/scripted-model';

const echoReply: ScriptStep = (req) => req.messages.at(-1)!.content;

async function setup(
  script: ScriptStep[],
  options: { budget?: number; strategy?: 'summarize' | 'trim' } = {},
) {
  const model = new ScriptedModel(script);
  const store = new MemoryConversationStore();
  const events = new MemoryRunStore();
  const agents = createAgentRunner({
    store: new MemoryCatalogStore(),
    resolveModel: () => ({ model, modelName: 'offline-1', provider: 'offline' }),
    costOf: () => ({ currency: 'USD', input: 0, output: 0, total: 0 }),
  });
  const summaries: { previous?: string; folded: string[]; maxTokens: number }[] = [];
  const memory: MemoryModel = {
    budget: () => Promise.resolve(options.budget ?? 100_000),
    summarize: (_agent, previous, messages, maxTokens) => {
      summaries.push({ previous, folded: messages.map((m) => m.content), maxTokens });
      return Promise.resolve({
        summary: `summary of ${messages.length} messages`,
        usage: { prompt: 7, completion: 3, total: 10 },
        model: 'offline-1',
      });
    },
  };
  const logged: string[] = [];
  const deps: ReplyDeps = {
    store,
    agents,
    memory,
    strategy: options.strategy ?? 'summarize',
    events,
    deltaFlushMs: 0,
    log: (m) => logged.push(m),
  };
  const { conversation } = await store.open('c1', 'echo');
  const ref = { agentId: 'echo', conversationId: 'c1', epoch: conversation.epoch };
  return { model, store, events, deps, ref, summaries, logged };
}

let n = 0;
const turnOf = (content: string, extra: Partial<Turn> = {}): Turn => {
  const id = `t${++n}`;
  return {
    id,
    messages: [{ id: `${id}-u`, role: 'user', content }],
    replyId: `${id}-a`,
    at: '2026-01-01T00:00:00.000Z',
    ...extra,
  };
};

/** Runs turns one after the other as the actor would, carrying the memory between them. */
async function converse(ctx: Awaited<ReturnType<typeof setup>>, contents: string[]) {
  let memory: Memory = { messages: [] };
  const outcomes: Outcome[] = [];
  for (const content of contents) {
    const outcome = await replyActivity(ctx.deps, { ref: ctx.ref, turn: turnOf(content), memory });
    outcomes.push(outcome);
    if (outcome.status === 'completed') {
      if (outcome.compaction) {
        const through = outcome.compaction.through;
        memory = {
          ...(outcome.compaction.summary !== undefined && { summary: outcome.compaction.summary }),
          ...(outcome.compaction.strategy === 'trim' &&
            memory.summary !== undefined && { summary: memory.summary }),
          messages: memory.messages.filter((m) => m.seq > through),
        };
      }
      memory = { ...memory, messages: [...memory.messages, ...outcome.messages] };
    }
  }
  return { outcomes, memory };
}

it('runs the agent on the memory and the turn, records the turn and answers its messages with seqs', async () => {
  const ctx = await setup([echoReply, echoReply]);
  const { outcomes } = await converse(ctx, ['first question', 'second question']);
  expect(outcomes[1]).toMatchObject({
    status: 'completed',
    messages: [
      { role: 'user', content: 'second question', seq: 3 },
      { role: 'assistant', content: 'second question', seq: 4 },
    ],
  });
  // The second call saw the first turn as history.
  expect(ctx.model.requests[1]!.messages.slice(1).map((m) => [m.role, m.content])).toEqual([
    ['user', 'first question'],
    ['assistant', 'first question'],
    ['user', 'second question'],
  ]);
  const messages = await ctx.store.listMessages('c1');
  expect(messages.map((m) => m.content)).toEqual([
    'first question',
    'first question',
    'second question',
    'second question',
  ]);
  expect(await ctx.store.get('c1')).toMatchObject({ turns: 2, messages: 4 });
});

it('puts earlier messages of the request before the last one, which the agent answers', async () => {
  const ctx = await setup([echoReply]);
  const turn = turnOf('the question');
  turn.messages.unshift(
    { id: 'x1', role: 'user', content: 'context first' },
    { id: 'x2', role: 'assistant', content: 'ok' },
  );
  const outcome = await replyActivity(ctx.deps, { ref: ctx.ref, turn, memory: { messages: [] } });
  expect(outcome).toMatchObject({ status: 'completed' });
  expect(ctx.model.requests[0]!.messages.slice(1).map((m) => m.content)).toEqual([
    'context first',
    'ok',
    'the question',
  ]);
  expect((await ctx.store.listMessages('c1')).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
});

it('answers a repeat from the transcript: the model is not called again', async () => {
  const ctx = await setup([echoReply]);
  const input: ReplyInput = { ref: ctx.ref, turn: turnOf('once'), memory: { messages: [] } };
  const first = await replyActivity(ctx.deps, input);
  const again = await replyActivity(ctx.deps, input);
  expect(again).toEqual(first);
  expect(ctx.model.requests).toHaveLength(1);
  expect(outcomeOf((await ctx.store.getTurn('c1', input.turn.id))!, input.turn)).toEqual(first);
});

it('records a model failure as a failed turn with its code and status', async () => {
  const ctx = await setup([new LlmError('LLM.RATE_LIMITED', 'Slow down.', { httpStatus: 429 })]);
  const input: ReplyInput = { ref: ctx.ref, turn: turnOf('hello'), memory: { messages: [] } };
  const outcome = await replyActivity(ctx.deps, input);
  expect(outcome).toEqual({
    status: 'failed',
    error: { code: 'LLM.RATE_LIMITED', status: 429, message: 'Slow down.' },
  });
  expect(await ctx.store.getTurn('c1', input.turn.id)).toMatchObject({ status: 'failed', messageIds: [] });
  expect(await ctx.store.get('c1')).toMatchObject({ turns: 0, failedTurns: 1 });
});

it('records the failure it is given without running the agent', async () => {
  const ctx = await setup([]);
  const failure = { code: 'CONVERSATION.TURN_FAILED', status: 500, message: 'it broke' };
  const outcome = await replyActivity(ctx.deps, {
    ref: ctx.ref,
    turn: turnOf('hi'),
    memory: { messages: [] },
    failure,
  });
  expect(outcome).toEqual({ status: 'failed', error: failure });
});

it('turns an unexpected error into a logged INTERNAL 500', () => {
  const logged: string[] = [];
  expect(turnErrorOf(new TypeError('boom'), (m) => logged.push(m))).toEqual({
    code: 'INTERNAL',
    status: 500,
    message: expect.stringContaining('unexpectedly'),
  });
  expect(logged[0]).toMatch(/TypeError: boom/);
  expect(turnErrorOf(new AppError('X.Y', 'why', { status: 418 }))).toEqual({
    code: 'X.Y',
    status: 418,
    message: 'why',
  });
});

it('records nothing for a deleted (or made again) conversation', async () => {
  const ctx = await setup([]);
  await ctx.store.delete('c1');
  const turn = turnOf('late', { stream: true });
  expect(await replyActivity(ctx.deps, { ref: ctx.ref, turn, memory: { messages: [] } })).toEqual({
    status: 'gone',
  });
  expect((await ctx.events.read(turnLogId(turn.id))).map((e) => [e.type, e.data])).toEqual([
    ['run.failed', { error: GONE }],
  ]);
  await ctx.store.open('c1', 'echo');
  expect(
    await replyActivity(ctx.deps, { ref: ctx.ref, turn: turnOf('late'), memory: { messages: [] } }),
  ).toEqual({
    status: 'gone',
  });
});

describe('memory at the budget', () => {
  const contents = Array.from({ length: 8 }, (_, i) => `turn ${i}: ${'word '.repeat(10)}`);

  /** The first turn whose memory + input exceeds the budget (computed as the activity counts). */
  function firstOver(budget: number): number {
    let memory: Memory = { messages: [] };
    for (let i = 0; i < contents.length; i++) {
      const incoming = [{ id: 'x', role: 'user' as const, content: contents[i]! }];
      if (memoryTokens(memory, incoming) > budget) return i;
      const both = ['user', 'assistant'] as const;
      memory = {
        messages: [
          ...memory.messages,
          ...both.map((role, k) => ({ id: `${i}${k}`, role, content: contents[i]!, seq: 0, turnId: `${i}` })),
        ],
      };
    }
    return -1;
  }

  it('summarizes the oldest turns first at the turn that goes over, with the summary in the prompt', async () => {
    const budget = 120;
    const at = firstOver(budget);
    expect(at).toBeGreaterThan(0);
    const ctx = await setup(
      contents.map(() => echoReply),
      { budget },
    );
    const { outcomes } = await converse(ctx, contents);
    const compacted = outcomes.map((o) => o.status === 'completed' && o.compaction !== undefined);
    expect(compacted.indexOf(true)).toBe(at);
    const first = outcomes[at] as Extract<Outcome, { status: 'completed' }>;
    expect(first.compaction).toMatchObject({
      strategy: 'summarize',
      summary: expect.stringMatching(/^summary of \d+ messages$/),
    });
    expect(ctx.summaries[0]!.folded[0]).toBe(contents[0]);
    expect(ctx.summaries[0]!.maxTokens).toBe(32);
    // The summary usage counts in the turn's usage, and the summary reaches the model as context.
    expect(first.usage.total).toBeGreaterThan(10);
    expect(ctx.model.requests[at]!.messages.some((m) => m.content.includes(first.compaction!.summary!))).toBe(
      true,
    );
    expect((await ctx.store.get('c1'))!.memory).toEqual(
      (
        [...outcomes].reverse().find((o) => o.status === 'completed' && o.compaction) as {
          compaction: unknown;
        }
      ).compaction,
    );
  });

  it('trims instead with the trim strategy: no summary, the transcript keeps everything', async () => {
    const budget = 120;
    const at = firstOver(budget);
    const ctx = await setup(
      contents.map(() => echoReply),
      { budget, strategy: 'trim' },
    );
    const { outcomes, memory } = await converse(ctx, contents);
    const first = outcomes[at] as Extract<Outcome, { status: 'completed' }>;
    expect(first.compaction).toEqual({ strategy: 'trim', through: expect.any(Number) });
    expect(ctx.summaries).toEqual([]);
    expect(memory.summary).toBeUndefined();
    expect(memoryTokens(memory)).toBeLessThanOrEqual(budget);
    expect(await ctx.store.listMessages('c1')).toHaveLength(contents.length * 2);
  });
});

it('streams a turn: deltas with offsets, then the final event after the transcript has the turn', async () => {
  const ctx = await setup([echoReply]);
  const turn = turnOf('stream this reply please', { stream: true });
  const outcome = await replyActivity(ctx.deps, { ref: ctx.ref, turn, memory: { messages: [] } });
  expect(outcome.status).toBe('completed');
  const events = await ctx.events.read(turnLogId(turn.id));
  const deltas = events
    .filter((e) => e.type === 'turn.delta')
    .map((e) => e.data as { offset: number; delta: string });
  expect(deltas.map((d) => d.delta).join('')).toBe('stream this reply please');
  expect(deltas.map((d) => d.offset)).toEqual(
    deltas.map((_, i) => deltas.slice(0, i).reduce((n, d) => n + d.delta.length, 0)),
  );
  expect(events.at(-1)).toMatchObject({ type: 'run.completed', data: { turnId: turn.id } });
  // A repeat (after a crash) finds the log closed and the turn recorded: same outcome, no error.
  await expect(replyActivity(ctx.deps, { ref: ctx.ref, turn, memory: { messages: [] } })).resolves.toEqual(
    outcome,
  );
});

it('ends a failed streamed turn with run.failed and the error', async () => {
  const ctx = await setup([new LlmError('LLM.TIMEOUT', 'Too slow.')]);
  const turn = turnOf('hello', { stream: true });
  await replyActivity(ctx.deps, { ref: ctx.ref, turn, memory: { messages: [] } });
  const events = await ctx.events.read(turnLogId(turn.id));
  expect(events.at(-1)).toMatchObject({ type: 'run.failed', data: { error: { code: 'LLM.TIMEOUT' } } });
});
