/**
 * The workflow activities' work (src/workflows/activities.ts) over the memory run store: stored texts
 * resolved into template variables, the agent run (execute, or streamed with coalesced `step.delta`
 * events), the stored output and its reference, and the record batches.
 */
import { spawnSync } from 'node:child_process';
import { createAgentRunner } from '../../src/agents/runner';
import type { AgentRunResult, AgentService, AgentTask, Cost } from '../../src/agents/types';
import type { TokenUsage } from '../../src/llm/types';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';
import { MemoryRunStore } from '../../src/store/memory-runs';
import { outputRefFor } from '../../src/store/payloads';
import type { RunRecord } from '../../src/store/runs';
import {
  recordActivity,
  resolveStoredTexts,
  runAgentActivity,
  type WorkflowActivityDeps,
} from '../../src/workflows/activities';
import type { AgentActivityInput, RecordInput } from '../../src/workflows/engine-port';
import { ScriptedModel } from '../fixtures/scripted-model';

const RUN = 'run-1';

function result(agent: string, output: string, more: Partial<AgentRunResult> = {}): AgentRunResult {
  return {
    agentType: agent,
    output,
    tokenUsage: { prompt: 10, completion: 4, total: 14 },
    model: 'offline-1',
    provider: 'offline',
    durationMs: 2,
    metadata: {},
    timestamp: '2025-01-01T00:00:00.000Z',
    cost: { currency: 'USD', input: 0.001, output: 0.002, total: 0.003 },
    ...more,
  };
}

/**
 * An AgentService that answers `output` (streamed as `chunks`, or its chunks joined), recording the
 * tasks; `onChunk(i)` runs before chunk i is yielded (tests move the clock there).
 */
function fakeAgents(
  opts: {
    chunks?: string[];
    output?: string;
    more?: Partial<AgentRunResult>;
    fail?: Error;
    failStreamAt?: number;
    onChunk?: (i: number) => void;
  } = {},
) {
  const chunks = opts.chunks ?? ['Hello', ', ', 'world'];
  const output = opts.output ?? chunks.join('');
  const tasks: AgentTask[] = [];
  const calls = { execute: 0, stream: 0 };
  const service: AgentService = {
    resolve: async () => undefined,
    list: async () => [],
    execute: async (task) => {
      calls.execute++;
      tasks.push(task);
      if (opts.fail) throw opts.fail;
      return result(task.agent, output, opts.more);
    },
    async *stream(task) {
      calls.stream++;
      tasks.push(task);
      for (const [i, c] of chunks.entries()) {
        if (opts.failStreamAt === i) throw opts.fail ?? new Error('stream broke');
        opts.onChunk?.(i);
        await Promise.resolve();
        yield c;
      }
      return result(task.agent, output, opts.more);
    },
  };
  return { service, tasks, calls };
}

function setup(agents: AgentService, deltaFlushMs = 0, now?: () => Date) {
  const store = new MemoryRunStore();
  const deps: WorkflowActivityDeps = {
    agents,
    runs: store,
    events: store,
    deltaFlushMs,
    ...(now && { now }),
  };
  return { store, deps };
}

const input = (more: Partial<AgentActivityInput> = {}): AgentActivityInput => ({
  runId: RUN,
  stepId: 'design',
  call: 'design',
  agent: 'architect',
  prompt: 'Design {{ input.topic }}.',
  vars: { input: { topic: 'a todo API' }, steps: {} },
  attempt: 1,
  ...more,
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('resolveStoredTexts', () => {
  test('replaces every stored text, at any depth, by its texts joined by the separator', async () => {
    const store = new MemoryRunStore();
    const a = await store.putOutput(RUN, 's', 'alpha');
    const b = await store.putOutput(RUN, 's', 'beta');
    const value = {
      input: { topic: 'x', n: 3, ok: true, none: null },
      steps: { design: { output: { $text: [a] } } },
      results: [{ $text: [a, b], separator: '\n---\n' }, 'plain', 7],
      joined: { $text: [b, a] },
      empty: { $text: [] },
    };
    const before = structuredClone(value);
    expect(await resolveStoredTexts(value, store)).toEqual({
      input: { topic: 'x', n: 3, ok: true, none: null },
      steps: { design: { output: 'alpha' } },
      results: ['alpha\n---\nbeta', 'plain', 7],
      joined: 'betaalpha',
      empty: '',
    });
    expect(value).toEqual(before);
  });

  test('passes primitives and objects without stored texts through', async () => {
    const store = new MemoryRunStore();
    expect(await resolveStoredTexts('text', store)).toBe('text');
    expect(await resolveStoredTexts(null, store)).toBeNull();
    expect(await resolveStoredTexts(undefined, store)).toBeUndefined();
    expect(await resolveStoredTexts([1, [2, { a: 'b' }]], store)).toEqual([1, [2, { a: 'b' }]]);
    // `$text` that is not a list is no stored text.
    expect(await resolveStoredTexts({ $text: 'no' }, store)).toEqual({ $text: 'no' });
  });

  test('reads each ref once per call however often it appears', async () => {
    const store = new MemoryRunStore();
    const a = await store.putOutput(RUN, 's', 'alpha');
    const b = await store.putOutput(RUN, 's', 'beta');
    const read = jest.spyOn(store, 'getOutput');
    const out = await resolveStoredTexts(
      { x: { $text: [a, a] }, y: [{ $text: [a, b] }, { $text: [b] }] },
      store,
    );
    expect(out).toEqual({ x: 'alphaalpha', y: ['alphabeta', 'beta'] });
    expect(read).toHaveBeenCalledTimes(2);
    await resolveStoredTexts({ $text: [a] }, store);
    expect(read).toHaveBeenCalledTimes(3);
  });

  test('a ref to nothing stored is RUN.OUTPUT_NOT_FOUND', async () => {
    const store = new MemoryRunStore();
    const gone = outputRefFor(RUN, 'never stored');
    await expect(resolveStoredTexts({ v: { $text: [gone] } }, store)).rejects.toMatchObject({
      code: 'RUN.OUTPUT_NOT_FOUND',
      status: 404,
    });
  });
});

describe('runAgentActivity without deltas (deltaFlushMs 0)', () => {
  test('renders prompt and context with stored texts resolved, executes, stores the output', async () => {
    const agents = fakeAgents({ output: '# The design\n\nServices and   queues.' });
    const { store, deps } = setup(agents.service);
    const prior = await store.putOutput(RUN, 'research', 'prior findings');
    const res = await runAgentActivity(
      deps,
      input({
        prompt: 'Design {{ input.topic }} using {{ steps.research.output }}.',
        context: { background: 'Known: {{ steps.research.output }}', topic: '{{ input.topic | upper }}' },
        vars: {
          input: { topic: 'a todo API' },
          steps: { research: { output: { $text: [prior] } } },
        },
      }),
    );
    expect(agents.calls).toEqual({ execute: 1, stream: 0 });
    expect(agents.tasks).toEqual([
      {
        agent: 'architect',
        prompt: 'Design a todo API using prior findings.',
        context: { background: 'Known: prior findings', topic: 'A TODO API' },
      },
    ]);
    const text = '# The design\n\nServices and   queues.';
    expect(res).toEqual({
      outputRef: outputRefFor(RUN, text),
      summary: '# The design Services and queues.',
      tokens: { prompt: 10, completion: 4, total: 14 },
      cost: { total: 0.003 },
      model: 'offline-1',
    });
    expect(await store.getOutput(res.outputRef)).toBe(text);
    expect(await store.read(RUN)).toEqual([]);
  });

  test('a task without context has no context key; parsed output is passed on', async () => {
    const agents = fakeAgents({ output: '{"score":90}', more: { parsed: { score: 90 } } });
    const { deps } = setup(agents.service);
    const res = await runAgentActivity(deps, input());
    expect(agents.tasks[0]).toEqual({ agent: 'architect', prompt: 'Design a todo API.' });
    expect(res.parsed).toEqual({ score: 90 });
    expect('keywordFound' in res).toBe(false);
  });

  test('parsed is absent when the agent gives none (a falsy parsed value is kept)', async () => {
    const none = await runAgentActivity(setup(fakeAgents().service).deps, input());
    expect('parsed' in none).toBe(false);
    const falsy = await runAgentActivity(setup(fakeAgents({ more: { parsed: 0 } }).service).deps, input());
    expect(falsy.parsed).toBe(0);
  });

  test('detectKeyword: keywordFound says, case-insensitively, whether the output contains it', async () => {
    const yes = await runAgentActivity(
      setup(fakeAgents({ output: 'Looks good: Approved.' }).service).deps,
      input({ detectKeyword: 'APPROVED' }),
    );
    expect(yes.keywordFound).toBe(true);
    const no = await runAgentActivity(
      setup(fakeAgents({ output: 'Needs more work.' }).service).deps,
      input({ detectKeyword: 'APPROVED' }),
    );
    expect(no.keywordFound).toBe(false);
  });

  test('running the same call twice gives the same reference and one stored copy', async () => {
    const { store, deps } = setup(fakeAgents({ output: 'same text' }).service);
    const first = await runAgentActivity(deps, input());
    const second = await runAgentActivity(deps, input());
    expect(second.outputRef).toEqual(first.outputRef);
    expect(await store.getOutput(first.outputRef)).toBe('same text');
  });

  test('a missing prompt variable fails naming the step and call; the agent is not called', async () => {
    const agents = fakeAgents();
    const { store, deps } = setup(agents.service);
    const put = jest.spyOn(store, 'putOutput');
    const err = await runAgentActivity(
      deps,
      input({ call: 'analysis/branch-2', prompt: 'Use {{ steps.nope.output }}' }),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AGENT.TEMPLATE_VARIABLE_MISSING' });
    expect((err as Error).message).toMatch(/^prompt of step 'design' \(analysis\/branch-2\): variable/);
    expect(agents.calls).toEqual({ execute: 0, stream: 0 });
    expect(put).not.toHaveBeenCalled();
  });

  test('a missing context variable names the context key', async () => {
    const agents = fakeAgents();
    const err = await runAgentActivity(
      setup(agents.service).deps,
      input({ context: { scale: '{{ input.scale }}' } }),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AGENT.TEMPLATE_VARIABLE_MISSING' });
    expect((err as Error).message).toMatch(
      /^context\.scale of step 'design' \(design\): variable 'input\.scale'/,
    );
    expect(agents.calls.execute).toBe(0);
  });

  test("the agent's failure is the activity's failure, and nothing is stored", async () => {
    const boom = new Error('model down');
    const { store, deps } = setup(fakeAgents({ fail: boom }).service);
    const put = jest.spyOn(store, 'putOutput');
    await expect(runAgentActivity(deps, input())).rejects.toBe(boom);
    expect(put).not.toHaveBeenCalled();
  });
});

describe('runAgentActivity with deltas (streaming)', () => {
  test('chunks within one flush interval make one step.delta, written before the activity returns', async () => {
    const agents = fakeAgents({ chunks: ['Hel', 'lo ', 'world'] });
    const { store, deps } = setup(agents.service, 60_000);
    const res = await runAgentActivity(deps, input({ call: 'design/turn-1' }));
    expect(agents.calls).toEqual({ execute: 0, stream: 1 });
    const events = await store.read(RUN);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id: 1, runId: RUN, type: 'step.delta', stepId: 'design' });
    expect(events[0]!.data).toEqual({ call: 'design/turn-1', offset: 0, delta: 'Hello world' });
    expect(await store.getOutput(res.outputRef)).toBe('Hello world');
  });

  test('a chunk arriving once the interval has passed flushes everything pending, in order, with its offset', async () => {
    let clock = 1_000;
    jest.spyOn(Date, 'now').mockImplementation(() => clock);
    // Chunks at t = 0, 5, 10, 12, 30 ms after the start, flushing every 10 ms.
    const at = [0, 5, 10, 12, 30];
    const agents = fakeAgents({
      chunks: ['a', 'b', 'c', 'd', 'e'],
      onChunk: (i) => {
        clock = 1_000 + at[i]!;
      },
    });
    const { store, deps } = setup(agents.service, 10);
    await runAgentActivity(deps, input());
    const events = await store.read(RUN);
    expect(events.map((e) => [e.id, e.type, e.data])).toEqual([
      [1, 'step.delta', { call: 'design', offset: 0, delta: 'abc' }],
      [2, 'step.delta', { call: 'design', offset: 3, delta: 'de' }],
    ]);
  });

  test('the tail left at the end is flushed; nothing is flushed when nothing is pending', async () => {
    let clock = 0;
    jest.spyOn(Date, 'now').mockImplementation(() => clock);
    const agents = fakeAgents({
      chunks: ['one', '', 'two'],
      onChunk: (i) => {
        clock = i === 0 ? 50 : 55;
      },
    });
    const { store, deps } = setup(agents.service, 10);
    await runAgentActivity(deps, input());
    expect((await store.read(RUN)).map((e) => (e.data as { delta: string }).delta)).toEqual(['one', 'two']);
  });

  test('an empty stream writes no step.delta', async () => {
    const { store, deps } = setup(fakeAgents({ chunks: [], output: '' }).service, 5);
    const res = await runAgentActivity(deps, input());
    expect(await store.read(RUN)).toEqual([]);
    expect(res.summary).toBe('');
  });

  test('a failing event append fails the activity', async () => {
    const { store, deps } = setup(fakeAgents().service, 60_000);
    jest.spyOn(store, 'append').mockRejectedValue(new Error('log unavailable'));
    await expect(runAgentActivity(deps, input())).rejects.toThrow('log unavailable');
  });

  test('a stream failing midway fails the activity and stores nothing', async () => {
    const boom = new Error('connection reset');
    const { store, deps } = setup(fakeAgents({ fail: boom, failStreamAt: 1 }).service, 60_000);
    const put = jest.spyOn(store, 'putOutput');
    await expect(runAgentActivity(deps, input())).rejects.toBe(boom);
    expect(put).not.toHaveBeenCalled();
  });

  test('with the real agent runner: the deltas add up to the stored output and the stream is closed', async () => {
    const model = new ScriptedModel(['The architecture has three services and one queue.'], { chunks: 4 });
    const runner = createAgentRunner({
      store: new MemoryCatalogStore(),
      resolveModel: () => ({ model, modelName: 'gpt-4o', provider: model.provider }),
      costOf: (_m: string, u: TokenUsage): Cost => ({
        currency: 'USD',
        input: u.prompt / 1e6,
        output: u.completion / 1e6,
        total: u.total / 1e6,
      }),
    });
    // A flush interval of 1 ms with a clock that moves 1 ms per read: one delta per chunk.
    let clock = 0;
    jest.spyOn(Date, 'now').mockImplementation(() => (clock += 1));
    const { store, deps } = setup(runner, 1);
    const res = await runAgentActivity(
      deps,
      input({
        context: { scale: '{{ input.scale }}' },
        vars: { input: { topic: 'x', scale: '10K RPS' }, steps: {} },
      }),
    );
    const data = (await store.read(RUN)).map((e) => e.data as { offset: number; delta: string });
    const deltas = data.map((d) => d.delta);
    expect(deltas.length).toBeGreaterThan(1);
    // Each offset is where its delta starts in the output.
    expect(data.map((d) => d.offset)).toEqual(deltas.map((_, i) => deltas.slice(0, i).join('').length));
    expect(deltas.join('')).toBe('The architecture has three services and one queue.');
    expect(await store.getOutput(res.outputRef)).toBe(deltas.join(''));
    expect(res.tokens.total).toBeGreaterThan(0);
    expect(res.cost.total).toBeCloseTo(res.tokens.total / 1e6, 12);
    expect(model.openStreams).toBe(0);
    expect(model.lastRequest.messages.some((m) => m.content.includes('scale: 10K RPS'))).toBe(true);
    expect(model.lastRequest.messages.at(-1)).toEqual({ role: 'user', content: 'Design x.' });
  });
});

describe('recordActivity', () => {
  async function withRun(steps: RunRecord['steps'] = {}) {
    const clock = new Date('2025-03-01T10:00:00.000Z');
    const { store, deps } = setup(fakeAgents().service, 0, () => clock);
    await store.createRun({ id: RUN, workflowId: 'wf', workflowVersion: '1', input: {}, steps });
    return { store, deps };
  }

  const pendingStep = {
    id: 'design',
    kind: 'agent',
    agent: 'architect',
    status: 'pending' as const,
    attempts: 0,
  };

  test('renders an approval prompt with its variables (stored texts resolved); as written when it cannot', async () => {
    const { store, deps } = await withRun();
    const design = await store.putOutput(RUN, 'design', 'a cache in front of the API');
    const vars = { input: { title: 'Caching' }, steps: { design: { output: { $text: [design] } } } };
    await recordActivity(deps, {
      runId: RUN,
      batch: 1,
      events: [
        {
          type: 'approval.requested',
          stepId: 'gate',
          data: { prompt: 'Ship "{{ input.title }}": {{ steps.design.output }}?', vars, onTimeout: 'reject' },
        },
        { type: 'approval.requested', stepId: 'g2', data: { prompt: '{{ missing.x }}', vars } },
        { type: 'approval.requested', stepId: 'g3', data: { prompt: 'no vars' } },
      ],
    });
    const events = await store.read(RUN);
    expect(events.map((e) => e.data)).toEqual([
      { prompt: 'Ship "Caching": a cache in front of the API?', onTimeout: 'reject' },
      { prompt: '{{ missing.x }}' },
      { prompt: 'no vars' },
    ]);
  });

  test('an agent call of a run that already ended is not made (RUN.NOT_ACTIVE)', async () => {
    const agents = fakeAgents();
    const { store, deps } = setup(agents.service, 0);
    await store.createRun({
      id: RUN,
      workflowId: 'wf',
      workflowVersion: '1',
      input: {},
      status: 'cancelled',
    });
    await expect(
      runAgentActivity(deps, {
        runId: RUN,
        stepId: 's',
        call: 's',
        agent: 'echo',
        prompt: 'hi',
        vars: { input: {}, steps: {} },
        attempt: 1,
      }),
    ).rejects.toMatchObject({ code: 'RUN.NOT_ACTIVE' });
  });

  test('applies the run and step changes in one update, then appends the events in order', async () => {
    const { store, deps } = await withRun({ design: pendingStep });
    const update = jest.spyOn(store, 'updateRun');
    const batch: RecordInput = {
      runId: RUN,
      run: { status: 'running', at: '2025-03-01T09:00:00.000Z' },
      steps: { design: { status: 'running', attempts: 1, startedAt: '2025-03-01T09:00:01.000Z' } },
      events: [{ type: 'run.started' }, { type: 'step.started', stepId: 'design', data: { attempt: 1 } }],
    };
    await recordActivity(deps, batch);
    expect(update).toHaveBeenCalledTimes(1);
    const run = (await store.getRun(RUN))!;
    expect(run).toMatchObject({ status: 'running', startedAt: '2025-03-01T09:00:00.000Z' });
    expect(run.completedAt).toBeUndefined();
    expect(run.steps.design).toEqual({
      ...pendingStep,
      status: 'running',
      attempts: 1,
      startedAt: '2025-03-01T09:00:01.000Z',
    });
    const events = await store.read(RUN);
    expect(events.map(({ id, type, stepId, data }) => ({ id, type, stepId, data }))).toEqual([
      { id: 1, type: 'run.started', stepId: undefined, data: undefined },
      { id: 2, type: 'step.started', stepId: 'design', data: { attempt: 1 } },
    ]);
  });

  test('a terminal status sets completedAt and keeps startedAt; step durations are derived', async () => {
    const { store, deps } = await withRun({ design: pendingStep });
    await recordActivity(deps, {
      runId: RUN,
      run: { status: 'running', at: '2025-03-01T09:00:00.000Z' },
      steps: { design: { status: 'running', startedAt: '2025-03-01T09:00:00.000Z' } },
      events: [],
    });
    await recordActivity(deps, {
      runId: RUN,
      run: {
        status: 'failed',
        at: '2025-03-01T09:00:05.000Z',
        error: { code: 'AGENT.TIMEOUT', message: 'too slow' },
      },
      steps: { design: { status: 'failed', completedAt: '2025-03-01T09:00:04.000Z' } },
      events: [{ type: 'run.failed', data: { error: { code: 'AGENT.TIMEOUT' } } }],
    });
    const run = (await store.getRun(RUN))!;
    expect(run).toMatchObject({
      status: 'failed',
      startedAt: '2025-03-01T09:00:00.000Z',
      completedAt: '2025-03-01T09:00:05.000Z',
      error: { code: 'AGENT.TIMEOUT', message: 'too slow' },
      totals: { durationMs: 5_000 },
    });
    expect(run.steps.design).toMatchObject({ status: 'failed', durationMs: 4_000 });
  });

  test('a status without `at` is stamped with deps.now()', async () => {
    const { store, deps } = await withRun();
    await recordActivity(deps, { runId: RUN, run: { status: 'completed' }, events: [] });
    expect(await store.getRun(RUN)).toMatchObject({
      status: 'completed',
      startedAt: '2025-03-01T10:00:00.000Z',
      completedAt: '2025-03-01T10:00:00.000Z',
    });
  });

  test('without deps.now the wall clock stamps the change', async () => {
    const store = new MemoryRunStore();
    await store.createRun({ id: RUN, workflowId: 'wf', workflowVersion: '1', input: {} });
    const before = new Date().toISOString();
    await recordActivity(
      { agents: fakeAgents().service, runs: store, events: store, deltaFlushMs: 0 },
      { runId: RUN, run: { status: 'running' }, events: [] },
    );
    const run = (await store.getRun(RUN))!;
    expect(run.startedAt! >= before).toBe(true);
    expect(run.startedAt! <= new Date().toISOString()).toBe(true);
  });

  test('a pending status sets no startedAt', async () => {
    const { store, deps } = await withRun();
    await recordActivity(deps, {
      runId: RUN,
      run: { status: 'pending', at: '2025-03-01T09:00:00.000Z' },
      events: [],
    });
    const run = (await store.getRun(RUN))!;
    expect(run.status).toBe('pending');
    expect(run.startedAt).toBeUndefined();
  });

  test('a run that already ended keeps its status and completedAt', async () => {
    const { store, deps } = await withRun();
    await recordActivity(deps, {
      runId: RUN,
      run: { status: 'cancelled', at: '2025-03-01T09:00:00.000Z' },
      events: [],
    });
    await recordActivity(deps, {
      runId: RUN,
      run: { status: 'completed', at: '2025-03-01T09:10:00.000Z' },
      events: [{ type: 'run.completed' }],
    });
    expect(await store.getRun(RUN)).toMatchObject({
      status: 'cancelled',
      completedAt: '2025-03-01T09:00:00.000Z',
    });
    expect((await store.read(RUN)).map((e) => e.type)).toEqual(['run.completed']);
  });

  test('a batch of steps only creates missing steps and leaves the run status alone', async () => {
    const { store, deps } = await withRun();
    await recordActivity(deps, {
      runId: RUN,
      steps: { review: { kind: 'review', status: 'running', attempts: 2 } },
      events: [],
    });
    const run = (await store.getRun(RUN))!;
    expect(run.status).toBe('pending');
    expect(run.steps.review).toEqual({ id: 'review', kind: 'review', status: 'running', attempts: 2 });
  });

  test('applying the same numbered batch twice changes nothing: same record, events logged once', async () => {
    const { store, deps } = await withRun({ design: pendingStep });
    const batch: RecordInput = {
      runId: RUN,
      batch: 1,
      run: { status: 'running', at: '2025-03-01T09:00:00.000Z' },
      steps: {
        design: {
          status: 'completed',
          startedAt: '2025-03-01T09:00:00.000Z',
          completedAt: '2025-03-01T09:00:02.000Z',
        },
      },
      events: [
        { type: 'step.started', stepId: 'design' },
        { type: 'step.completed', stepId: 'design' },
      ],
    };
    await recordActivity(deps, batch);
    const once = (await store.getRun(RUN))!;
    await recordActivity(deps, batch);
    expect(await store.getRun(RUN)).toEqual(once);
    expect((await store.read(RUN)).map((e) => [e.id, e.type])).toEqual([
      [1, 'step.started'],
      [2, 'step.completed'],
    ]);
    // The next batch number is applied; an older one is not.
    await recordActivity(deps, { runId: RUN, batch: 2, events: [{ type: 'run.completed' }] });
    await recordActivity(deps, { runId: RUN, batch: 1, events: [{ type: 'run.failed' }] });
    expect((await store.read(RUN)).map((e) => e.type)).toEqual([
      'step.started',
      'step.completed',
      'run.completed',
    ]);
  });

  test('the events go to the log in one write, with the batch number when there is one', async () => {
    const { store, deps } = await withRun();
    const many = jest.spyOn(store, 'appendMany');
    const events = [{ type: 'run.started' }, { type: 'step.started', stepId: 'a' }];
    await recordActivity(deps, { runId: RUN, batch: 7, events });
    await recordActivity(deps, { runId: RUN, events: [] });
    expect(many.mock.calls).toEqual([
      [RUN, events, { batch: 7 }],
      [RUN, [], {}],
    ]);
  });

  test('unnumbered batches are appended every time', async () => {
    const { store, deps } = await withRun();
    await recordActivity(deps, { runId: RUN, events: [{ type: 'step.delta' }] });
    await recordActivity(deps, { runId: RUN, events: [{ type: 'step.delta' }] });
    expect((await store.read(RUN)).map((e) => e.id)).toEqual([1, 2]);
  });

  test('a batch of events only does not touch the run record', async () => {
    const { store, deps } = await withRun();
    const update = jest.spyOn(store, 'updateRun');
    await recordActivity(deps, { runId: RUN, events: [{ type: 'approval.requested', stepId: 'ok' }] });
    expect(update).not.toHaveBeenCalled();
    expect((await store.read(RUN)).map((e) => e.type)).toEqual(['approval.requested']);
  });

  test('a missing run is RUN.NOT_FOUND and no event is appended', async () => {
    const { store, deps } = setup(fakeAgents().service);
    await expect(
      recordActivity(deps, { runId: 'nope', run: { status: 'running' }, events: [{ type: 'run.started' }] }),
    ).rejects.toMatchObject({ code: 'RUN.NOT_FOUND', status: 404 });
    expect(await store.read('nope')).toEqual([]);
  });
});

describe('runAgentActivity when the event log fails mid-stream', () => {
  test('a failing delta append fails the activity, with no unhandled rejection', () => {
    const script = `
      const fs = require('node:fs');
      const swc = require('@swc/core');
      require.extensions['.ts'] = (m, file) =>
        m._compile(
          swc.transformSync(fs.readFileSync(file, 'utf8'), {
            filename: file,
            jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
            module: { type: 'commonjs' },
          }).code,
          file,
        );
      process.on('unhandledRejection', (e) => {
        console.log('UNHANDLED ' + e.message);
        process.exit(0);
      });
      const { runAgentActivity } = require('./src/workflows/activities.ts');
      const { MemoryRunStore } = require('./src/store/memory-runs.ts');
      const store = new MemoryRunStore();
      store.append = () => Promise.reject(new Error('log down'));
      const agents = {
        async *stream() {
          await new Promise((r) => setTimeout(r, 5));
          yield 'first chunk';
          await new Promise((r) => setTimeout(r, 20));
          yield 'second chunk';
          return { output: 'first chunksecond chunk', tokenUsage: { prompt: 1, completion: 1, total: 2 },
            cost: { total: 0 }, model: 'm' };
        },
      };
      const input = { runId: 'r', stepId: 's', call: 's', agent: 'echo', prompt: 'x',
        vars: { input: {}, steps: {} }, attempt: 1 };
      runAgentActivity({ agents, runs: store, events: store, deltaFlushMs: 1 }, input).then(
        () => console.log('RESOLVED'),
        (e) => console.log('REJECTED ' + e.message),
      );
    `;
    const child = spawnSync(process.execPath, ['-e', script], { cwd: process.cwd(), encoding: 'utf8' });
    expect(child.stdout.trim()).toBe('REJECTED log down');
  });
});
