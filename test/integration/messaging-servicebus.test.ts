/**
 * The app's Service Bus contracts on the local host, with the real @azure/service-bus SDK over the
 * host's AMQP endpoint (loopback): a job on `agent-jobs` starts its run once (redeliveries and
 * duplicates included), an invalid job is dead-lettered with its reason and description, every
 * finished run publishes its result on `agent-results` (or the job's replyTo, in its reply session),
 * and a long step runs through `agent-tasks` and its worker.
 */
import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';
import { getServices } from '../../src/app';
import { JOBS_QUEUE, RESULTS_SUBSCRIPTION, RESULTS_TOPIC, TASKS_QUEUE } from '../../src/workflows/names';
import { bodyOf, isFinished, startProjectHost, waitForRun, type ProjectHost } from '../helpers/project-host';

jest.setTimeout(60_000);

let ph: ProjectHost;
let client: ServiceBusClient;

beforeAll(async () => {
  ph = await startProjectHost('sb-contracts', { RUN_DELTA_FLUSH_MS: '0' }, { amqp: true });
  // The host hands its AMQP endpoint to the app when no connection is configured.
  expect(process.env.ServiceBusConnection).toBe(ph.host.amqpConnectionString);
  client = new ServiceBusClient(ph.host.amqpConnectionString!, {
    retryOptions: { maxRetries: 1, timeoutInMs: 5000 },
  });
});

afterAll(async () => {
  await client?.close();
  await ph?.stop();
  expect(process.env.ServiceBusConnection).toBeUndefined();
});

/** Receives until `match` has seen `count` messages (completing every one), or fails after `ms`. */
async function collect(
  entity: string,
  count: number,
  match: (m: ServiceBusReceivedMessage) => boolean,
  ms = 20_000,
  subscription?: string,
): Promise<ServiceBusReceivedMessage[]> {
  const receiver = subscription ? client.createReceiver(entity, subscription) : client.createReceiver(entity);
  const found: ServiceBusReceivedMessage[] = [];
  const end = Date.now() + ms;
  try {
    while (found.length < count && Date.now() < end) {
      const got = await receiver.receiveMessages(10, { maxWaitTimeInMs: 500 });
      for (const m of got) {
        await receiver.completeMessage(m);
        if (match(m)) found.push(m);
      }
    }
  } finally {
    await receiver.close();
  }
  return found;
}

const results = (runId: string, count = 1, ms?: number) =>
  collect(RESULTS_TOPIC, count, (m) => m.applicationProperties?.runId === runId, ms, RESULTS_SUBSCRIPTION);

async function send(
  entity: string,
  ...messages: Parameters<ReturnType<ServiceBusClient['createSender']>['sendMessages']>[0][]
) {
  const sender = client.createSender(entity);
  try {
    for (const m of messages) await sender.sendMessages(m);
  } finally {
    await sender.close();
  }
}

describe('job intake on agent-jobs', () => {
  it('starts one run per job id however often it is sent, and publishes its result', async () => {
    const job = {
      jobId: 'job-pipeline-1',
      workflowId: 'design-review-chat',
      input: { topic: 'a rate limiter' },
    };
    await send(
      JOBS_QUEUE,
      { body: job, correlationId: 'corr-1' },
      { body: job, correlationId: 'corr-1' },
      { body: JSON.stringify(job), contentType: 'application/json' },
    );
    const run = await waitForRun(ph, 'job-pipeline-1', isFinished, 30_000);
    expect(run.status).toBe('completed');
    expect(run.origin).toEqual({ source: 'servicebus', jobId: 'job-pipeline-1', correlationId: 'corr-1' });
    const list = await bodyOf(ph.send('GET', '/api/v1/runs?workflowId=design-review-chat&limit=50'));
    expect(list.items.filter((r: { id: string }) => r.id === 'job-pipeline-1')).toHaveLength(1);

    const [result] = await results('job-pipeline-1');
    expect(result).toBeDefined();
    expect(result!.messageId).toBe('job-pipeline-1:result');
    expect(result!.correlationId).toBe('corr-1');
    expect(result!.subject).toBe('run.completed');
    expect(result!.body).toMatchObject({
      runId: 'job-pipeline-1',
      jobId: 'job-pipeline-1',
      status: 'completed',
      workflowId: 'design-review-chat',
      output: { text: expect.any(String) },
    });
    // Nothing is left on the intake queue, alive or dead.
    const peeked = await client.createReceiver(JOBS_QUEUE).peekMessages(10);
    expect(peeked).toHaveLength(0);
  });

  it('dead-letters an invalid job with the reason and a description, and starts nothing', async () => {
    await send(
      JOBS_QUEUE,
      { body: { jobId: 'bad-1', input: {} }, messageId: 'bad-1' },
      { body: { jobId: 'bad-2', workflowId: 'no-such-workflow', input: {} }, messageId: 'bad-2' },
      { body: '{"jobId": ', messageId: 'bad-3' },
    );
    const dead = await collect(`${JOBS_QUEUE}/$DeadLetterQueue`, 3, (m) => /^bad-/.test(String(m.messageId)));
    const byId = Object.fromEntries(dead.map((m) => [m.messageId, m]));
    expect(byId['bad-1']!.deadLetterReason).toBe('JOB.INVALID');
    expect(byId['bad-1']!.deadLetterErrorDescription).toContain(
      'give exactly one of workflowId and agentType',
    );
    expect(byId['bad-2']!.deadLetterReason).toBe('WORKFLOW.NOT_FOUND');
    expect(byId['bad-2']!.deadLetterErrorDescription).toContain('no-such-workflow');
    expect(byId['bad-3']!.deadLetterReason).toBe('JOB.INVALID');
    expect(byId['bad-3']!.deadLetterErrorDescription).toContain('not JSON');
    expect(byId['bad-1']!.deliveryCount).toBe(1); // not retried first
    expect((await ph.send('GET', '/api/v1/runs/bad-2')).status).toBe(404);
  });

  it("sends an agent job's result to its replyTo queue, in its reply session", async () => {
    await send(JOBS_QUEUE, {
      body: { jobId: 'agent-job-1', agentType: 'Scribe', input: { prompt: 'Document a cache' } },
      replyTo: 'my-replies',
      replyToSessionId: 'session-7',
    });
    const run = await waitForRun(ph, 'agent-job-1', isFinished, 30_000);
    expect(run.status).toBe('completed');
    const [reply] = await collect('my-replies', 1, (m) => m.applicationProperties?.runId === 'agent-job-1');
    expect(reply!.sessionId).toBe('session-7');
    expect(reply!.correlationId).toBe('agent-job-1');
    expect(reply!.body).toMatchObject({ status: 'completed', output: { stepId: 'agent' } });
  });
});

describe('results of runs started over HTTP', () => {
  it('are published for failed runs too', async () => {
    const res = await ph.send('POST', '/api/v1/runs', {
      definition: {
        id: 'will-fail',
        name: 'Will fail',
        steps: [{ id: 'gate', kind: 'approval', prompt: 'Go?', timeout: 'PT1S', onTimeout: 'fail' }],
      },
    });
    const { id } = await bodyOf(res);
    const run = await waitForRun(ph, id, isFinished, 30_000);
    expect(run.status).toBe('failed');
    const [result] = await results(id);
    expect(result!.subject).toBe('run.failed');
    expect(result!.body).toMatchObject({ status: 'failed', error: { code: 'APPROVAL.TIMEOUT' } });
  });
});

describe('long steps on agent-tasks', () => {
  it('run their agent in the task worker and complete the run', async () => {
    const res = await ph.send('POST', '/api/v1/runs', {
      definition: {
        id: 'long-one',
        name: 'Long one',
        steps: [
          { id: 'build', kind: 'agent', agent: 'builder', prompt: 'Build {{ input.topic }}', long: true },
          {
            id: 'docs',
            kind: 'agent',
            agent: 'scribe',
            prompt: 'Document {{ steps.build.output }}',
            dependsOn: ['build'],
          },
        ],
      },
      input: { topic: 'a queue' },
    });
    const { id } = await bodyOf(res);
    const run = await waitForRun(ph, id, isFinished, 30_000);
    expect(run.status).toBe('completed');
    expect(run.steps.build).toMatchObject({ status: 'completed', attempts: 1 });
    expect(run.tasks).toBeUndefined(); // bookkeeping, not part of the API
    const stored = await getServices().runs.getRun(id);
    expect(stored!.tasks).toEqual({ [`${id}:build:1`]: expect.objectContaining({ ok: true }) });
    const output = await ph.send('GET', `/api/v1/runs/${id}/steps/build/output`);
    expect(output.status).toBe(200);
    expect(await client.createReceiver(TASKS_QUEUE).peekMessages(10)).toHaveLength(0);
  });

  it('fan out: long parallel branches and their aggregate each run as tasks, together', async () => {
    const res = await ph.send('POST', '/api/v1/runs', {
      definition: {
        id: 'long-fan-out',
        name: 'Long fan-out',
        steps: [
          {
            id: 'analysis',
            kind: 'parallel',
            long: true,
            branches: [
              { id: 'a', agent: 'architect', prompt: 'Design {{ input.topic }}' },
              { id: 'b', agent: 'scribe', prompt: 'Describe {{ input.topic }}' },
            ],
            aggregate: { agent: 'echo', prompt: 'Merge: {{ results }}' },
          },
        ],
      },
      input: { topic: 'a cache' },
    });
    expect(res.status).toBe(202);
    const { id } = await bodyOf(res);
    const run = await waitForRun(ph, id, isFinished, 30_000);
    expect(run.status).toBe('completed');
    const stored = await getServices().runs.getRun(id);
    expect(Object.keys(stored!.tasks ?? {}).sort()).toEqual(
      [`${id}:analysis/a:1`, `${id}:analysis/aggregate:1`, `${id}:analysis/b:1`].sort(),
    );
  });
});
