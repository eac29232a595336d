/**
 * Long tasks: a step marked `long` does not run its agent in an activity. The `workflow_enqueue_task`
 * activity puts the call on the `agent-tasks` queue and the orchestration waits (with a timeout) for
 * the `task:<taskId>` event; the queue-triggered worker runs the agent — the host renews the message
 * lock while it works — stores the outcome on the run record and raises the event.
 *
 * Delivery is at least once. The task id makes the work idempotent: a redelivered message whose
 * outcome is stored raises the event again without calling the model; an event nobody waits for any
 * more (the step timed out, the run ended) changes nothing.
 */
import { z } from 'zod';
import { AppError } from '../errors';
import type { RunStore } from '../store/runs';
import { runAgentActivity, type WorkflowActivityDeps } from '../workflows/activities';
import type { LongTaskInput, TaskOutcome } from '../workflows/engine-port';
import { taskEventName, TASKS_QUEUE } from '../workflows/names';
import type { MessageBus } from './bus';

const taskSchema = z.object({
  taskId: z.string().min(1),
  instanceId: z.string().min(1),
  activity: z.string().regex(/^agent_[A-Za-z0-9_-]+$/),
  input: z.looseObject({
    runId: z.string().min(1),
    stepId: z.string().min(1),
    call: z.string(),
    agent: z.string(),
  }),
});

/** Sends the task (the message id is the task id, so a re-sent task is recognisable). */
export async function enqueueTask(bus: MessageBus | undefined, task: LongTaskInput): Promise<void> {
  if (!bus) {
    throw new AppError(
      'TASK.QUEUE_UNAVAILABLE',
      `Step '${task.input.stepId}' is long, but no Service Bus connection is configured ` +
        '(set ServiceBusConnection, or ServiceBusConnection__fullyQualifiedNamespace on Azure).',
    );
  }
  await bus.send(TASKS_QUEUE, {
    body: task,
    messageId: task.taskId,
    subject: task.activity,
    applicationProperties: { runId: task.input.runId, stepId: task.input.stepId },
  });
}

export interface TaskWorkerDeps {
  activity: WorkflowActivityDeps;
  runs: RunStore;
  /** Raises the task's event on its orchestration; resolves when the instance no longer exists. */
  raiseEvent(instanceId: string, eventName: string, payload: unknown): Promise<void>;
}

const outcomeOf = (err: unknown): TaskOutcome => ({
  ok: false,
  error: {
    code: err instanceof AppError ? err.code : 'TASK.FAILED',
    message: err instanceof Error ? err.message : String(err),
  },
});

/**
 * Runs one task message: the stored outcome when there is one, else the agent. Throws (so the message
 * is delivered again) only when the outcome could not be stored or reported.
 */
export async function runTask(deps: TaskWorkerDeps, body: unknown): Promise<'ran' | 'replayed' | 'gone'> {
  const parsed = taskSchema.safeParse(typeof body === 'string' ? (JSON.parse(body) as unknown) : body);
  if (!parsed.success) {
    throw new AppError(
      'TASK.INVALID',
      `Not a task message: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
    );
  }
  const task = parsed.data as unknown as LongTaskInput;
  const runId = task.input.runId;
  const run = await deps.runs.getRun(runId);
  if (!run) return 'gone';
  const stored = run.tasks?.[task.taskId] as TaskOutcome | undefined;
  let outcome = stored;
  if (!outcome) {
    try {
      outcome = { ok: true, result: await runAgentActivity(deps.activity, task.input) };
    } catch (err) {
      outcome = outcomeOf(err);
    }
    const done = outcome;
    await deps.runs.updateRun(runId, (r) => {
      r.tasks = { ...r.tasks, [task.taskId]: done };
    });
  }
  await deps.raiseEvent(task.instanceId, taskEventName(task.taskId), outcome);
  return stored ? 'replayed' : 'ran';
}
