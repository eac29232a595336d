/**
 * Service Bus: job intake (`agent-jobs`), the long-task worker (`agent-tasks`), the activity that
 * enqueues long tasks, and the app's own client (results, settling jobs). The work is in src/messaging.
 *
 * The intake trigger settles its messages itself (autoCompleteMessages off): a started (or already
 * started) job is completed, an invalid one dead-lettered with the reason — Node functions have no
 * message actions, so the app's client settles by lock token. A thrown error leaves the message to
 * come back (lock expiry), until maxDeliveryCount moves it to the dead-letter queue: nothing is lost
 * and nothing is retried for ever.
 */
import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { MessageBus } from '../src/messaging/bus';
import type { LongTaskInput } from '../src/workflows/engine-port';
import {
  ENQUEUE_TASK_ACTIVITY,
  JOBS_QUEUE,
  PUBLISH_RESULT_ACTIVITY,
  SERVICE_BUS_CONNECTION,
  TASKS_QUEUE,
} from '../src/workflows/names';
import { appServices, lazy } from './agents';
import { orchestrationClient } from './runs';
import { activityDeps } from './workflows';

const busModule = lazy(() => import('../src/messaging/bus'));
const jobs = lazy(() => import('../src/messaging/jobs'));
const tasks = lazy(() => import('../src/messaging/tasks'));
const runServices = lazy(() => import('../src/api/run-wiring'));

let bus: Promise<MessageBus | undefined> | undefined;

/** The app's Service Bus client (undefined without a connection setting), made on first use. */
export function messageBus(): Promise<MessageBus | undefined> {
  bus ??= (async () => (await busModule()).createMessageBus((await appServices()).config.serviceBus))();
  return bus;
}

/** Tests: drop the client so the next call reads the settings again. */
export async function closeMessageBus(): Promise<void> {
  const current = bus;
  bus = undefined;
  await (await current)?.close();
}

const metadata = (context: InvocationContext): Record<string, unknown> => context.triggerMetadata ?? {};
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

app.serviceBusQueue('agentJobs', {
  queueName: JOBS_QUEUE,
  connection: SERVICE_BUS_CONNECTION,
  autoCompleteMessages: false,
  extraInputs: [df.input.durableClient()],
  handler: async (message: unknown, context: InvocationContext) => {
    const meta = metadata(context);
    const lockToken = text(meta.lockToken);
    const services = await appServices();
    const outcome = await (
      await jobs()
    ).handleJob(
      {
        service: (await runServices()).runServiceFor(services),
        client: orchestrationClient(df.getClient(context)),
      },
      {
        body: message,
        messageId: text(meta.messageId),
        correlationId: text(meta.correlationId),
        replyTo: text(meta.replyTo),
        replyToSessionId: text(meta.replyToSessionId),
        sessionId: text(meta.sessionId),
      },
    );
    const client = await messageBus();
    if (!client || !lockToken) {
      throw new Error(
        'agentJobs settles its messages with the app Service Bus client: set ServiceBusConnection',
      );
    }
    if (outcome.action === 'complete') {
      context.log(`Job ${outcome.runId}: ${outcome.created ? 'run started' : 'run already started'}.`);
      await client.settle(JOBS_QUEUE, lockToken, { kind: 'complete' });
    } else {
      context.warn(`Job dead-lettered (${outcome.reason}): ${outcome.description}`);
      await client.settle(JOBS_QUEUE, lockToken, {
        kind: 'deadLetter',
        reason: outcome.reason,
        description: outcome.description,
      });
    }
  },
});

app.serviceBusQueue('agentTasks', {
  queueName: TASKS_QUEUE,
  connection: SERVICE_BUS_CONNECTION,
  extraInputs: [df.input.durableClient()],
  handler: async (message: unknown, context: InvocationContext) => {
    const services = await appServices();
    const client = df.getClient(context);
    const result = await (
      await tasks()
    ).runTask(
      {
        activity: await activityDeps(),
        runs: services.runs,
        raiseEvent: async (instanceId, eventName, payload) => {
          try {
            await client.raiseEvent(instanceId, eventName, payload);
          } catch (err) {
            // The orchestration ended (or was purged): nobody waits for this outcome any more.
            if (/HTTP (404|410)/.test(String(err))) return;
            throw err;
          }
        },
      },
      message,
    );
    context.log(`Task ${result}.`);
  },
});

const results = lazy(() => import('../src/messaging/results'));

df.app.activity(PUBLISH_RESULT_ACTIVITY, {
  handler: async (runId: string, context: InvocationContext) => {
    const client = await messageBus();
    if (!client) return 'skipped';
    const published = await (
      await results()
    ).publishResult({ bus: client, runs: (await appServices()).runs }, runId);
    if (published) context.log(`Run ${runId}: result published.`);
    return published ? 'published' : 'not finished';
  },
});

df.app.activity(ENQUEUE_TASK_ACTIVITY, {
  handler: async (task: LongTaskInput) => (await tasks()).enqueueTask(await messageBus(), task),
});

app.hook.appTerminate(async () => {
  await closeMessageBus();
});
