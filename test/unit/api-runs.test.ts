/**
 * The runs API use cases (src/api/runs.ts) called directly over a MemoryRunStore, the RunService and a
 * fake durable client: every status and problem code, list query validation, the event stream (SSE
 * framing, resume, heartbeats, closing, unsubscribing) and the JSON event pages.
 */
import { answer, type ApiResponse } from '../../src/api/http';
import type { ProblemDetails } from '../../src/api/problem';
import {
  cancelRun,
  decideApproval,
  formatRunEvent,
  getRun,
  getStepOutput,
  listRuns,
  metrics,
  resumeAfter,
  runEvents,
  runEventStream,
  runLinks,
  runView,
  startRun,
  RUNS_PATH,
  type RunsApiDeps,
} from '../../src/api/runs';
import { SSE_HEADERS } from '../../src/api/sse';
import { resolveWorkflow, validateDefinition } from '../../src/api/workflows';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';
import { MemoryRunStore } from '../../src/store/memory-runs';
import { outputRefFor } from '../../src/store/payloads';
import type { EventLog, NewRun, RunEvent, RunRecord, StepRecord } from '../../src/store/runs';
import { CANCEL_EVENT, WORKFLOW_ORCHESTRATOR } from '../../src/workflows/names';
import { RunService, type OrchestrationClient } from '../../src/workflows/run-service';
import { agentStep, workflow } from '../fixtures/workflows/builders';

/** Records every call; `failStart` makes startNew reject. */
class FakeClient implements OrchestrationClient {
  readonly started: { name: string; instanceId: string; input: unknown }[] = [];
  readonly raised: { instanceId: string; eventName: string; data: unknown }[] = [];
  failStart?: Error;

  async startNew(name: string, instanceId: string, input: unknown): Promise<void> {
    await Promise.resolve();
    if (this.failStart !== undefined) throw this.failStart;
    this.started.push({ name, instanceId, input });
  }

  async raiseEvent(instanceId: string, eventName: string, data: unknown): Promise<void> {
    await Promise.resolve();
    this.raised.push({ instanceId, eventName, data });
  }

  async getStatus(): Promise<{ runtimeStatus: string } | undefined> {
    return Promise.resolve(undefined);
  }
}

function setup(heartbeatMs = 60_000) {
  const store = new MemoryRunStore();
  const catalog = new MemoryCatalogStore();
  const service = new RunService({
    runs: store,
    resolveWorkflow: (id, version) => resolveWorkflow(catalog, id, version),
    validateDefinition: (def) => validateDefinition(catalog, def),
  });
  const client = new FakeClient();
  const deps: RunsApiDeps = {
    service,
    store,
    client,
    durableUrls: (id) => ({
      statusQueryGetUri: `http://localhost/runtime/webhooks/durabletask/instances/${id}`,
    }),
    heartbeatMs,
  };
  return { deps, store, client };
}

/** The use case's answer as the HTTP layer sends it (failures as problem+json). */
const call = (fn: () => Promise<ApiResponse>): Promise<ApiResponse> => answer(fn);

async function problem(
  fn: () => Promise<ApiResponse>,
  status: number,
  code: string,
): Promise<ProblemDetails> {
  const res = await call(fn);
  expect(res.headers?.['content-type']).toBe('application/problem+json');
  const body = res.json as ProblemDetails;
  expect({ status: res.status, code: body.code }).toEqual({ status, code });
  return body;
}

const q = (query: Record<string, string> = {}): URLSearchParams => new URLSearchParams(query);
const PIPELINE = 'agent-studio-pipeline';
const topic = { topic: 'a todo API' };

/** Creates runs with the wall clock set, so createdAt is known. */
async function createAt(store: MemoryRunStore, iso: string, run: Partial<NewRun> = {}): Promise<RunRecord> {
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
    now: new Date(iso),
  });
  try {
    return (await store.createRun({ workflowId: 'wf', workflowVersion: '1', input: {}, ...run })).run;
  } finally {
    jest.useRealTimers();
  }
}

async function seed(
  store: MemoryRunStore,
  steps: Record<string, Partial<StepRecord>> = {},
  status: RunRecord['status'] = 'running',
): Promise<RunRecord> {
  const { run } = await store.createRun({
    workflowId: 'wf',
    workflowVersion: '1',
    input: {},
    status,
    steps: Object.fromEntries(
      Object.entries(steps).map(([id, s]) => [
        id,
        { id, kind: 'agent', status: 'pending', attempts: 0, ...s },
      ]),
    ),
  });
  return run;
}

afterEach(() => {
  jest.restoreAllMocks();
  jest.useRealTimers();
});

describe('runLinks and runView', () => {
  test('links are under the runs path with the id encoded', () => {
    expect(runLinks('a b/c')).toEqual({
      self: `${RUNS_PATH}/a%20b%2Fc`,
      events: `${RUNS_PATH}/a%20b%2Fc/events`,
      approval: `${RUNS_PATH}/a%20b%2Fc/approval`,
      cancel: `${RUNS_PATH}/a%20b%2Fc/cancel`,
    });
  });

  test('the view drops the etag, keeps inline output, hides an output reference', async () => {
    const { store } = setup();
    const inline = (
      await store.createRun({ workflowId: 'wf', workflowVersion: '1', input: {}, output: { answer: 42 } })
    ).run;
    const view = runView(inline);
    expect(view).not.toHaveProperty('etag');
    expect(view).toMatchObject({ id: inline.id, output: { answer: 42 }, links: runLinks(inline.id) });
    const byRef = (
      await store.createRun({
        workflowId: 'wf',
        workflowVersion: '1',
        input: {},
        output: outputRefFor('x', 'big'),
      })
    ).run;
    expect(runView(byRef)).not.toHaveProperty('output');
    expect(runView(await seed(store))).not.toHaveProperty('output');
  });
});

describe('startRun', () => {
  test('202 for a new run: location, etag, links and the durable URLs; the orchestration starts', async () => {
    const { deps, store, client } = setup();
    const res = await call(() => startRun(deps, { workflowId: PIPELINE, input: topic }));
    const body = res.json as { id: string };
    const run = (await store.getRun(body.id))!;
    expect(res).toEqual({
      status: 202,
      headers: { location: `${RUNS_PATH}/${run.id}`, etag: `"${run.etag}"` },
      json: {
        id: run.id,
        status: 'pending',
        workflowId: PIPELINE,
        workflowVersion: '1',
        created: true,
        links: runLinks(run.id),
        durable: { statusQueryGetUri: `http://localhost/runtime/webhooks/durabletask/instances/${run.id}` },
      },
    });
    expect(client.started.map((s) => [s.name, s.instanceId])).toEqual([[WORKFLOW_ORCHESTRATOR, run.id]]);
  });

  test('the Idempotency-Key header (trimmed) makes a repeat answer 200 with the same run', async () => {
    const { deps, client } = setup();
    const first = await call(() => startRun(deps, { workflowId: PIPELINE, input: topic }, '  key-1 '));
    const again = await call(() => startRun(deps, { workflowId: PIPELINE, input: topic }, 'key-1'));
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ id: (first.json as { id: string }).id, created: false });
    expect(client.started).toHaveLength(1);
  });

  test('the body key wins over the header; a blank header is no key', async () => {
    const { deps, store } = setup();
    const a = await call(() =>
      startRun(deps, { workflowId: PIPELINE, input: topic, idempotencyKey: 'body' }, 'hdr'),
    );
    const b = await call(() => startRun(deps, { workflowId: PIPELINE, input: topic }, 'body'));
    expect(b.status).toBe(200);
    expect((b.json as { id: string }).id).toBe((a.json as { id: string }).id);
    expect((await store.getRun((a.json as { id: string }).id))!.idempotencyKey).toBe('body');
    const c = await call(() => startRun(deps, { workflowId: PIPELINE, input: topic }, '   '));
    const d = await call(() => startRun(deps, { workflowId: PIPELINE, input: topic }, null));
    expect([c.status, d.status]).toEqual([202, 202]);
    expect((await store.getRun((c.json as { id: string }).id))!.idempotencyKey).toBeUndefined();
  });

  test('snake_case aliases are accepted', async () => {
    const { deps, store } = setup();
    const res = await call(() =>
      startRun(deps, { workflow_id: PIPELINE, input: topic, idempotency_key: 'k', tenant_id: 'acme' }),
    );
    expect(res.status).toBe(202);
    expect(await store.getRun((res.json as { id: string }).id)).toMatchObject({
      workflowId: PIPELINE,
      idempotencyKey: 'k',
      tenantId: 'acme',
    });
  });

  test('400 REQUEST.INVALID listing every violation of the body, under the spelling the client used', async () => {
    const { deps, client } = setup();
    const body = await problem(
      () =>
        startRun(deps, {
          workflowId: '',
          idempotency_key: 7,
          budget: { maxTokens: -1, maxCostUsd: 0 },
          extra: true,
        }),
      400,
      'REQUEST.INVALID',
    );
    expect(body.violations!.map((v) => v.path).sort()).toEqual([
      '',
      'budget.maxCostUsd',
      'budget.maxTokens',
      'idempotency_key',
      'workflowId',
    ]);
    expect(client.started).toEqual([]);
  });

  test('400 REQUEST.INVALID for a body that is no object', async () => {
    const { deps } = setup();
    for (const bad of [undefined, null, [], 'text']) {
      const body = await problem(() => startRun(deps, bad), 400, 'REQUEST.INVALID');
      expect(body.violations).toEqual([{ path: '', message: 'must be a JSON object' }]);
    }
  });

  test('400 when neither workflowId nor definition is given', async () => {
    const { deps } = setup();
    const body = await problem(() => startRun(deps, { input: topic }), 400, 'REQUEST.INVALID');
    expect(body.violations!.map((v) => v.path)).toEqual(['workflowId']);
  });

  test('400 RUN.INVALID_INPUT for input failing the workflow schema', async () => {
    const { deps } = setup();
    const body = await problem(
      () => startRun(deps, { workflowId: PIPELINE, input: {} }),
      400,
      'RUN.INVALID_INPUT',
    );
    expect(body.violations!.map((v) => v.path)).toEqual(['input.topic']);
  });

  test('400 WORKFLOW.INVALID_DEFINITION for a bad inline definition; 202 for a good one', async () => {
    const { deps } = setup();
    await problem(
      () => startRun(deps, { definition: workflow([agentStep('a', 'Hi', { agent: 'nobody' })]) }),
      400,
      'WORKFLOW.INVALID_DEFINITION',
    );
    const ok = await call(() => startRun(deps, { definition: workflow([agentStep('a', 'Hi')]) }));
    expect(ok.status).toBe(202);
    expect(ok.json).toMatchObject({ workflowId: 'test-flow' });
  });

  test('404 WORKFLOW.NOT_FOUND for an unknown workflow or version', async () => {
    const { deps } = setup();
    await problem(() => startRun(deps, { workflowId: 'no-such-flow' }), 404, 'WORKFLOW.NOT_FOUND');
    await problem(
      () => startRun(deps, { workflowId: PIPELINE, version: '7', input: topic }),
      404,
      'WORKFLOW.NOT_FOUND',
    );
  });

  test('503 RUN.START_FAILED when the orchestration does not start; the run is failed', async () => {
    const { deps, store, client } = setup();
    client.failStart = new Error('hub down');
    const body = await problem(
      () => startRun(deps, { workflowId: PIPELINE, input: topic }),
      503,
      'RUN.START_FAILED',
    );
    expect(body.detail).toMatch(/could not start its orchestration/);
    const [run] = (await store.listRuns()).items;
    expect(run).toMatchObject({ status: 'failed', error: { code: 'RUN.START_FAILED' } });
  });
});

describe('listRuns', () => {
  async function three(store: MemoryRunStore) {
    const a = await createAt(store, '2025-03-01T10:00:00.000Z', { status: 'completed', tenantId: 't1' });
    const b = await createAt(store, '2025-03-02T10:00:00.000Z', { status: 'running', workflowId: 'other' });
    const c = await createAt(store, '2025-03-03T10:00:00.000Z', { status: 'running', tenantId: 't1' });
    return { a, b, c };
  }

  const ids = (res: ApiResponse): string[] =>
    (res.json as { items: { id: string }[] }).items.map((r) => r.id);

  test('200 with every run, newest first, as views (links, no etag)', async () => {
    const { deps, store } = setup();
    const { a, b, c } = await three(store);
    const res = await call(() => listRuns(deps, q()));
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ items: [c, b, a].map(runView) });
  });

  test('filters by status, workflowId and tenantId; empty values filter nothing', async () => {
    const { deps, store } = setup();
    const { a, b, c } = await three(store);
    expect(ids(await call(() => listRuns(deps, q({ status: 'running' }))))).toEqual([c.id, b.id]);
    expect(ids(await call(() => listRuns(deps, q({ workflowId: 'other' }))))).toEqual([b.id]);
    expect(ids(await call(() => listRuns(deps, q({ tenantId: 't1', status: 'running' }))))).toEqual([c.id]);
    expect(ids(await call(() => listRuns(deps, q({ workflowId: '', tenantId: '' }))))).toEqual([
      c.id,
      b.id,
      a.id,
    ]);
  });

  test('createdFrom is inclusive, createdTo exclusive; any ISO 8601 form is accepted', async () => {
    const { deps, store } = setup();
    const { a, b, c } = await three(store);
    expect(ids(await call(() => listRuns(deps, q({ createdFrom: '2025-03-02T10:00:00Z' }))))).toEqual([
      c.id,
      b.id,
    ]);
    expect(ids(await call(() => listRuns(deps, q({ createdTo: '2025-03-02T11:00:00+01:00' }))))).toEqual([
      a.id,
    ]);
    expect(
      ids(
        await call(() =>
          listRuns(deps, q({ createdFrom: '2025-03-01T10:00:00.000Z', createdTo: '2025-03-03' })),
        ),
      ),
    ).toEqual([b.id, a.id]);
  });

  test('limit pages with a continuation token until the last page', async () => {
    const { deps, store } = setup();
    const { a, b, c } = await three(store);
    const first = await call(() => listRuns(deps, q({ limit: '2' })));
    const token = (first.json as { continuationToken?: string }).continuationToken;
    expect(ids(first)).toEqual([c.id, b.id]);
    expect(token).toEqual(expect.any(String));
    const second = await call(() => listRuns(deps, q({ limit: '2', continuationToken: token! })));
    expect(second.json).toEqual({ items: [runView(a)] });
    expect(ids(await call(() => listRuns(deps, q({ limit: '500' }))))).toHaveLength(3);
    expect(ids(await call(() => listRuns(deps, q({ limit: '1' }))))).toEqual([c.id]);
  });

  test('400 REQUEST.INVALID listing every violation of the query at once', async () => {
    const { deps } = setup();
    const body = await problem(
      () => listRuns(deps, q({ status: 'done', createdFrom: 'yesterday', createdTo: 'soon', limit: '0' })),
      400,
      'REQUEST.INVALID',
    );
    expect(body.violations).toEqual([
      {
        path: 'status',
        message: 'must be one of pending, running, waiting_for_approval, completed, failed, cancelled',
      },
      { path: 'createdFrom', message: 'must be an ISO 8601 date-time' },
      { path: 'createdTo', message: 'must be an ISO 8601 date-time' },
      { path: 'limit', message: 'must be an integer from 1 to 500' },
    ]);
  });

  test.each(['0', '501', '1.5', '-3', 'ten', ''])('limit=%j is a violation', async (limit) => {
    const { deps } = setup();
    const body = await problem(() => listRuns(deps, q({ limit })), 400, 'REQUEST.INVALID');
    expect(body.violations).toEqual([{ path: 'limit', message: 'must be an integer from 1 to 500' }]);
  });

  test('an empty status or date is a violation too', async () => {
    const { deps } = setup();
    const body = await problem(
      () => listRuns(deps, q({ status: '', createdFrom: '' })),
      400,
      'REQUEST.INVALID',
    );
    expect(body.violations!.map((v) => v.path)).toEqual(['status', 'createdFrom']);
  });

  test('400 for a continuation token the store did not issue', async () => {
    const { deps } = setup();
    const body = await problem(
      () => listRuns(deps, q({ continuationToken: 'garbage' })),
      400,
      'REQUEST.INVALID',
    );
    expect(body.violations).toEqual([
      { path: 'continuationToken', message: 'is not a token this store issued' },
    ]);
  });
});

describe('getRun', () => {
  test('200 with the view and the etag in the ETag header', async () => {
    const { deps, store } = setup();
    const run = await seed(store, { a: {} });
    expect(await call(() => getRun(deps, run.id))).toEqual({
      status: 200,
      headers: { etag: `"${run.etag}"` },
      json: runView(run),
    });
  });

  test('404 RUN.NOT_FOUND', async () => {
    const { deps } = setup();
    const body = await problem(() => getRun(deps, 'nope'), 404, 'RUN.NOT_FOUND');
    expect(body.detail).toBe("No run with id 'nope'.");
  });
});

describe('getStepOutput', () => {
  test('200 with the full text, as text/plain, its sha256 as the etag', async () => {
    const { deps, store } = setup();
    const run = await seed(store);
    const text = `# Design\n\n${'x'.repeat(5000)}`;
    const ref = await store.putOutput(run.id, 'design', text);
    await store.updateStep(run.id, 'design', { status: 'completed', output: ref });
    expect(await call(() => getStepOutput(deps, run.id, 'design'))).toEqual({
      status: 200,
      headers: { 'content-type': 'text/plain; charset=utf-8', etag: `"${ref.sha256}"` },
      text,
    });
  });

  test('404 RUN.STEP_NOT_FOUND for a step the run does not have', async () => {
    const { deps, store } = setup();
    const run = await seed(store, { design: {} });
    const body = await problem(() => getStepOutput(deps, run.id, 'build'), 404, 'RUN.STEP_NOT_FOUND');
    expect(body.detail).toBe(`Run '${run.id}' has no step 'build'.`);
  });

  test('404 RUN.OUTPUT_NOT_FOUND for a step without output, naming its status', async () => {
    const { deps, store } = setup();
    const run = await seed(store, { design: { status: 'running' } });
    const body = await problem(() => getStepOutput(deps, run.id, 'design'), 404, 'RUN.OUTPUT_NOT_FOUND');
    expect(body.detail).toBe(`Step 'design' of run '${run.id}' has no output (it is running).`);
  });

  test('404 RUN.OUTPUT_NOT_FOUND when the stored text is gone', async () => {
    const { deps, store } = setup();
    const run = await seed(store, { design: { status: 'completed', output: outputRefFor('x', 'gone') } });
    await problem(() => getStepOutput(deps, run.id, 'design'), 404, 'RUN.OUTPUT_NOT_FOUND');
  });

  test('404 RUN.NOT_FOUND for a missing run', async () => {
    const { deps } = setup();
    await problem(() => getStepOutput(deps, 'nope', 'design'), 404, 'RUN.NOT_FOUND');
  });

  test('a step id naming an Object.prototype member is RUN.STEP_NOT_FOUND', async () => {
    const { deps, store } = setup();
    const run = await seed(store, { design: {} });
    for (const stepId of ['constructor', 'toString', '__proto__']) {
      await problem(() => getStepOutput(deps, run.id, stepId), 404, 'RUN.STEP_NOT_FOUND');
    }
  });
});

describe('resumeAfter', () => {
  test('the Last-Event-ID header first, then ?lastEventId, then ?after, else 0', () => {
    expect(resumeAfter('7', q({ lastEventId: '3', after: '1' }))).toBe(7);
    expect(resumeAfter(null, q({ lastEventId: '3', after: '1' }))).toBe(3);
    expect(resumeAfter(undefined, q({ after: '1' }))).toBe(1);
    expect(resumeAfter(null, q())).toBe(0);
    expect(resumeAfter(' 12 ', q())).toBe(12);
    expect(resumeAfter('   ', q())).toBe(0);
    expect(resumeAfter('0', q())).toBe(0);
  });

  test.each(['-1', '1.5', 'abc', 'NaN'])('%j is a 400 on Last-Event-ID', (raw) => {
    const err = (() => {
      try {
        resumeAfter(raw, q());
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toMatchObject({
      code: 'REQUEST.INVALID',
      status: 400,
      violations: [{ path: 'Last-Event-ID', message: 'must be a non-negative integer event id' }],
    });
  });
});

const PREAMBLE = (id: string): string => `retry: 2000\n: run ${id}\n\n`;

/** The next chunk of a stream, or 'TIMEOUT' when none comes within `ms`. */
async function nextWithin(
  gen: AsyncGenerator<string, void, void>,
  ms = 2_000,
): Promise<IteratorResult<string> | 'TIMEOUT'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'TIMEOUT'>((resolve) => {
    timer = setTimeout(() => resolve('TIMEOUT'), ms);
  });
  try {
    return await Promise.race([gen.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every chunk until the stream ends; fails the test (and returns the stream) when it has not ended in `ms`. */
async function drain(gen: AsyncGenerator<string, void, void>, ms = 2_000): Promise<string[]> {
  const deadline = Date.now() + ms;
  const chunks: string[] = [];
  for (;;) {
    const next = await nextWithin(gen, Math.max(1, deadline - Date.now()));
    if (next === 'TIMEOUT' || (!next.done && Date.now() > deadline)) {
      void gen.return();
      throw new Error(`the stream did not end within ${ms} ms; got ${JSON.stringify(chunks.slice(0, 5))}…`);
    }
    if (next.done) return chunks;
    chunks.push(next.value);
  }
}

/** Wraps the store's subscribe so each subscription's stop is observable. */
function spyStops(log: EventLog): jest.Mock[] {
  const stops: jest.Mock[] = [];
  const subscribe = log.subscribe.bind(log);
  jest.spyOn(log, 'subscribe').mockImplementation((...args: Parameters<EventLog['subscribe']>) => {
    const stop = jest.fn(subscribe(...args));
    stops.push(stop);
    return stop;
  });
  return stops;
}

describe('formatRunEvent', () => {
  test('id, event type and the whole event as one data line', () => {
    const e: RunEvent = {
      id: 4,
      runId: 'r',
      type: 'step.delta',
      stepId: 's',
      data: { delta: 'a\nb' },
      at: 'T',
    };
    expect(formatRunEvent(e)).toBe(
      'id: 4\nevent: step.delta\ndata: {"id":4,"runId":"r","type":"step.delta","stepId":"s","data":{"delta":"a\\nb"},"at":"T"}\n\n',
    );
  });
});

describe('runEventStream', () => {
  async function appendAll(store: MemoryRunStore, runId: string, types: string[]): Promise<RunEvent[]> {
    const out: RunEvent[] = [];
    for (const type of types)
      out.push(await store.append(runId, { type, ...(type.startsWith('step') && { stepId: 'a' }) }));
    return out;
  }

  test('a retry hint, then every event in id order with its id, closing after the terminal event', async () => {
    const { store } = setup();
    const events = await appendAll(store, 'r1', [
      'run.started',
      'step.started',
      'step.completed',
      'run.completed',
    ]);
    // Nothing can follow the end: the log is closed.
    await expect(store.append('r1', { type: 'step.delta' })).rejects.toMatchObject({
      code: 'RUN.EVENTS_CLOSED',
    });
    const stops = spyStops(store);
    const chunks = await drain(runEventStream(store, 'r1', 0, 60_000));
    expect(chunks).toEqual([PREAMBLE('r1'), ...events.map(formatRunEvent)]);
    expect(stops).toHaveLength(1);
    expect(stops[0]).toHaveBeenCalledTimes(1);
  });

  test.each(['run.failed', 'run.cancelled'])('%s ends the stream too', async (terminal) => {
    const { store } = setup();
    await appendAll(store, 'r1', ['run.started', terminal]);
    const chunks = await drain(runEventStream(store, 'r1', 0, 60_000));
    expect(chunks.at(-1)).toMatch(new RegExp(`^id: 2\nevent: ${terminal.replace('.', '\\.')}\n`));
  });

  test('resumes after the given id', async () => {
    const { store } = setup();
    const events = await appendAll(store, 'r1', [
      'run.started',
      'step.started',
      'step.completed',
      'run.completed',
    ]);
    const chunks = await drain(runEventStream(store, 'r1', 2, 60_000));
    expect(chunks).toEqual([PREAMBLE('r1'), formatRunEvent(events[2]!), formatRunEvent(events[3]!)]);
  });

  test('delivers events appended while it waits, at once', async () => {
    const { store } = setup();
    const gen = runEventStream(store, 'r1', 0, 60_000);
    expect(await nextWithin(gen)).toEqual({ done: false, value: PREAMBLE('r1') });
    const pending = nextWithin(gen);
    const started = await store.append('r1', { type: 'run.started' });
    expect(await pending).toEqual({ done: false, value: formatRunEvent(started) });
    const pending2 = nextWithin(gen);
    await new Promise((r) => setTimeout(r, 5));
    const done = await store.append('r1', { type: 'run.completed' });
    expect(await pending2).toEqual({ done: false, value: formatRunEvent(done) });
    expect(await nextWithin(gen)).toEqual({ done: true, value: undefined });
  });

  test('a heartbeat comment when nothing happens for heartbeatMs', async () => {
    const { store } = setup();
    const gen = runEventStream(store, 'r1', 0, 5);
    await nextWithin(gen);
    expect(await nextWithin(gen)).toEqual({ done: false, value: ': heartbeat\n\n' });
    expect(await nextWithin(gen)).toEqual({ done: false, value: ': heartbeat\n\n' });
    const done = await store.append('r1', { type: 'run.completed' });
    // Heartbeats may still come first; the terminal event comes, and then the end.
    const rest = await drain(gen);
    expect(rest.filter((c) => c !== ': heartbeat\n\n')).toEqual([formatRunEvent(done)]);
  });

  test('stops its subscription when the consumer returns early', async () => {
    const { store } = setup();
    await appendAll(store, 'r1', ['run.started', 'step.started']);
    const stops = spyStops(store);
    const seen: string[] = [];
    for await (const chunk of runEventStream(store, 'r1', 0, 60_000)) {
      seen.push(chunk);
      if (chunk.includes('event: step.started')) break;
    }
    expect(seen).toHaveLength(3);
    expect(stops[0]).toHaveBeenCalledTimes(1);
  });

  test('stops its subscription when returned right after the retry hint', async () => {
    const { store } = setup();
    const stops = spyStops(store);
    const gen = runEventStream(store, 'r1', 0, 60_000);
    await gen.next();
    expect(await gen.return()).toEqual({ done: true, value: undefined });
    expect(stops[0]).toHaveBeenCalledTimes(1);
    // Later appends reach no one and do not fail.
    await store.append('r1', { type: 'run.started' });
  });

  test('a failing subscription fails the stream (after the events it delivered) and is stopped', async () => {
    const { store } = setup();
    const started = await store.append('r1', { type: 'run.started' });
    const stops = spyStops(store);
    const read = store.read.bind(store);
    jest.spyOn(store, 'read').mockImplementationOnce(read).mockRejectedValueOnce(new Error('log unreadable'));
    const gen = runEventStream(store, 'r1', 0, 60_000);
    expect(await nextWithin(gen)).toEqual({ done: false, value: PREAMBLE('r1') });
    expect(await nextWithin(gen)).toEqual({ done: false, value: formatRunEvent(started) });
    const next = nextWithin(gen);
    await store.append('r1', { type: 'step.started' });
    await expect(next).rejects.toThrow('log unreadable');
    expect(stops[0]).toHaveBeenCalled();
  });

  test('a failure that is no Error is wrapped; queued events still come first', async () => {
    const stop = jest.fn();
    const event: RunEvent = { id: 1, runId: 'r1', type: 'run.started', at: '2025-01-01T00:00:00.000Z' };
    const log = {
      subscribe: (
        _runId: string,
        _after: number,
        onEvent: (e: RunEvent) => void,
        onError?: (e: unknown) => void,
      ) => {
        onEvent(event);
        onError?.('socket closed');
        return stop;
      },
    } as unknown as EventLog;
    const gen = runEventStream(log, 'r1', 0, 60_000);
    expect((await gen.next()).value).toBe(PREAMBLE('r1'));
    expect((await gen.next()).value).toBe(formatRunEvent(event));
    await expect(gen.next()).rejects.toThrow('The event subscription failed: socket closed');
    expect(stop).toHaveBeenCalledTimes(1);
  });
});

describe('runEvents', () => {
  async function withEvents(types: string[]) {
    const ctx = setup();
    const run = await seed(ctx.store);
    for (const type of types) await ctx.store.append(run.id, { type });
    return { ...ctx, run };
  }

  test('a client that already has the terminal event gets the retry hint and the end', async () => {
    const { deps, run } = await withEvents(['run.started', 'run.completed']);
    const res = await call(() => runEvents(deps, run.id, { lastEventId: '2' }, q()));
    expect(res.status).toBe(200);
    const chunks = await drain(res.stream as AsyncGenerator<string, void, void>, 500);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toMatch(/^retry: 2000\n: run .* ended\n\n$/);
  });

  test('a resume at the last event that is not terminal keeps following the run', async () => {
    const { deps, store, run } = await withEvents(['run.started']);
    const res = await call(() => runEvents(deps, run.id, { lastEventId: '1' }, q()));
    const pending = drain(res.stream as AsyncGenerator<string, void, void>, 2000);
    await store.append(run.id, { type: 'run.completed' });
    const chunks = await pending;
    expect(chunks.at(-1)).toMatch(/event: run\.completed/);
  });

  test('SSE by default: the SSE headers and the stream from the Last-Event-ID', async () => {
    const { deps, store, run } = await withEvents(['run.started', 'step.started', 'run.completed']);
    const res = await call(() => runEvents(deps, run.id, { lastEventId: '1' }, q()));
    expect(res.status).toBe(200);
    expect(res.headers).toEqual(SSE_HEADERS);
    const chunks = await drain(res.stream as AsyncGenerator<string, void, void>);
    const events = await store.read(run.id, { afterId: 1 });
    expect(chunks).toEqual([PREAMBLE(run.id), ...events.map(formatRunEvent)]);
  });

  test('Accept naming both JSON and event-stream still gets SSE', async () => {
    const { deps, run } = await withEvents(['run.completed']);
    const res = await call(() =>
      runEvents(deps, run.id, { accept: 'application/json, text/event-stream' }, q()),
    );
    expect(res.headers).toEqual(SSE_HEADERS);
    expect(await drain(res.stream as AsyncGenerator<string, void, void>)).toHaveLength(2);
  });

  test('Accept: application/json gets a JSON page after the resume id, with the last id', async () => {
    const { deps, store, run } = await withEvents(['run.started', 'step.started', 'step.completed']);
    const all = await store.read(run.id);
    const res = await call(() => runEvents(deps, run.id, { accept: 'application/json' }, q({ after: '1' })));
    expect(res).toEqual({ status: 200, json: { items: all.slice(1), lastId: 3 } });
  });

  test.each([
    ['1', 1],
    ['2', 2],
    ['0', 3],
    ['-4', 1],
    ['many', 3],
    ['99999', 3],
  ])('JSON page limit=%j gives %i events', async (limit, count) => {
    const { deps, run } = await withEvents(['run.started', 'step.started', 'step.completed']);
    const res = await call(() => runEvents(deps, run.id, { accept: 'application/json' }, q({ limit })));
    expect((res.json as { items: unknown[]; lastId: number }).items).toHaveLength(count);
    expect((res.json as { lastId: number }).lastId).toBe(3);
  });

  test('a run without events: an empty page, lastId 0', async () => {
    const { deps, run } = await withEvents([]);
    const res = await call(() => runEvents(deps, run.id, { accept: 'application/json' }, q()));
    expect(res.json).toEqual({ items: [], lastId: 0 });
  });

  test('404 RUN.NOT_FOUND for a missing run; 400 for a bad Last-Event-ID', async () => {
    const { deps, run } = await withEvents([]);
    await problem(() => runEvents(deps, 'nope', {}, q()), 404, 'RUN.NOT_FOUND');
    await problem(() => runEvents(deps, run.id, { lastEventId: 'x' }, q()), 400, 'REQUEST.INVALID');
    await problem(
      () => runEvents(deps, run.id, { accept: 'application/json' }, q({ lastEventId: '-1' })),
      400,
      'REQUEST.INVALID',
    );
  });
});

describe('decideApproval', () => {
  const waiting = { kind: 'approval', status: 'waiting_for_approval' as const };

  test('202 with the run, the step and the decision; the event goes to the orchestration', async () => {
    const { deps, store, client } = setup();
    const run = await seed(store, { signoff: waiting }, 'waiting_for_approval');
    const res = await call(() => decideApproval(deps, run.id, { approved: true, comment: 'ok', by: 'ada' }));
    expect(res).toEqual({ status: 202, json: { runId: run.id, stepId: 'signoff', approved: true } });
    expect(client.raised).toEqual([
      {
        instanceId: run.id,
        eventName: 'approval:signoff',
        data: { approved: true, comment: 'ok', by: 'ada' },
      },
    ]);
  });

  test('step_id is accepted for stepId', async () => {
    const { deps, store } = setup();
    const run = await seed(store, { a: waiting, b: waiting }, 'waiting_for_approval');
    const res = await call(() => decideApproval(deps, run.id, { approved: false, step_id: 'b' }));
    expect(res.json).toEqual({ runId: run.id, stepId: 'b', approved: false });
  });

  test('400 REQUEST.INVALID listing every violation of the body', async () => {
    const { deps, store } = setup();
    const run = await seed(store, { signoff: waiting }, 'waiting_for_approval');
    const body = await problem(
      () => decideApproval(deps, run.id, { approved: 'yes', by: 5, extra: 1 }),
      400,
      'REQUEST.INVALID',
    );
    expect(body.violations!.map((v) => v.path).sort()).toEqual(['', 'approved', 'by']);
    await problem(() => decideApproval(deps, run.id, undefined), 400, 'REQUEST.INVALID');
  });

  test('400 when several approvals wait and none is named', async () => {
    const { deps, store } = setup();
    const run = await seed(store, { a: waiting, b: waiting }, 'waiting_for_approval');
    const body = await problem(
      () => decideApproval(deps, run.id, { approved: true }),
      400,
      'REQUEST.INVALID',
    );
    expect(body.violations!.map((v) => v.path)).toEqual(['stepId']);
  });

  test('409 APPROVAL.ALREADY_DECIDED for the second decision, APPROVAL.NOT_PENDING when none waits', async () => {
    const { deps, store } = setup();
    const run = await seed(store, { signoff: waiting }, 'waiting_for_approval');
    const [first, second] = await Promise.all([
      call(() => decideApproval(deps, run.id, { approved: true, stepId: 'signoff' })),
      call(() => decideApproval(deps, run.id, { approved: false, stepId: 'signoff' })),
    ]);
    expect([first.status, second.status].sort()).toEqual([202, 409]);
    const lost = [first, second].find((r) => r.status === 409)!;
    expect((lost.json as ProblemDetails).code).toBe('APPROVAL.ALREADY_DECIDED');
    await problem(() => decideApproval(deps, run.id, { approved: true }), 409, 'APPROVAL.NOT_PENDING');
  });

  test('409 RUN.NOT_ACTIVE for a finished run; 404 RUN.NOT_FOUND for a missing one', async () => {
    const { deps, store } = setup();
    const run = await seed(store, { signoff: waiting }, 'completed');
    await problem(() => decideApproval(deps, run.id, { approved: true }), 409, 'RUN.NOT_ACTIVE');
    await problem(() => decideApproval(deps, 'nope', { approved: true }), 404, 'RUN.NOT_FOUND');
  });
});

describe('cancelRun', () => {
  test('202 cancelling with the location; the reason goes to the orchestration', async () => {
    const { deps, store, client } = setup();
    const run = await seed(store);
    expect(await call(() => cancelRun(deps, run.id, { reason: 'no longer needed' }))).toEqual({
      status: 202,
      headers: { location: `${RUNS_PATH}/${run.id}` },
      json: { runId: run.id, status: 'cancelling' },
    });
    expect(client.raised).toEqual([
      { instanceId: run.id, eventName: CANCEL_EVENT, data: { reason: 'no longer needed' } },
    ]);
  });

  test('no body (undefined or null) or an empty one cancels without a reason', async () => {
    const { deps, store, client } = setup();
    const run = await seed(store);
    for (const body of [undefined, null, {}])
      expect((await call(() => cancelRun(deps, run.id, body))).status).toBe(202);
    expect(client.raised.map((r) => r.data)).toEqual([{}, {}, {}]);
  });

  test('400 REQUEST.INVALID for a bad body', async () => {
    const { deps, store } = setup();
    const run = await seed(store);
    const body = await problem(
      () => cancelRun(deps, run.id, { reason: 42, why: 'x' }),
      400,
      'REQUEST.INVALID',
    );
    expect(body.violations!.map((v) => v.path).sort()).toEqual(['', 'reason']);
    await problem(() => cancelRun(deps, run.id, 'stop'), 400, 'REQUEST.INVALID');
  });

  test('409 RUN.NOT_ACTIVE for a finished run; 404 RUN.NOT_FOUND for a missing one', async () => {
    const { deps, store, client } = setup();
    const run = await seed(store, {}, 'cancelled');
    await problem(() => cancelRun(deps, run.id, {}), 409, 'RUN.NOT_ACTIVE');
    await problem(() => cancelRun(deps, 'nope', {}), 404, 'RUN.NOT_FOUND');
    expect(client.raised).toEqual([]);
  });
});

describe('metrics', () => {
  test('200 with the metrics of the window ending now', async () => {
    const { deps, store } = setup();
    await seed(
      store,
      { a: { status: 'completed', tokens: { prompt: 1, completion: 2, total: 3 } } },
      'completed',
    );
    // The window ends (exclusively) at the request's now: let the clock move past the run's createdAt.
    await new Promise((r) => setTimeout(r, 5));
    const res = await call(() => metrics(deps, q()));
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      window: { runs: 1, truncated: false },
      runs: { byStatus: { completed: 1 }, successRate: 1 },
      tokens: { prompt: 1, completion: 2, total: 3 },
    });
  });

  test('the injected now ends the default window; 400 for a bad window', async () => {
    const { deps } = setup();
    const now = Date.parse('2025-03-01T12:00:00.000Z');
    const res = await call(() => metrics(deps, q(), now));
    expect(res.json).toMatchObject({
      window: { from: '2025-02-28T12:00:00.000Z', to: '2025-03-01T12:00:00.000Z', runs: 0 },
    });
    const body = await problem(() => metrics(deps, q({ from: 'then' })), 400, 'REQUEST.INVALID');
    expect(body.violations).toEqual([{ path: 'from', message: 'must be an ISO 8601 date-time' }]);
  });
});
