/**
 * Workflows on Durable Functions: the orchestration that interprets a workflow definition
 * (`workflow_run`, instance id = run id), the group chat sub-orchestration (`workflow_group_chat`), one
 * activity per agent type (`agent_architect` … `agent_custom`) and the progress recorder
 * (`workflow_record`). The interpreter (src/workflows/engine.ts) is pure; this file only maps it onto
 * `context.df` and the activities onto the app's services.
 *
 * The workflow modules load on first use (the orchestrator is synchronous, hence `require`), so
 * registering these functions costs a cold start nothing.
 */
import { app, type InvocationContext, type Timer } from '@azure/functions';
import * as df from 'durable-functions';
import type { OrchestrationContext, OrchestrationHandler, Task, TimerTask } from 'durable-functions';
import type * as ActivitiesModule from '../src/workflows/activities';
import type * as EngineModule from '../src/workflows/engine';
import type {
  AgentActivityInput,
  GroupChatInput,
  RecordInput,
  RetryPolicy,
  WorkflowContext,
  WorkflowOutcome,
} from '../src/workflows/engine-port';
import type * as GroupChatModule from '../src/workflows/group-chat';
import {
  AGENT_ACTIVITY_NAMES,
  GROUP_CHAT_ORCHESTRATOR,
  PUBLISH_RESULT_ACTIVITY,
  RECORD_ACTIVITY,
  WORKFLOW_ORCHESTRATOR,
} from '../src/workflows/names';
import type { WorkflowRunInput } from '../src/workflows/run-service';
import { appServices, lazy } from './agents';

let engine: typeof EngineModule | undefined;
let groupChat: typeof GroupChatModule | undefined;
/* eslint-disable @typescript-eslint/no-require-imports -- orchestrators are synchronous: load on first use */
const engineModule = (): typeof EngineModule =>
  (engine ??= require('../src/workflows/engine') as typeof EngineModule);
const groupChatModule = (): typeof GroupChatModule =>
  (groupChat ??= require('../src/workflows/group-chat') as typeof GroupChatModule);
/* eslint-enable @typescript-eslint/no-require-imports */

function retryOptions(policy: RetryPolicy): df.RetryOptions {
  const options = new df.RetryOptions(policy.firstIntervalMs, policy.maxAttempts);
  if (policy.backoffCoefficient !== undefined) options.backoffCoefficient = policy.backoffCoefficient;
  return options;
}

/** The interpreter's port over `context.df`: one SDK call per method. */
export function workflowContext(context: OrchestrationContext): WorkflowContext {
  const d = context.df;
  return {
    callActivity: (name, input, retry) =>
      retry ? d.callActivityWithRetry(name, retryOptions(retry), input) : d.callActivity(name, input),
    callSubOrchestrator: (name, input, instanceId) => d.callSubOrchestrator(name, input, instanceId),
    all: (tasks) => d.Task.all(tasks),
    any: (tasks) => d.Task.any(tasks),
    waitForEvent: (name) => d.waitForExternalEvent(name),
    timer: (fireAt) => d.createTimer(fireAt),
    now: () => d.currentUtcDateTime,
    cancelTimer: (task) => (task as TimerTask).cancel(),
    setStatus: (status) => d.setCustomStatus(status),
    continueAsNew: (input) => d.continueAsNew(input),
  };
}

/** The interpreter yields the port's tasks, which are the SDK's tasks. */
const asTasks = <T>(gen: Generator<unknown, T, unknown>): Generator<Task, T, unknown> =>
  gen as Generator<Task, T, unknown>;

/** The small summary an orchestration returns (the run store has the rest). */
function outcomeSummary(runId: string, outcome: WorkflowOutcome) {
  return {
    runId,
    status: outcome.status,
    totals: outcome.totals,
    steps: Object.fromEntries(Object.values(outcome.steps).map((s) => [s.id, s.status])),
    ...(outcome.error && { error: outcome.error }),
  };
}

/**
 * Publishes the finished run's result message. A Service Bus outage must not fail a finished run: after
 * the retries the orchestration ends anyway and its output says the result was not published.
 */
function* publishResult(context: OrchestrationContext, runId: string): Generator<Task, object, unknown> {
  try {
    yield context.df.callActivityWithRetry(PUBLISH_RESULT_ACTIVITY, new df.RetryOptions(2000, 5), runId);
    return {};
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (!context.df.isReplaying) context.error(`Run ${runId}: the result was not published: ${message}`);
    return { resultPublished: false, publishError: message };
  }
}

const workflowRun: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<WorkflowRunInput>();
  const port = workflowContext(context);
  try {
    const outcome = yield* asTasks(engineModule().runWorkflow(port, input));
    const published = input.publishResult === false ? {} : yield* publishResult(context, input.runId);
    return { ...outcomeSummary(input.runId, outcome), ...published };
  } catch (err) {
    // The interpreter only throws when recording progress failed for good: record the failure (once
    // more) so the run does not look alive for ever, then fail the orchestration with the cause.
    const error = { code: 'RUN.FAILED', message: err instanceof Error ? err.message : String(err) };
    const record: RecordInput = {
      runId: input.runId,
      events: [{ type: 'run.failed', data: { error } }],
      run: { status: 'failed', error },
    };
    yield port.callActivity(RECORD_ACTIVITY, record, { firstIntervalMs: 1000, maxAttempts: 5 });
    throw err;
  }
};

const groupChatRun: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<GroupChatInput>();
  return yield* asTasks(groupChatModule().runGroupChat(workflowContext(context), input));
};

const activities = lazy(() => import('../src/workflows/activities'));

/** What the workflow activities (and the long-task worker) need from the app's services. */
export async function activityDeps(): Promise<ActivitiesModule.WorkflowActivityDeps> {
  const services = await appServices();
  return {
    agents: services.agents,
    runs: services.runs,
    events: services.runs,
    deltaFlushMs: services.config.runs.deltaFlushMs,
  };
}

df.app.orchestration(WORKFLOW_ORCHESTRATOR, workflowRun);
df.app.orchestration(GROUP_CHAT_ORCHESTRATOR, groupChatRun);
for (const name of AGENT_ACTIVITY_NAMES) {
  df.app.activity(name, {
    handler: async (input: AgentActivityInput) =>
      (await activities()).runAgentActivity(await activityDeps(), input),
  });
}
df.app.activity(RECORD_ACTIVITY, {
  handler: async (input: RecordInput) => (await activities()).recordActivity(await activityDeps(), input),
});

/** Hourly: events of runs that finished more than RUN_EVENTS_TTL_HOURS ago are deleted (0 keeps them). */
app.timer('purgeRunEvents', {
  schedule: '0 17 * * * *',
  handler: async (_timer: Timer, context: InvocationContext) => {
    const services = await appServices();
    const hours = services.config.runs.eventsTtlHours;
    if (hours <= 0) return;
    const deleted = await services.runs.purgeExpired(hours * 3600_000);
    if (deleted) context.log(`Purged ${deleted} events of runs finished over ${hours} h ago.`);
  },
});
