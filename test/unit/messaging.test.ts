/**
 * Service Bus work without a broker: job intake (parse, start once, dead-letter reasons), result
 * messages (body, destination, properties) and the long-task worker (stored outcome, failures),
 * over the memory stores, a RunService and recording fakes of the durable client and the bus.
 */
import { resolveWorkflow, validateDefinition } from '../../src/api/workflows';
import type { AgentRunResult, AgentService } from '../../src/agents/types';
import { AppError } from '../../src/errors';
import type { MessageBus, OutgoingMessage, Settlement } from '../../src/messaging/bus';
import { createMessageBus, createServiceBusClient } from '../../src/messaging/bus';
import { agentJobDefinition, handleJob, parseJob, type JobMessage } from '../../src/messaging/jobs';
import { MAX_INLINE_OUTPUT_BYTES, publishResult, resultMessage } from '../../src/messaging/results';
import { enqueueTask, runTask } from '../../src/messaging/tasks';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';
import { MemoryRunStore } from '../../src/store/memory-runs';
import type { RunRecord } from '../../src/store/runs';
import type { LongTaskInput, TaskOutcome } from '../../src/workflows/engine-port';
import { RESULTS_TOPIC, TASKS_QUEUE, WORKFLOW_ORCHESTRATOR } from '../../src/workflows/names';
import { RunService, type OrchestrationClient } from '../../src/workflows/run-service';

class FakeClient implements OrchestrationClient {
  readonly started: { name: string; instanceId: string; input: unknown }[] = [];
  failStart?: Error;
  async startNew(name: string, instanceId: string, input: unknown): Promise<void> {
    await Promise.resolve();
    if (this.failStart) throw this.failStart;
    this.started.push({ name, instanceId, input });
  }
  raiseEvent = async (): Promise<void> => Promise.resolve();
  getStatus = async (): Promise<undefined> => Promise.resolve(undefined);
}

class FakeBus implements MessageBus {
  readonly sent: { entity: string; message: OutgoingMessage }[] = [];
  readonly settled: { entity: string; lockToken: string; settlement: Settlement }[] = [];
  fail?: Error;
  async send(entity: string, message: OutgoingMessage): Promise<void> {
    await Promise.resolve();
    if (this.fail) throw this.fail;
    this.sent.push({ entity, message: structuredClone(message) });
  }
  async settle(entity: string, lockToken: string, settlement: Settlement): Promise<void> {
    await Promise.resolve();
    this.settled.push({ entity, lockToken, settlement });
  }
  close = async (): Promise<void> => Promise.resolve();
}

function setup() {
  const runs = new MemoryRunStore();
  const catalog = new MemoryCatalogStore();
  const service = new RunService({
    runs,
    resolveWorkflow: (id, version) => resolveWorkflow(catalog, id, version),
    validateDefinition: (def) => validateDefinition(catalog, def),
  });
  return { runs, catalog, service, client: new FakeClient() };
}

const job = (body: unknown, more: Partial<JobMessage> = {}): JobMessage => ({ body, ...more });
const pipelineJob = { jobId: 'job-1', workflowId: 'agent-studio-pipeline', input: { topic: 'a todo API' } };

describe('parseJob', () => {
  it.each([
    ['JSON text', JSON.stringify(pipelineJob)],
    ['bytes', Buffer.from(JSON.stringify(pipelineJob))],
    ['an object', pipelineJob],
  ])('accepts a job as %s', (_what, body) => {
    expect(parseJob(job(body))).toEqual({ ok: true, job: pipelineJob });
  });

  it.each([
    ['not JSON', '{"jobId": ', 'The body is not JSON'],
    ['no jobId', { workflowId: 'w', input: {} }, 'jobId'],
    ['a jobId with a slash', { ...pipelineJob, jobId: 'a/b' }, 'jobId: letters, digits'],
    [
      'both targets',
      { ...pipelineJob, agentType: 'architect' },
      'give exactly one of workflowId and agentType',
    ],
    ['no target', { jobId: 'j', input: {} }, 'give exactly one of workflowId and agentType'],
    ['input not an object', { ...pipelineJob, input: 'x' }, 'input'],
    ['an unknown field', { ...pipelineJob, workflowID: 'typo' }, 'workflowID'],
  ])('refuses %s with JOB.INVALID and says why', (_what, body, says) => {
    const parsed = parseJob(job(body));
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.reason).toBe('JOB.INVALID');
    expect(parsed.description).toContain(says);
  });

  it('clips a long description to 1024 characters', () => {
    const body = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`unknownField${i}`, i]));
    const parsed = parseJob(job({ ...pipelineJob, ...body }));
    expect(parsed.ok || parsed.description.length).toBe(1024);
  });
});

describe('handleJob', () => {
  it('starts the run with the job id as run id, once however often the job comes', async () => {
    const { service, client, runs } = setup();
    const message = job(pipelineJob, { correlationId: 'c-1', replyTo: 'replies', sessionId: 's-1' });
    const first = await handleJob({ service, client }, message);
    const again = await handleJob({ service, client }, message);
    expect(first).toEqual({ action: 'complete', runId: 'job-1', created: true });
    expect(again).toEqual({ action: 'complete', runId: 'job-1', created: false });
    expect(client.started.map((s) => [s.name, s.instanceId])).toEqual([[WORKFLOW_ORCHESTRATOR, 'job-1']]);
    const run = (await runs.getRun('job-1'))!;
    expect(run.origin).toEqual({
      source: 'servicebus',
      jobId: 'job-1',
      correlationId: 'c-1',
      replyTo: 'replies',
      replyToSessionId: 's-1',
    });
    expect(run.idempotencyKey).toBe('job:job-1');
  });

  it('lets the job fields win over the message properties', async () => {
    const { service, client, runs } = setup();
    await handleJob(
      { service, client },
      job(
        { ...pipelineJob, correlationId: 'body-c', replyTo: 'body-q', tenantId: 't-1' },
        { correlationId: 'prop-c', replyTo: 'prop-q', replyToSessionId: 'rs', sessionId: 's' },
      ),
    );
    const run = (await runs.getRun('job-1'))!;
    expect(run.tenantId).toBe('t-1');
    expect(run.origin).toMatchObject({ correlationId: 'body-c', replyTo: 'body-q', replyToSessionId: 'rs' });
  });

  it('runs one agent for an agentType job', async () => {
    const { service, client } = setup();
    const outcome = await handleJob(
      { service, client },
      job({
        jobId: 'a-1',
        agentType: 'Architect',
        input: { prompt: 'Design a cache', context: { scale: 'big' } },
      }),
    );
    expect(outcome).toMatchObject({ action: 'complete', runId: 'a-1' });
    const input = client.started[0]!.input as { definition: { steps: unknown[] } };
    expect(input.definition.steps).toEqual([
      expect.objectContaining({
        kind: 'agent',
        agent: 'architect',
        prompt: '{{ input.prompt }}',
        context: { scale: '{{ input.context.scale }}' },
      }),
    ]);
  });

  it.each([
    ['an unknown workflow', { ...pipelineJob, workflowId: 'nope' }, 'WORKFLOW.NOT_FOUND'],
    [
      'an unknown agent',
      { jobId: 'a-2', agentType: 'poet', input: { prompt: 'x' } },
      'WORKFLOW.INVALID_DEFINITION',
    ],
    ['an agent job without a prompt', { jobId: 'a-3', agentType: 'echo', input: {} }, 'RUN.INVALID_INPUT'],
    ['a bad body', { jobId: 'x' }, 'JOB.INVALID'],
  ])('dead-letters %s with its code as the reason', async (_what, body, reason) => {
    const { service, client } = setup();
    const outcome = await handleJob({ service, client }, job(body));
    expect(outcome).toMatchObject({ action: 'deadLetter', reason });
    expect(client.started).toHaveLength(0);
    if (outcome.action === 'deadLetter') expect(outcome.description.length).toBeGreaterThan(10);
  });

  it('throws (so the message comes back) when the task hub is unavailable, and starts on redelivery', async () => {
    const { service, client, runs } = setup();
    client.failStart = new Error('hub down');
    await expect(handleJob({ service, client }, job(pipelineJob))).rejects.toMatchObject({
      code: 'RUN.START_FAILED',
    });
    expect((await runs.getRun('job-1'))!.status).toBe('failed');
    delete client.failStart;
    expect(await handleJob({ service, client }, job(pipelineJob))).toMatchObject({
      action: 'complete',
      runId: 'job-1',
    });
    expect(client.started.map((s) => s.instanceId)).toEqual(['job-1']);
    const run = (await runs.getRun('job-1'))!;
    expect(run.status).toBe('pending');
    expect(run.error).toBeUndefined();
  });

  it('builds a definition the registry accepts', async () => {
    const { catalog } = setup();
    await expect(
      validateDefinition(catalog, agentJobDefinition('scribe', { prompt: 'x', context: { 'not an id': 1 } })),
    ).resolves.toMatchObject({ id: 'agent-scribe' });
  });
});

const finished = (more: Partial<RunRecord> = {}): RunRecord => ({
  id: 'run-9',
  workflowId: 'wf',
  workflowVersion: '2',
  status: 'completed',
  input: {},
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:05.000Z',
  startedAt: '2026-01-01T00:00:01.000Z',
  completedAt: '2026-01-01T00:00:05.000Z',
  steps: {
    a: {
      id: 'a',
      kind: 'agent',
      status: 'completed',
      attempts: 1,
      completedAt: '2026-01-01T00:00:02.000Z',
      summary: 'A',
      output: { ref: 'r/a', bytes: 1, sha256: 'x' },
    },
    b: {
      id: 'b',
      kind: 'agent',
      status: 'completed',
      attempts: 1,
      completedAt: '2026-01-01T00:00:04.000Z',
      summary: 'B',
      output: { ref: 'r/b', bytes: 1, sha256: 'y' },
    },
    c: { id: 'c', kind: 'approval', status: 'skipped', attempts: 0 },
  },
  totals: {
    tokens: { prompt: 1, completion: 2, total: 3 },
    cost: { currency: 'USD', total: 0.01 },
    durationMs: 4000,
  },
  etag: 'e',
  ...more,
});

describe('result messages', () => {
  it('go to agent-results with the run summary and the final output', () => {
    const { entity, message } = resultMessage(finished(), 'the answer');
    expect(entity).toBe(RESULTS_TOPIC);
    expect(message).toMatchObject({
      messageId: 'run-9:result',
      subject: 'run.completed',
      contentType: 'application/json',
      applicationProperties: { runId: 'run-9', workflowId: 'wf', status: 'completed' },
    });
    expect(message.correlationId).toBeUndefined();
    expect(message.sessionId).toBeUndefined();
    expect(message.body).toMatchObject({
      runId: 'run-9',
      status: 'completed',
      output: { stepId: 'b', text: 'the answer', summary: 'B' },
      steps: { a: { status: 'completed', summary: 'A' }, c: { status: 'skipped' } },
      totals: { tokens: { total: 3 } },
      links: { run: '/api/v1/runs/run-9', events: '/api/v1/runs/run-9/events' },
    });
  });

  it("honour the job's replyTo, reply session and correlation id", () => {
    const { entity, message } = resultMessage(
      finished({
        status: 'failed',
        tenantId: 't',
        error: { code: 'STEP.FAILED', message: 'boom' },
        origin: {
          source: 'servicebus',
          jobId: 'j',
          correlationId: 'c',
          replyTo: 'my-replies',
          replyToSessionId: 's',
        },
      }),
    );
    expect(entity).toBe('my-replies');
    expect(message).toMatchObject({ correlationId: 'c', sessionId: 's', subject: 'run.failed' });
    expect(message.applicationProperties).toMatchObject({ tenantId: 't' });
    expect(message.body).toMatchObject({
      jobId: 'j',
      error: { code: 'STEP.FAILED' },
      output: { ref: { ref: 'r/b' } },
    });
  });

  it('use the job id as correlation id when the job gave none', () => {
    const { message } = resultMessage(finished({ origin: { source: 'servicebus', jobId: 'j-7' } }));
    expect(message.correlationId).toBe('j-7');
  });

  it('are published once the run finished, with small outputs inline and large ones by reference', async () => {
    const runs = new MemoryRunStore();
    const bus = new FakeBus();
    const { run } = await runs.createRun({
      workflowId: 'wf',
      workflowVersion: '1',
      input: {},
      status: 'running',
    });
    expect(await publishResult({ bus, runs }, run.id)).toBe(false);
    expect(await publishResult({ bus, runs }, 'no-such-run')).toBe(false);
    const small = await runs.putOutput(run.id, 'a', 'small answer');
    await runs.updateRun(run.id, (r) => {
      r.status = 'completed';
      r.steps.a = {
        id: 'a',
        kind: 'agent',
        status: 'completed',
        attempts: 1,
        output: small,
        completedAt: 'x',
      };
    });
    expect(await publishResult({ bus, runs }, run.id)).toBe(true);
    expect(bus.sent[0]!.message.body).toMatchObject({ output: { stepId: 'a', text: 'small answer' } });

    const large = await runs.putOutput(run.id, 'a', 'x'.repeat(MAX_INLINE_OUTPUT_BYTES + 1));
    await runs.updateRun(run.id, (r) => void (r.steps.a!.output = large));
    await publishResult({ bus, runs }, run.id);
    expect(bus.sent[1]!.message.body).toMatchObject({ output: { ref: large, bytes: large.bytes } });

    bus.fail = new Error('namespace unreachable');
    await expect(publishResult({ bus, runs }, run.id)).rejects.toThrow('namespace unreachable');
  });
});

const result = (agent: string): AgentRunResult => ({
  agentType: agent,
  output: 'built it',
  tokenUsage: { prompt: 3, completion: 2, total: 5 },
  model: 'offline-1',
  provider: 'offline',
  durationMs: 1,
  metadata: {},
  timestamp: '2026-01-01T00:00:00.000Z',
  cost: { currency: 'USD', input: 0, output: 0, total: 0.001 },
});

describe('long tasks', () => {
  async function worker(fail?: Error) {
    const runs = new MemoryRunStore();
    const { run } = await runs.createRun({
      workflowId: 'wf',
      workflowVersion: '1',
      input: {},
      status: 'running',
    });
    let calls = 0;
    const agents: AgentService = {
      resolve: async () => undefined,
      list: async () => [],
      execute: async (task) => {
        calls++;
        if (fail) throw fail;
        return result(task.agent);
      },
      async *stream(task) {
        calls++;
        await Promise.resolve();
        if (fail) throw fail;
        yield 'built it';
        return result(task.agent);
      },
    };
    const raised: { instanceId: string; eventName: string; payload: TaskOutcome }[] = [];
    const deps = {
      activity: { agents, runs, events: runs, deltaFlushMs: 0 },
      runs,
      raiseEvent: async (instanceId: string, eventName: string, payload: unknown) => {
        await Promise.resolve();
        raised.push({ instanceId, eventName, payload: payload as TaskOutcome });
      },
    };
    const task: LongTaskInput = {
      taskId: `${run.id}:build:1`,
      instanceId: run.id,
      activity: 'agent_builder',
      input: {
        runId: run.id,
        stepId: 'build',
        call: 'build',
        agent: 'builder',
        prompt: 'Build',
        vars: { input: {}, steps: {} },
        attempt: 1,
      },
    };
    return { runs, run, deps, task, raised, calls: () => calls };
  }

  it('run the agent once, store the outcome and raise it; a redelivery replays the stored outcome', async () => {
    const w = await worker();
    expect(await runTask(w.deps, w.task)).toBe('ran');
    expect(await runTask(w.deps, JSON.stringify(w.task))).toBe('replayed');
    expect(w.calls()).toBe(1);
    expect(w.raised.map((r) => [r.instanceId, r.eventName])).toEqual([
      [w.run.id, `task:${w.task.taskId}`],
      [w.run.id, `task:${w.task.taskId}`],
    ]);
    expect(w.raised[0]!.payload).toEqual(w.raised[1]!.payload);
    expect(w.raised[0]!.payload).toMatchObject({
      ok: true,
      result: { summary: 'built it', model: 'offline-1' },
    });
    expect((await w.runs.getRun(w.run.id))!.tasks).toEqual({ [w.task.taskId]: w.raised[0]!.payload });
  });

  it('report an agent failure as the outcome, with its code', async () => {
    const w = await worker(new AppError('LLM.RATE_LIMITED', 'slow down'));
    expect(await runTask(w.deps, w.task)).toBe('ran');
    expect(w.raised[0]!.payload).toEqual({
      ok: false,
      error: { code: 'LLM.RATE_LIMITED', message: 'slow down' },
    });
  });

  it('do nothing for a run that is gone, and refuse a message that is not a task', async () => {
    const w = await worker();
    expect(await runTask(w.deps, { ...w.task, input: { ...w.task.input, runId: 'gone' } })).toBe('gone');
    await expect(runTask(w.deps, { taskId: 'x' })).rejects.toMatchObject({ code: 'TASK.INVALID' });
    expect(w.calls()).toBe(0);
  });

  it('are enqueued with the task id as message id, or refused without a bus', async () => {
    const w = await worker();
    const bus = new FakeBus();
    await enqueueTask(bus, w.task);
    expect(bus.sent).toEqual([
      {
        entity: TASKS_QUEUE,
        message: {
          body: w.task,
          messageId: w.task.taskId,
          subject: 'agent_builder',
          applicationProperties: { runId: w.run.id, stepId: 'build' },
        },
      },
    ]);
    await expect(enqueueTask(undefined, w.task)).rejects.toMatchObject({ code: 'TASK.QUEUE_UNAVAILABLE' });
  });
});

describe('the Service Bus client', () => {
  it('is made from a connection string, a namespace (managed identity) or not at all', async () => {
    expect(createServiceBusClient({})).toBeUndefined();
    expect(createMessageBus({})).toBeUndefined();
    const local = createServiceBusClient({
      connectionString:
        'Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true',
    })!;
    expect(local.fullyQualifiedNamespace).toBe('127.0.0.1');
    await local.close();
    const azure = createServiceBusClient({
      fullyQualifiedNamespace: 'ns.servicebus.windows.net',
      clientId: 'id-1',
    })!;
    expect(azure.fullyQualifiedNamespace).toBe('ns.servicebus.windows.net');
    await azure.close();
  });
});
