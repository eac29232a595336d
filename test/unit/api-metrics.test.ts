/**
 * The monitoring metrics (src/api/metrics.ts) over the memory run store: nearest-rank percentiles, the
 * time window (defaults, validation), runs and steps by status, latencies, tokens and cost per agent
 * and per workflow, the success rate, and the truncation flag.
 */
import { computeMetrics, DEFAULT_WINDOW_MS, MAX_RUNS, percentiles } from '../../src/api/metrics';
import { ValidationError } from '../../src/errors';
import { MemoryRunStore } from '../../src/store/memory-runs';
import type { RunPage, RunQuery, RunRecord, RunStore, StepRecord } from '../../src/store/runs';

const NOW = Date.parse('2025-03-01T12:00:00.000Z');
const q = (query: Record<string, string> = {}): URLSearchParams => new URLSearchParams(query);

afterEach(() => {
  jest.useRealTimers();
});

describe('percentiles (nearest rank)', () => {
  test('an empty sample is all zeros', () => {
    expect(percentiles([])).toEqual({ count: 0, p50: 0, p95: 0, p99: 0 });
  });

  test('one value is every percentile', () => {
    expect(percentiles([42])).toEqual({ count: 1, p50: 42, p95: 42, p99: 42 });
  });

  test('1..100 in any order: the 50th, 95th and 99th values', () => {
    const values = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1);
    expect(percentiles(values)).toEqual({ count: 100, p50: 50, p95: 95, p99: 99 });
  });

  test('rank = ceil(p/100 × n): 1..10 and 1..20', () => {
    const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
    expect(percentiles(upTo(10))).toEqual({ count: 10, p50: 5, p95: 10, p99: 10 });
    expect(percentiles(upTo(20))).toEqual({ count: 20, p50: 10, p95: 19, p99: 20 });
    expect(percentiles(upTo(2))).toEqual({ count: 2, p50: 1, p95: 2, p99: 2 });
    expect(percentiles(upTo(3))).toEqual({ count: 3, p50: 2, p95: 3, p99: 3 });
  });

  test('sorts numerically and leaves the sample as it was', () => {
    const values = [100, 9, 20, 3];
    expect(percentiles(values)).toEqual({ count: 4, p50: 9, p95: 100, p99: 100 });
    expect(values).toEqual([100, 9, 20, 3]);
  });
});

describe('the window', () => {
  test('defaults to the 24 hours before now', async () => {
    const m = await computeMetrics(new MemoryRunStore(), q(), NOW);
    expect(m.window).toEqual({
      from: new Date(NOW - DEFAULT_WINDOW_MS).toISOString(),
      to: '2025-03-01T12:00:00.000Z',
      runs: 0,
      truncated: false,
    });
  });

  test('`to` alone: the 24 hours before it; both: as given, normalized to ISO 8601 UTC', async () => {
    const store = new MemoryRunStore();
    expect((await computeMetrics(store, q({ to: '2025-02-10T00:00:00Z' }), NOW)).window).toMatchObject({
      from: '2025-02-09T00:00:00.000Z',
      to: '2025-02-10T00:00:00.000Z',
    });
    expect((await computeMetrics(store, q({ from: '2025-03-01T09:00:00+02:00' }), NOW)).window).toMatchObject(
      {
        from: '2025-03-01T07:00:00.000Z',
        to: '2025-03-01T12:00:00.000Z',
      },
    );
    expect(
      (await computeMetrics(store, q({ from: '2025-01-01', to: '2025-02-01' }), NOW)).window,
    ).toMatchObject({ from: '2025-01-01T00:00:00.000Z', to: '2025-02-01T00:00:00.000Z' });
  });

  test.each([
    ['from', { from: 'last week' }, 'must be an ISO 8601 date-time'],
    ['to', { to: 'now' }, 'must be an ISO 8601 date-time'],
    ['from', { from: '2025-03-01T12:00:00Z' }, "must be before 'to'"],
    ['from', { from: '2025-03-02T00:00:00Z', to: '2025-03-01T00:00:00Z' }, "must be before 'to'"],
  ])('400 on %s for %j', async (path, query, message) => {
    const err = await computeMetrics(new MemoryRunStore(), q(query), NOW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err).toMatchObject({ code: 'REQUEST.INVALID', status: 400, violations: [{ path, message }] });
  });
});

type StepSpec = Partial<StepRecord> & Pick<StepRecord, 'status'>;

/** A run created at `createdAt` (the wall clock is set for it), started and finished as given. */
async function runAt(
  store: MemoryRunStore,
  createdAt: string,
  spec: {
    workflowId?: string;
    status: RunRecord['status'];
    startedAt?: string;
    completedAt?: string;
    steps?: Record<string, StepSpec>;
  },
): Promise<RunRecord> {
  jest.useFakeTimers({
    doNotFake: [
      'nextTick',
      'setImmediate',
      'setTimeout',
      'clearTimeout',
      'setInterval',
      'clearInterval',
      'queueMicrotask',
    ],
    now: new Date(createdAt),
  });
  try {
    const { run } = await store.createRun({
      workflowId: spec.workflowId ?? 'alpha',
      workflowVersion: '1',
      input: {},
      status: spec.status,
      ...(spec.startedAt && { startedAt: spec.startedAt }),
      steps: Object.fromEntries(
        Object.entries(spec.steps ?? {}).map(([id, s]) => [id, { id, kind: 'agent', attempts: 1, ...s }]),
      ),
    });
    if (!spec.completedAt) return run;
    return await store.updateRun(run.id, (r) => {
      r.completedAt = spec.completedAt;
    });
  } finally {
    jest.useRealTimers();
  }
}

const tokens = (prompt: number, completion: number) => ({ prompt, completion, total: prompt + completion });
const usd = (total: number) => ({ currency: 'USD' as const, total });

/** Four runs in two workflows, every run and step status, plus runs outside the window. */
async function fleet(): Promise<MemoryRunStore> {
  const store = new MemoryRunStore();
  await runAt(store, '2025-03-01T10:00:00.000Z', {
    status: 'completed',
    startedAt: '2025-03-01T10:00:00.000Z',
    completedAt: '2025-03-01T10:00:10.000Z',
    steps: {
      design: {
        agent: 'architect',
        status: 'completed',
        tokens: tokens(100, 50),
        cost: usd(0.1),
        durationMs: 4000,
      },
      build: {
        agent: 'builder',
        status: 'completed',
        tokens: tokens(200, 100),
        cost: usd(0.2),
        durationMs: 6000,
      },
      docs: { agent: 'scribe', status: 'skipped' },
    },
  });
  await runAt(store, '2025-03-01T10:30:00.000Z', {
    status: 'failed',
    startedAt: '2025-03-01T10:30:00.000Z',
    completedAt: '2025-03-01T10:30:20.000Z',
    steps: {
      design: {
        agent: 'architect',
        status: 'failed',
        tokens: tokens(10, 0),
        cost: usd(0.05),
        durationMs: 1000,
      },
      review: {
        kind: 'review',
        status: 'completed',
        tokens: tokens(30, 20),
        cost: usd(0.01),
        durationMs: 2000,
      },
    },
  });
  await runAt(store, '2025-03-01T11:00:00.000Z', {
    workflowId: 'beta',
    status: 'running',
    startedAt: '2025-03-01T11:00:00.000Z',
    steps: {
      design: { agent: 'architect', status: 'running', tokens: tokens(5, 5), cost: usd(0.004) },
      docs: { agent: 'scribe', status: 'pending' },
    },
  });
  await runAt(store, '2025-03-01T11:30:00.000Z', {
    workflowId: 'beta',
    status: 'cancelled',
    startedAt: '2025-03-01T11:30:00.000Z',
    completedAt: '2025-03-01T11:45:00.000Z',
    steps: {
      // A step with no usage recorded counts as a step with zero usage.
      echo: { agent: 'echo', status: 'cancelled' },
    },
  });
  // Outside the default window: a day and a half old, and exactly at its (exclusive) end.
  await runAt(store, '2025-02-28T00:00:00.000Z', {
    status: 'completed',
    steps: { x: { status: 'completed' } },
  });
  await runAt(store, '2025-03-01T12:00:00.000Z', { status: 'failed' });
  return store;
}

describe('computeMetrics', () => {
  test('runs and steps by status, latencies, and usage per agent, per workflow and in total', async () => {
    const m = await computeMetrics(await fleet(), q(), NOW);
    expect(m).toEqual({
      window: { from: '2025-02-28T12:00:00.000Z', to: '2025-03-01T12:00:00.000Z', runs: 4, truncated: false },
      runs: {
        byStatus: { completed: 1, failed: 1, running: 1, cancelled: 1 },
        // Finished runs only (completed and failed): 10 s and 20 s.
        latencyMs: { count: 2, p50: 10_000, p95: 20_000, p99: 20_000 },
        successRate: 0.5,
      },
      steps: {
        byStatus: { completed: 3, skipped: 1, failed: 1, running: 1, pending: 1, cancelled: 1 },
        // Completed steps only, keyed by agent (or kind when the step has no agent).
        latencyMsByAgent: {
          architect: { count: 1, p50: 4000, p95: 4000, p99: 4000 },
          builder: { count: 1, p50: 6000, p95: 6000, p99: 6000 },
          review: { count: 1, p50: 2000, p95: 2000, p99: 2000 },
        },
      },
      tokens: { prompt: 345, completion: 175, total: 520 },
      costUsd: 0.364,
      byAgent: {
        architect: { tokens: { prompt: 115, completion: 55, total: 170 }, costUsd: 0.154, steps: 3 },
        builder: { tokens: { prompt: 200, completion: 100, total: 300 }, costUsd: 0.2, steps: 1 },
        review: { tokens: { prompt: 30, completion: 20, total: 50 }, costUsd: 0.01, steps: 1 },
        echo: { tokens: { prompt: 0, completion: 0, total: 0 }, costUsd: 0, steps: 1 },
      },
      byWorkflow: {
        alpha: { tokens: { prompt: 340, completion: 170, total: 510 }, costUsd: 0.36, steps: 4, runs: 2 },
        beta: { tokens: { prompt: 5, completion: 5, total: 10 }, costUsd: 0.004, steps: 2, runs: 2 },
      },
    });
  });

  test('costs are summed without float noise (0.1 + 0.2 is 0.3)', async () => {
    const store = new MemoryRunStore();
    await runAt(store, '2025-03-01T10:00:00.000Z', {
      status: 'completed',
      steps: {
        a: { agent: 'echo', status: 'completed', cost: usd(0.1) },
        b: { agent: 'echo', status: 'completed', cost: usd(0.2) },
      },
    });
    const m = await computeMetrics(store, q(), NOW);
    expect(m.costUsd).toBe(0.3);
    expect(m.byAgent.echo!.costUsd).toBe(0.3);
    expect(m.byWorkflow.alpha!.costUsd).toBe(0.3);
  });

  test('workflowId narrows everything to that workflow', async () => {
    const m = await computeMetrics(await fleet(), q({ workflowId: 'beta' }), NOW);
    expect(m.window.runs).toBe(2);
    expect(m.runs.byStatus).toEqual({ running: 1, cancelled: 1 });
    expect(Object.keys(m.byWorkflow)).toEqual(['beta']);
    expect(Object.keys(m.byAgent).sort()).toEqual(['architect', 'echo']);
  });

  test('the window includes its start and excludes its end', async () => {
    const store = await fleet();
    const m = await computeMetrics(
      store,
      q({ from: '2025-03-01T10:30:00Z', to: '2025-03-01T11:30:00Z' }),
      NOW,
    );
    expect(m.runs.byStatus).toEqual({ failed: 1, running: 1 });
    const all = await computeMetrics(
      store,
      q({ from: '2025-01-01T00:00:00Z', to: '2025-03-02T00:00:00Z' }),
      NOW,
    );
    expect(all.window.runs).toBe(6);
  });

  test('the success rate is null when no run finished (nothing, or only running and cancelled runs)', async () => {
    const empty = await computeMetrics(new MemoryRunStore(), q(), NOW);
    expect(empty.runs).toEqual({
      byStatus: {},
      latencyMs: { count: 0, p50: 0, p95: 0, p99: 0 },
      successRate: null,
    });
    expect(empty).toMatchObject({
      tokens: { prompt: 0, completion: 0, total: 0 },
      costUsd: 0,
      byAgent: {},
      byWorkflow: {},
    });
    const unfinished = await computeMetrics(await fleet(), q({ workflowId: 'beta' }), NOW);
    expect(unfinished.runs.successRate).toBeNull();
    expect(unfinished.runs.latencyMs.count).toBe(0);
  });

  test('the success rate is 0 when every finished run failed', async () => {
    const m = await computeMetrics(await fleet(), q({ from: '2025-03-01T10:15:00Z' }), NOW);
    expect(m.runs.successRate).toBe(0);
  });

  test('an agent or workflow named like an Object.prototype member is counted like any other', async () => {
    const store = new MemoryRunStore();
    await runAt(store, '2025-03-01T10:00:00.000Z', {
      workflowId: 'constructor',
      status: 'completed',
      steps: { a: { agent: 'constructor', status: 'completed', tokens: tokens(1, 1), cost: usd(0.5) } },
    });
    const m = await computeMetrics(store, q(), NOW);
    expect(Object.hasOwn(m.byAgent, 'constructor')).toBe(true);
    expect(m.byAgent.constructor).toEqual({ tokens: tokens(1, 1), costUsd: 0.5, steps: 1 });
    expect(m.byWorkflow.constructor).toEqual({ tokens: tokens(1, 1), costUsd: 0.5, steps: 1, runs: 1 });
  });
});

/** A store of `total` runs in the window, served 500 (or fewer) a page, recording each query. */
function pagedStore(total: number): { store: RunStore; queries: RunQuery[] } {
  const queries: RunQuery[] = [];
  const run = (i: number): RunRecord => ({
    id: `run-${i}`,
    workflowId: 'alpha',
    workflowVersion: '1',
    status: 'completed',
    input: {},
    createdAt: '2025-03-01T11:00:00.000Z',
    updatedAt: '2025-03-01T11:00:00.000Z',
    steps: {},
    totals: { tokens: tokens(0, 0), cost: usd(0), durationMs: i },
    etag: 'e',
  });
  const listRuns = (query: RunQuery = {}): Promise<RunPage> => {
    queries.push(query);
    const start = query.continuationToken ? Number(query.continuationToken) : 0;
    const end = Math.min(total, start + (query.limit ?? 50));
    const items = Array.from({ length: end - start }, (_, k) => run(start + k));
    return Promise.resolve(end < total ? { items, continuationToken: String(end) } : { items });
  };
  return { store: { listRuns } as unknown as RunStore, queries };
}

describe('runs read for the window', () => {
  test('pages of 500 through the continuation tokens, with the window and workflow in every query', async () => {
    const { store, queries } = pagedStore(1_234);
    const m = await computeMetrics(store, q({ workflowId: 'alpha' }), NOW);
    expect(m.window).toMatchObject({ runs: 1_234, truncated: false });
    expect(m.runs.byStatus).toEqual({ completed: 1_234 });
    const window = { createdFrom: '2025-02-28T12:00:00.000Z', createdTo: '2025-03-01T12:00:00.000Z' };
    expect(queries).toEqual([
      { ...window, workflowId: 'alpha', limit: 500 },
      { ...window, workflowId: 'alpha', limit: 500, continuationToken: '500' },
      { ...window, workflowId: 'alpha', limit: 500, continuationToken: '1000' },
    ]);
  });

  test(`exactly MAX_RUNS (${MAX_RUNS}) runs are all read, not truncated`, async () => {
    const { store, queries } = pagedStore(MAX_RUNS);
    const m = await computeMetrics(store, q(), NOW);
    expect(m.window).toMatchObject({ runs: MAX_RUNS, truncated: false });
    expect(queries).toHaveLength(MAX_RUNS / 500);
    expect(queries[0]).not.toHaveProperty('workflowId');
  });

  test('more than MAX_RUNS: the first MAX_RUNS are counted and the window says truncated', async () => {
    const { store, queries } = pagedStore(MAX_RUNS + 1);
    const m = await computeMetrics(store, q(), NOW);
    expect(m.window).toMatchObject({ runs: MAX_RUNS, truncated: true });
    expect(m.runs.latencyMs.count).toBe(MAX_RUNS);
    expect(queries).toHaveLength(MAX_RUNS / 500);
  });

  test('a store that pages beyond what it was asked for is cut at MAX_RUNS', async () => {
    const items = Array.from({ length: MAX_RUNS + 5 }, (_, i) => ({
      id: `r${i}`,
      workflowId: 'alpha',
      workflowVersion: '1',
      status: 'failed',
      input: {},
      createdAt: '2025-03-01T11:00:00.000Z',
      updatedAt: '2025-03-01T11:00:00.000Z',
      steps: {},
      totals: { tokens: tokens(0, 0), cost: usd(0), durationMs: 1 },
      etag: 'e',
    }));
    const store = { listRuns: () => Promise.resolve({ items }) } as unknown as RunStore;
    const m = await computeMetrics(store, q(), NOW);
    expect(m.window).toMatchObject({ runs: MAX_RUNS, truncated: true });
    expect(m.runs.byStatus).toEqual({ failed: MAX_RUNS });
  });
});
