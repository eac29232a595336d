/**
 * The RunService over the memory run store, the registry's workflow resolution and validation, and a
 * fake OrchestrationClient that records every call: starts (inline or registered, input checked,
 * idempotent by key, stale pending restarted, start failures), reads, approval decisions, cancels.
 */
import { resolveWorkflow, validateDefinition } from '../../src/api/workflows';
import { AppError, ConflictError, NotFoundError, ValidationError } from '../../src/errors';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';
import { MemoryRunStore } from '../../src/store/memory-runs';
import type { RunRecord, StepRecord } from '../../src/store/runs';
import { approvalEventName, CANCEL_EVENT, WORKFLOW_ORCHESTRATOR } from '../../src/workflows/names';
import {
  RunService,
  STALE_PENDING_MS,
  type OrchestrationClient,
  type RunServiceDeps,
  type WorkflowRunInput,
} from '../../src/workflows/run-service';
import { findBuiltInWorkflow } from '../../src/workflows/templates';
import { agentStep, workflow } from '../fixtures/workflows/builders';

/** Records every call; `failStart` makes startNew reject, `statuses` answers getStatus. */
class FakeClient implements OrchestrationClient {
  readonly started: { name: string; instanceId: string; input: WorkflowRunInput }[] = [];
  readonly raised: { instanceId: string; eventName: string; data: unknown }[] = [];
  readonly statusQueries: string[] = [];
  failStart?: Error;
  failRaise?: Error;
  readonly statuses = new Map<string, { runtimeStatus: string }>();

  async startNew(name: string, instanceId: string, input: unknown): Promise<void> {
    await Promise.resolve();
    if (this.failStart !== undefined) throw this.failStart;
    this.started.push({ name, instanceId, input: input as WorkflowRunInput });
    this.statuses.set(instanceId, { runtimeStatus: 'Pending' });
  }

  async raiseEvent(instanceId: string, eventName: string, data: unknown): Promise<void> {
    await Promise.resolve();
    if (this.failRaise !== undefined) throw this.failRaise;
    this.raised.push({ instanceId, eventName, data });
  }

  async getStatus(instanceId: string): Promise<{ runtimeStatus: string } | undefined> {
    this.statusQueries.push(instanceId);
    return Promise.resolve(this.statuses.get(instanceId));
  }
}

function setup(opts: { now?: () => number } = {}) {
  const runs = new MemoryRunStore();
  const catalog = new MemoryCatalogStore();
  const resolve = jest.fn((id: string, version?: string) => resolveWorkflow(catalog, id, version));
  const validate = jest.fn((def: unknown) => validateDefinition(catalog, def));
  const deps: RunServiceDeps = {
    runs,
    resolveWorkflow: resolve,
    validateDefinition: validate,
    ...(opts.now && { now: opts.now }),
  };
  return { service: new RunService(deps), runs, catalog, resolve, validate, client: new FakeClient() };
}

const PIPELINE = 'agent-studio-pipeline';
const topic = { topic: 'a todo API' };

async function caught(p: Promise<unknown>): Promise<any> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('start', () => {
  test('a registered workflow: a pending run with a pending record per step, and its orchestration', async () => {
    const { service, runs, client } = setup();
    const { run, created } = await service.start({ workflowId: PIPELINE, input: topic }, client);
    expect(created).toBe(true);
    expect(run).toMatchObject({
      workflowId: PIPELINE,
      workflowVersion: '1',
      status: 'pending',
      input: topic,
    });
    expect(run.steps).toEqual({
      design: { id: 'design', kind: 'agent', status: 'pending', attempts: 0, agent: 'architect' },
      implement: { id: 'implement', kind: 'agent', status: 'pending', attempts: 0, agent: 'builder' },
      review: { id: 'review', kind: 'review', status: 'pending', attempts: 0 },
      document: { id: 'document', kind: 'agent', status: 'pending', attempts: 0, agent: 'scribe' },
    });
    expect(run.idempotencyKey).toBeUndefined();
    expect(run.tenantId).toBeUndefined();
    expect(await runs.getRun(run.id)).toEqual(run);
    expect(client.started).toEqual([
      {
        name: WORKFLOW_ORCHESTRATOR,
        instanceId: run.id,
        input: { runId: run.id, definition: findBuiltInWorkflow(PIPELINE), input: topic },
      },
    ]);
  });

  test('the budget, key and tenant of the request go to the orchestration input and the record', async () => {
    const { service, client } = setup();
    const { run } = await service.start(
      {
        workflowId: PIPELINE,
        version: '1',
        input: topic,
        idempotencyKey: 'k-1',
        tenantId: 'acme',
        budget: { maxTokens: 1000 },
      },
      client,
    );
    expect(run).toMatchObject({ idempotencyKey: 'k-1', tenantId: 'acme' });
    expect(client.started[0]!.input.budget).toEqual({ maxTokens: 1000 });
  });

  test('an inline definition is validated (normalized) and pinned into the orchestration input', async () => {
    const { service, client, validate, resolve } = setup();
    const def = workflow([agentStep('greet', 'Say hello to {{ input.name }}')], {
      id: 'inline-flow',
      input: { type: 'object', properties: { name: { type: 'string' } } },
    });
    const { run } = await service.start({ definition: def, input: { name: 'Ada' } }, client);
    expect(validate).toHaveBeenCalledWith(def);
    expect(resolve).not.toHaveBeenCalled();
    expect(run).toMatchObject({ workflowId: 'inline-flow', workflowVersion: '1' });
    expect(client.started[0]!.input.definition).toMatchObject({ id: 'inline-flow', version: '1' });
  });

  test('a workflow without an input schema takes any input, and none is stored as {}', async () => {
    const { service, client } = setup();
    const { run } = await service.start({ definition: workflow([agentStep('a', 'Hi')]) }, client);
    expect(run.input).toEqual({});
    expect(client.started[0]!.input.input).toEqual({});
    const other = await service.start(
      { definition: workflow([agentStep('a', 'Hi')]), input: [1, 2] },
      client,
    );
    expect(other.run.input).toEqual([1, 2]);
  });

  test.each([
    ['both', { workflowId: PIPELINE, definition: workflow([agentStep('a', 'Hi')]) }],
    ['neither', { input: topic }],
  ])('%s of workflowId and definition is REQUEST.INVALID (400) on workflowId', async (_name, req) => {
    const { service, runs, client } = setup();
    const err = await caught(service.start(req, client));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err).toMatchObject({ code: 'REQUEST.INVALID', status: 400 });
    expect(err.violations).toEqual([
      {
        path: 'workflowId',
        message: 'give either workflowId (a registered workflow) or definition (inline)',
      },
    ]);
    expect((await runs.listRuns()).items).toEqual([]);
    expect(client.started).toEqual([]);
  });

  test('an unknown workflow (or version) is WORKFLOW.NOT_FOUND (404); nothing is created', async () => {
    const { service, runs, client } = setup();
    await expect(service.start({ workflowId: 'nope', input: {} }, client)).rejects.toMatchObject({
      code: 'WORKFLOW.NOT_FOUND',
      status: 404,
    });
    await expect(
      service.start({ workflowId: PIPELINE, version: '9', input: topic }, client),
    ).rejects.toBeInstanceOf(NotFoundError);
    expect((await runs.listRuns()).items).toEqual([]);
  });

  test('an invalid inline definition is WORKFLOW.INVALID_DEFINITION (400)', async () => {
    const { service, client } = setup();
    const err = await caught(service.start({ definition: { id: 'x', steps: [] } }, client));
    expect(err).toMatchObject({ code: 'WORKFLOW.INVALID_DEFINITION', status: 400 });
    expect(client.started).toEqual([]);
  });

  test('input failing the schema is RUN.INVALID_INPUT (400), each violation under input.*', async () => {
    const { service, runs, client } = setup();
    const missing = await caught(service.start({ workflowId: PIPELINE }, client));
    expect(missing).toBeInstanceOf(ValidationError);
    expect(missing).toMatchObject({ code: 'RUN.INVALID_INPUT', status: 400 });
    expect(missing.violations).toEqual([{ path: 'input.topic', message: expect.any(String) }]);

    const nested = await caught(
      service.start({ workflowId: 'parallel-analysis', input: { topic: '', aspects: ['ok', 3] } }, client),
    );
    expect(nested.violations.map((v: { path: string }) => v.path).sort()).toEqual([
      'input.aspects.1',
      'input.topic',
    ]);

    const root = await caught(service.start({ workflowId: PIPELINE, input: 'just text' }, client));
    expect(root.violations).toEqual([{ path: 'input', message: expect.any(String) }]);
    expect((await runs.listRuns()).items).toEqual([]);
    expect(client.started).toEqual([]);
  });

  test('a failed start marks the run failed and is RUN.START_FAILED (503, retryable)', async () => {
    const { service, runs, client } = setup();
    const cause = new Error('task hub unavailable');
    client.failStart = cause;
    const err = await caught(service.start({ workflowId: PIPELINE, input: topic }, client));
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'RUN.START_FAILED', status: 503, retryable: true, cause });
    const [run] = (await runs.listRuns()).items;
    expect(err.message).toBe(`Run '${run!.id}' could not start its orchestration.`);
    expect(run).toMatchObject({
      status: 'failed',
      error: {
        code: 'RUN.START_FAILED',
        message: 'The orchestration did not start: Error: task hub unavailable',
      },
    });
  });
});

describe('result publishing', () => {
  it('is left on by default and turned off in the orchestration input without Service Bus', async () => {
    const on = setup();
    await on.service.start({ workflowId: PIPELINE, input: topic }, on.client);
    expect(on.client.started[0]!.input.publishResult).toBeUndefined();

    const runs = new MemoryRunStore();
    const catalog = new MemoryCatalogStore();
    const off = new RunService({
      runs,
      resolveWorkflow: (id, version) => resolveWorkflow(catalog, id, version),
      validateDefinition: (def) => validateDefinition(catalog, def),
      publishResults: false,
    });
    const client = new FakeClient();
    await off.start({ workflowId: PIPELINE, input: topic }, client);
    expect(client.started[0]!.input.publishResult).toBe(false);
  });
});

describe('start with an idempotency key', () => {
  test('a repeated start answers the same run, created: false, and starts nothing', async () => {
    const { service, runs, client } = setup();
    const req = { workflowId: PIPELINE, input: topic, idempotencyKey: 'order-42' };
    const first = await service.start(req, client);
    const second = await service.start(req, client);
    expect(first.created).toBe(true);
    expect(second).toEqual({ run: first.run, created: false });
    expect(client.started).toHaveLength(1);
    expect((await runs.listRuns()).items).toHaveLength(1);
  });

  test('concurrent starts with one key make one run and one orchestration', async () => {
    const { service, runs, client } = setup();
    const req = { workflowId: PIPELINE, input: topic, idempotencyKey: 'burst' };
    const results = await Promise.all(Array.from({ length: 6 }, () => service.start(req, client)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.run.id)).size).toBe(1);
    expect(client.started).toHaveLength(1);
    expect((await runs.listRuns()).items).toHaveLength(1);
  });

  test('the key is per tenant', async () => {
    const { service, client } = setup();
    const a = await service.start(
      { workflowId: PIPELINE, input: topic, idempotencyKey: 'k', tenantId: 'a' },
      client,
    );
    const b = await service.start(
      { workflowId: PIPELINE, input: topic, idempotencyKey: 'k', tenantId: 'b' },
      client,
    );
    expect(b.created).toBe(true);
    expect(b.run.id).not.toBe(a.run.id);
    expect(client.started).toHaveLength(2);
  });

  test('the repeated request is still validated', async () => {
    const { service, client } = setup();
    await service.start({ workflowId: PIPELINE, input: topic, idempotencyKey: 'k' }, client);
    await expect(
      service.start({ workflowId: PIPELINE, input: {}, idempotencyKey: 'k' }, client),
    ).rejects.toMatchObject({ code: 'RUN.INVALID_INPUT' });
  });

  describe('a run still pending with no orchestration behind it', () => {
    /** A run whose starter crashed between creating it and starting its orchestration. */
    async function orphan(req: { workflowId?: string; definition?: unknown; input?: unknown }) {
      let now = Date.now();
      const ctx = setup({ now: () => now });
      const { run } = await ctx.service.start({ ...req, idempotencyKey: 'k' }, new FakeClient());
      const created = Date.parse(run.createdAt);
      return { ...ctx, run, setNow: (ms: number) => (now = created + ms) };
    }

    test('is started again by a repeated start once stale (created: false)', async () => {
      const { service, client, run, setNow, resolve } = await orphan({ workflowId: PIPELINE, input: topic });
      setNow(STALE_PENDING_MS + 1);
      const again = await service.start(
        { workflowId: PIPELINE, input: topic, idempotencyKey: 'k', budget: { maxCostUsd: 2 } },
        client,
      );
      expect(again.created).toBe(false);
      expect(again.run.id).toBe(run.id);
      expect(client.statusQueries).toEqual([run.id]);
      expect(client.started).toEqual([
        {
          name: WORKFLOW_ORCHESTRATOR,
          instanceId: run.id,
          input: {
            runId: run.id,
            definition: findBuiltInWorkflow(PIPELINE),
            input: topic,
            budget: { maxCostUsd: 2 },
          },
        },
      ]);
      // The pinned workflow is the run's own (id and version), resolved again.
      expect(resolve).toHaveBeenLastCalledWith(PIPELINE, '1');
    });

    test('an inline definition is validated again from the repeated request', async () => {
      const def = workflow([agentStep('a', 'Hi')], { id: 'inline-flow' });
      const { service, client, run, setNow, validate } = await orphan({ definition: def });
      setNow(STALE_PENDING_MS + 1);
      await service.start({ definition: def, idempotencyKey: 'k' }, client);
      expect(validate).toHaveBeenCalledTimes(3);
      expect(client.started.map((s) => [s.instanceId, s.input.definition.id])).toEqual([
        [run.id, 'inline-flow'],
      ]);
    });

    test('is left alone while not stale', async () => {
      const { service, client, setNow } = await orphan({ workflowId: PIPELINE, input: topic });
      setNow(STALE_PENDING_MS);
      const again = await service.start({ workflowId: PIPELINE, input: topic, idempotencyKey: 'k' }, client);
      expect(again.created).toBe(false);
      expect(client.statusQueries).toEqual([]);
      expect(client.started).toEqual([]);
    });

    test('is left alone when the orchestration exists after all', async () => {
      const { service, client, run, setNow } = await orphan({ workflowId: PIPELINE, input: topic });
      client.statuses.set(run.id, { runtimeStatus: 'Pending' });
      setNow(STALE_PENDING_MS + 60_000);
      await service.start({ workflowId: PIPELINE, input: topic, idempotencyKey: 'k' }, client);
      expect(client.statusQueries).toEqual([run.id]);
      expect(client.started).toEqual([]);
    });

    test('a run that left pending is never restarted', async () => {
      const { service, client, runs, run, setNow } = await orphan({ workflowId: PIPELINE, input: topic });
      await runs.updateRun(run.id, (r) => {
        r.status = 'running';
      });
      setNow(STALE_PENDING_MS * 10);
      await service.start({ workflowId: PIPELINE, input: topic, idempotencyKey: 'k' }, client);
      expect(client.statusQueries).toEqual([]);
      expect(client.started).toEqual([]);
    });

    test('a restart that fails marks the run failed (RUN.START_FAILED)', async () => {
      const { service, client, runs, run, setNow } = await orphan({ workflowId: PIPELINE, input: topic });
      setNow(STALE_PENDING_MS + 1);
      client.failStart = new Error('still down');
      await expect(
        service.start({ workflowId: PIPELINE, input: topic, idempotencyKey: 'k' }, client),
      ).rejects.toMatchObject({ code: 'RUN.START_FAILED', status: 503 });
      expect(await runs.getRun(run.id)).toMatchObject({
        status: 'failed',
        error: { code: 'RUN.START_FAILED', message: 'The orchestration did not start: Error: still down' },
      });
    });
  });
});

/** A run in the store with the given steps (each `id: [kind, status]`) and run status. */
async function seed(
  runs: MemoryRunStore,
  steps: Record<string, [string, StepRecord['status']]>,
  status: RunRecord['status'] = 'waiting_for_approval',
): Promise<RunRecord> {
  const { run } = await runs.createRun({
    workflowId: 'wf',
    workflowVersion: '1',
    input: {},
    status,
    steps: Object.fromEntries(
      Object.entries(steps).map(([id, [kind, s]]) => [id, { id, kind, status: s, attempts: 0 }]),
    ),
  });
  return run;
}

describe('get', () => {
  test('the run, or RUN.NOT_FOUND (404)', async () => {
    const { service, runs } = setup();
    const run = await seed(runs, {}, 'running');
    expect(await service.get(run.id)).toEqual(run);
    await expect(service.get('missing')).rejects.toMatchObject({ code: 'RUN.NOT_FOUND', status: 404 });
  });
});

describe('decide', () => {
  test('the one waiting approval: the step leaves waiting, the decision is raised without stepId', async () => {
    const { service, runs, client } = setup();
    const run = await seed(runs, {
      design: ['agent', 'completed'],
      signoff: ['approval', 'waiting_for_approval'],
    });
    const out = await service.decide(run.id, { approved: true, comment: 'ship it', by: 'ada' }, client);
    expect(out.stepId).toBe('signoff');
    expect(out.run.steps.signoff!.status).toBe('running');
    expect(out.run.etag).not.toBe(run.etag);
    expect((await runs.getRun(run.id))!.steps.signoff!.status).toBe('running');
    expect(client.raised).toEqual([
      {
        instanceId: run.id,
        eventName: approvalEventName('signoff'),
        data: { approved: true, comment: 'ship it', by: 'ada' },
      },
    ]);
  });

  test('of two concurrent decisions exactly one wins; the other is APPROVAL.ALREADY_DECIDED (409)', async () => {
    const { service, runs, client } = setup();
    const run = await seed(runs, { signoff: ['approval', 'waiting_for_approval'] });
    const results = await Promise.allSettled([
      service.decide(run.id, { approved: true }, client),
      service.decide(run.id, { approved: false }, client),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(ConflictError);
    expect(lost[0]!.reason).toMatchObject({ code: 'APPROVAL.ALREADY_DECIDED', status: 409 });
    expect(client.raised).toHaveLength(1);
  });

  test('a later decision on a decided approval is APPROVAL.ALREADY_DECIDED', async () => {
    const { service, runs, client } = setup();
    const run = await seed(runs, { signoff: ['approval', 'waiting_for_approval'] });
    await service.decide(run.id, { approved: true }, client);
    const err = await caught(service.decide(run.id, { approved: true, stepId: 'signoff' }, client));
    expect(err).toMatchObject({ code: 'APPROVAL.ALREADY_DECIDED', status: 409 });
    expect(err.message).toBe(`Approval 'signoff' of run '${run.id}' was already decided.`);
  });

  test('several waiting: stepId must name one (400 on stepId), and then that one is decided', async () => {
    const { service, runs, client } = setup();
    const run = await seed(runs, {
      legal: ['approval', 'waiting_for_approval'],
      security: ['approval', 'waiting_for_approval'],
    });
    const err = await caught(service.decide(run.id, { approved: true }, client));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.violations).toEqual([
      { path: 'stepId', message: 'several approvals are waiting (legal, security): name one' },
    ]);
    const out = await service.decide(run.id, { approved: false, stepId: 'security' }, client);
    expect(out.stepId).toBe('security');
    expect(out.run.steps.legal!.status).toBe('waiting_for_approval');
    expect(client.raised).toEqual([
      { instanceId: run.id, eventName: 'approval:security', data: { approved: false } },
    ]);
  });

  test('nothing waiting is APPROVAL.NOT_PENDING (409)', async () => {
    const { service, runs, client } = setup();
    const run = await seed(runs, { signoff: ['approval', 'pending'] }, 'running');
    const err = await caught(service.decide(run.id, { approved: true }, client));
    expect(err).toMatchObject({ code: 'APPROVAL.NOT_PENDING', status: 409 });
    expect(err.message).toBe(`Run '${run.id}' is not waiting for an approval.`);
  });

  test('a step the run does not have is APPROVAL.NOT_PENDING naming it', async () => {
    const { service, runs, client } = setup();
    const run = await seed(runs, { signoff: ['approval', 'waiting_for_approval'] });
    const err = await caught(service.decide(run.id, { approved: true, stepId: 'other' }, client));
    expect(err).toMatchObject({ code: 'APPROVAL.NOT_PENDING', status: 409 });
    expect(err.message).toBe(`Run '${run.id}' has no step 'other'.`);
  });

  test.each([
    ['an approval not reached yet', 'approval', 'pending'],
    ['an agent step', 'agent', 'running'],
    ['a completed agent step', 'agent', 'completed'],
  ] as const)('naming %s is APPROVAL.NOT_PENDING', async (_name, kind, status) => {
    const { service, runs, client } = setup();
    const run = await seed(runs, { target: [kind, status], signoff: ['approval', 'waiting_for_approval'] });
    const err = await caught(service.decide(run.id, { approved: true, stepId: 'target' }, client));
    expect(err).toMatchObject({ code: 'APPROVAL.NOT_PENDING', status: 409 });
    expect(err.message).toBe(`Step 'target' of run '${run.id}' is not waiting for an approval.`);
    expect(client.raised).toEqual([]);
  });

  test.each(['completed', 'failed', 'cancelled'] as const)(
    'a %s run is RUN.NOT_ACTIVE (409)',
    async (status) => {
      const { service, runs, client } = setup();
      const run = await seed(runs, { signoff: ['approval', 'waiting_for_approval'] }, status);
      const err = await caught(service.decide(run.id, { approved: true }, client));
      expect(err).toMatchObject({ code: 'RUN.NOT_ACTIVE', status: 409 });
      expect(err.message).toBe(`Run '${run.id}' is ${status}: it takes no more decisions.`);
      expect(client.raised).toEqual([]);
    },
  );

  test('a run that ends between the read and the decision is RUN.NOT_ACTIVE', async () => {
    const { service, runs, client } = setup();
    const run = await seed(runs, { signoff: ['approval', 'waiting_for_approval'] });
    // The service read the run while it waited; it was cancelled before the decision's write.
    jest.spyOn(runs, 'getRun').mockResolvedValueOnce(structuredClone(run));
    await runs.updateRun(run.id, (r) => {
      r.status = 'cancelled';
    });
    await expect(service.decide(run.id, { approved: true }, client)).rejects.toMatchObject({
      code: 'RUN.NOT_ACTIVE',
    });
    expect((await runs.getRun(run.id))!.steps.signoff!.status).toBe('waiting_for_approval');
    expect(client.raised).toEqual([]);
  });

  test('a missing run is RUN.NOT_FOUND', async () => {
    const { service, client } = setup();
    await expect(service.decide('nope', { approved: true }, client)).rejects.toMatchObject({
      code: 'RUN.NOT_FOUND',
      status: 404,
    });
  });

  test('a decision whose event could not be raised can be made again', async () => {
    const { service, runs, client } = setup();
    const run = await seed(runs, { signoff: ['approval', 'waiting_for_approval'] });
    client.failRaise = new Error('task hub unavailable');
    await expect(service.decide(run.id, { approved: true }, client)).rejects.toThrow('task hub unavailable');
    client.failRaise = undefined;
    await service.decide(run.id, { approved: true }, client);
    expect(client.raised).toEqual([
      { instanceId: run.id, eventName: 'approval:signoff', data: { approved: true } },
    ]);
  });
});

describe('cancel', () => {
  test('raises the cancel event with the reason, or an empty payload', async () => {
    const { service, runs, client } = setup();
    const run = await seed(runs, {}, 'running');
    expect(await service.cancel(run.id, 'not needed', client)).toEqual(run);
    await service.cancel(run.id, undefined, client);
    expect(client.raised).toEqual([
      { instanceId: run.id, eventName: CANCEL_EVENT, data: { reason: 'not needed' } },
      { instanceId: run.id, eventName: CANCEL_EVENT, data: {} },
    ]);
  });

  test.each(['completed', 'failed', 'cancelled'] as const)(
    'a %s run is RUN.NOT_ACTIVE (409)',
    async (status) => {
      const { service, runs, client } = setup();
      const run = await seed(runs, {}, status);
      const err = await caught(service.cancel(run.id, undefined, client));
      expect(err).toMatchObject({ code: 'RUN.NOT_ACTIVE', status: 409 });
      expect(err.message).toBe(`Run '${run.id}' is ${status}: there is nothing to cancel.`);
      expect(client.raised).toEqual([]);
    },
  );

  test('a missing run is RUN.NOT_FOUND', async () => {
    const { service, client } = setup();
    await expect(service.cancel('nope', undefined, client)).rejects.toMatchObject({ code: 'RUN.NOT_FOUND' });
  });
});
