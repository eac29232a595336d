/**
 * The deterministic workflow interpreter: `runWorkflow` is a generator the durable orchestrator drives
 * (`return yield* runWorkflow(port, input)`). It schedules the steps of a validated definition as a
 * DAG — every step whose dependencies completed starts at once, the running steps are multiplexed with
 * one `any` over their current tasks (in plan order) — and records progress through one activity,
 * `workflow_record`, batching what happens at one point into one call (one call in flight at a time, so
 * the event log keeps its order). No I/O, no clock, no randomness: everything comes from the context.
 *
 * Semantics worth knowing:
 * - a step is skipped when its `when` is falsy, or when a dependency was skipped or is an approval that
 *   was rejected; skipping cascades to the dependents. A rejected approval does not fail the run.
 * - a failed step fails the run: no new step starts, running agent steps finish (their results are
 *   kept), waiting approvals are cancelled, steps never started are skipped (`reason`).
 * - the budget (definition's, and the caller's; the lower applies) is checked after each step; once
 *   exceeded the run stops the same way and fails with RUN.BUDGET_EXCEEDED.
 * - the `workflow:cancel` event cancels the run: running steps are cancelled, the rest skipped.
 * - `timeout` bounds each agent call (with its retries) and the group chat; approvals have their own.
 */
import { renderTemplate } from '../agents/template';
import type { TokenUsage } from '../llm/types';
import type { RunError, RunStatus, StepPatch, StepStatus } from '../store/runs';
import {
  CANCEL_EVENT,
  RECORD_ACTIVITY,
  type RecordEvent,
  type RecordInput,
  type RunWorkflowOptions,
  type StepResult,
  type TemplateVars,
  type WorkflowContext,
  type WorkflowOutcome,
  type WorkflowTask,
} from './engine-port';
import {
  runStep,
  StepError,
  stepView,
  toStepError,
  ZERO_TOKENS,
  type StepDone,
  type StepGen,
} from './engine-steps';
import type { Step } from './steps';
import { executionPlan } from './validate';

export * from './engine-port';
export { feedbackText, REVIEW_VALIDATOR_PROMPT, StepError, type StepErrorCode } from './engine-steps';

/** What happened since the last `workflow_record` call. */
class Batch {
  private events: RecordEvent[] = [];
  private steps = new Map<string, StepPatch>();
  private run: RecordInput['run'];
  private taken = 0;

  event(type: string, stepId?: string, data?: unknown): void {
    this.events.push({ type, ...(stepId !== undefined && { stepId }), ...(data !== undefined && { data }) });
  }
  patch(stepId: string, patch: StepPatch): void {
    this.steps.set(stepId, { ...this.steps.get(stepId), ...patch });
  }
  setRun(run: NonNullable<RecordInput['run']>): void {
    this.run = { ...this.run, ...run };
  }
  get empty(): boolean {
    return !this.events.length && !this.steps.size && !this.run;
  }
  take(runId: string): RecordInput {
    this.taken += 1;
    const input: RecordInput = { runId, batch: this.taken, events: this.events };
    if (this.run) input.run = this.run;
    if (this.steps.size) input.steps = Object.fromEntries(this.steps);
    this.events = [];
    this.steps = new Map();
    this.run = undefined;
    return input;
  }
}

interface Runner {
  id: string;
  gen: StepGen;
  task: WorkflowTask;
}

type Stop = { why: 'failed' | 'budget' | 'cancelled'; error?: RunError };

const TERMINAL_STEP: readonly StepStatus[] = ['completed', 'failed', 'skipped', 'cancelled'];
const round = (usd: number): number => Math.round(usd * 1e10) / 1e10;

function addTokens(a: TokenUsage, b: TokenUsage): TokenUsage {
  return { prompt: a.prompt + b.prompt, completion: a.completion + b.completion, total: a.total + b.total };
}

/** Whether a `when` expression is truthy over the variables (template truthiness). */
function conditionHolds(step: Step, vars: TemplateVars): boolean {
  const source = `{% if ${step.when!} %}1{% endif %}`;
  return renderTemplate(source, vars, { name: `when of step '${step.id}'` }) === '1';
}

/** Interprets a validated workflow definition; see the file comment for the semantics. */
export function* runWorkflow(
  ctx: WorkflowContext,
  options: RunWorkflowOptions,
): Generator<unknown, WorkflowOutcome, unknown> {
  const { runId, definition, input } = options;
  const plan = executionPlan(definition);
  const byId = new Map(definition.steps.map((s) => [s.id, s]));
  const limit = (a?: number, b?: number): number | undefined =>
    a === undefined ? b : b === undefined ? a : Math.min(a, b);
  const maxTokens = limit(definition.budget?.maxTokens, options.budget?.maxTokens);
  const maxCostUsd = limit(definition.budget?.maxCostUsd, options.budget?.maxCostUsd);

  const steps: Record<string, StepResult> = {};
  for (const s of definition.steps) {
    steps[s.id] = {
      id: s.id,
      kind: s.kind,
      status: 'pending',
      ...(s.kind === 'agent' && { agent: s.agent }),
      calls: 0,
      tokens: { ...ZERO_TOKENS },
      cost: 0,
    };
  }
  const views: Record<string, Record<string, unknown>> = {};
  const totals = { tokens: { ...ZERO_TOKENS }, cost: 0 };
  const running = new Map<string, Runner>();
  const batch = new Batch();
  let stop: Stop | undefined;
  let recording: WorkflowTask | undefined;
  let cancel: WorkflowTask | undefined = ctx.waitForEvent(CANCEL_EVENT);
  let runStatus: RunStatus = 'running';
  let customStatus = '';

  const now = (): string => ctx.now().toISOString();
  const vars = (): TemplateVars => ({ input, steps: { ...views } });
  const result = (id: string): StepResult => steps[id]!;

  const setStep = (id: string, fields: Partial<StepResult>, patch: StepPatch): void => {
    steps[id] = { ...result(id), ...fields };
    batch.patch(id, patch);
  };

  const halt = (id: string, status: 'cancelled'): void => {
    const runner = running.get(id);
    running.delete(id);
    runner?.gen.return(undefined as never);
    setStep(id, { status, completedAt: now() }, { status, completedAt: now() });
    batch.event(`step.${status}`, id);
  };

  const stopRun = (next: Stop): void => {
    if (stop) return;
    stop = next;
    // Approvals could wait for days; agent calls finish soon and keep their results.
    for (const [id, r] of [...running]) {
      if (next.why === 'cancelled' || result(r.id).kind === 'approval') halt(id, 'cancelled');
    }
  };

  const complete = (id: string, done: StepDone): void => {
    const at = now();
    setStep(
      id,
      { ...done, status: 'completed', completedAt: at },
      {
        status: 'completed',
        completedAt: at,
        attempts: done.calls,
        tokens: done.tokens,
        cost: { currency: 'USD', total: round(done.cost) },
        ...(done.agent !== undefined && { agent: done.agent }),
        ...(done.outputRef && { output: done.outputRef }),
        ...(done.summary !== undefined && { summary: done.summary }),
      },
    );
    views[id] = stepView(result(id));
    batch.event('step.completed', id, {
      ...(done.summary !== undefined && { summary: done.summary }),
      tokens: done.tokens,
      cost: round(done.cost),
    });
    totals.tokens = addTokens(totals.tokens, done.tokens);
    totals.cost = round(totals.cost + done.cost);
    const over =
      (maxTokens !== undefined && totals.tokens.total > maxTokens) ||
      (maxCostUsd !== undefined && totals.cost > maxCostUsd);
    if (over && !stop) {
      const limits = {
        ...(maxTokens !== undefined && { maxTokens }),
        ...(maxCostUsd !== undefined && { maxCostUsd }),
        tokens: totals.tokens.total,
        costUsd: totals.cost,
      };
      batch.event('budget.exceeded', id, limits);
      stopRun({
        why: 'budget',
        error: {
          code: 'RUN.BUDGET_EXCEEDED',
          message:
            `The run used ${totals.tokens.total} tokens and ${totals.cost} USD, over its budget` +
            `${maxTokens !== undefined ? ` of ${maxTokens} tokens` : ''}` +
            `${maxCostUsd !== undefined ? ` ${maxTokens !== undefined ? 'and' : 'of'} ${maxCostUsd} USD` : ''}`,
        },
      });
    }
  };

  const fail = (id: string, err: unknown): void => {
    const e = toStepError(err);
    const error = { code: e.code, message: e.message };
    const at = now();
    setStep(id, { status: 'failed', completedAt: at, error }, { status: 'failed', completedAt: at, error });
    batch.event('step.failed', id, { error });
    stopRun({ why: 'failed', error: { code: e.code, message: `Step '${id}' failed: ${e.message}` } });
  };

  const skip = (id: string, reason: string): void => {
    setStep(id, { status: 'skipped', reason }, { status: 'skipped' });
    batch.event('step.skipped', id, { reason });
  };

  /** Feeds a step what its task gave; the step completes, fails, or waits on its next task. */
  const advance = (runner: Runner, value: unknown, faulted: boolean): void => {
    try {
      const next = faulted ? runner.gen.throw(value) : runner.gen.next(value);
      if (next.done) {
        running.delete(runner.id);
        complete(runner.id, next.value);
      } else {
        runner.task = next.value;
        running.set(runner.id, runner);
      }
    } catch (err) {
      running.delete(runner.id);
      fail(runner.id, err);
    }
  };

  const start = (step: Step): void => {
    const at = now();
    setStep(
      step.id,
      { status: 'running', startedAt: at },
      {
        kind: step.kind,
        status: 'running',
        startedAt: at,
        ...(step.kind === 'agent' && { agent: step.agent }),
      },
    );
    batch.event('step.started', step.id, { kind: step.kind });
    const gen = runStep(
      {
        ctx,
        runId,
        vars,
        emit: (type, data) => batch.event(type, step.id, data),
        status: (status) => setStep(step.id, { status }, { status }),
      },
      step,
    );
    advance({ id: step.id, gen, task: undefined as never }, undefined, false);
  };

  /** Starts (or skips) every pending step whose dependencies are done, in plan order, until none is left. */
  const startReady = (): void => {
    for (let progressed = true; progressed && !stop;) {
      progressed = false;
      for (const id of plan.order) {
        const step = byId.get(id)!;
        if (stop || result(id).status !== 'pending') continue;
        const deps = step.dependsOn.map(result);
        if (deps.some((d) => !TERMINAL_STEP.includes(d.status))) continue;
        progressed = true;
        const blocker = deps.find((d) => d.status !== 'completed' || (d.kind === 'approval' && !d.approved));
        if (blocker) {
          skip(
            id,
            blocker.status === 'completed'
              ? `approval '${blocker.id}' was rejected`
              : `'${blocker.id}' was ${blocker.status}`,
          );
          continue;
        }
        let holds = true;
        try {
          holds = step.when === undefined || conditionHolds(step, vars());
        } catch (err) {
          fail(id, new StepError('STEP.CONDITION_FAILED', `when: ${(err as Error).message}`));
          continue;
        }
        if (holds) start(step);
        else skip(id, 'its when condition is false');
      }
    }
  };

  const publishStatus = (): void => {
    const waiting = Object.values(steps).some((s) => s.status === 'waiting_for_approval');
    const status: RunStatus = waiting ? 'waiting_for_approval' : 'running';
    if (status !== runStatus) {
      runStatus = status;
      batch.setRun({ status });
    }
    const custom = {
      status: runStatus,
      steps: Object.fromEntries(Object.values(steps).map((s) => [s.id, s.status])),
    };
    const text = JSON.stringify(custom);
    if (text !== customStatus) {
      customStatus = text;
      ctx.setStatus(custom);
    }
  };

  batch.event('run.started', undefined, { workflowId: definition.id, version: definition.version });
  batch.setRun({ status: 'running', at: now() });

  for (;;) {
    startReady();
    publishStatus();
    if (!recording && !batch.empty) recording = ctx.callActivity(RECORD_ACTIVITY, batch.take(runId));
    if (!running.size) break;
    const runners = [...running.values()];
    const tasks = runners.map((r) => r.task);
    if (recording) tasks.push(recording);
    if (cancel) tasks.push(cancel);
    const winner = (yield ctx.any(tasks)) as WorkflowTask;
    if (winner === recording) {
      recording = undefined;
      if (winner.isFaulted) throw winner.result;
    } else if (winner === cancel) {
      const payload = cancel.result as { reason?: unknown } | undefined;
      cancel = undefined;
      const reason = typeof payload?.reason === 'string' ? `: ${payload.reason}` : '';
      stopRun({
        why: 'cancelled',
        error: { code: 'RUN.CANCELLED', message: `The run was cancelled${reason}` },
      });
    } else {
      const runner = runners.find((r) => r.task === winner)!;
      advance(runner, winner.result, winner.isFaulted);
    }
  }

  const why = stop?.why;
  for (const s of definition.steps) {
    if (result(s.id).status === 'pending')
      skip(s.id, why === 'cancelled' ? 'the run was cancelled' : 'the run stopped');
  }
  const status: WorkflowOutcome['status'] = !why ? 'completed' : why === 'cancelled' ? 'cancelled' : 'failed';
  const error = stop?.error;
  batch.event(`run.${status}`, undefined, error ? { error } : undefined);
  batch.setRun({ status, at: now(), ...(error && { error }) });
  if (recording) yield recording;
  yield ctx.callActivity(RECORD_ACTIVITY, batch.take(runId));
  ctx.setStatus({ status, steps: Object.fromEntries(Object.values(steps).map((s) => [s.id, s.status])) });
  return { status, steps, totals, ...(error && { error }) };
}
