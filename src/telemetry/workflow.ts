/**
 * Workflow telemetry, made by the `workflow_record` activity (never by the orchestrator, which replays):
 * when a batch moves a step or the run to a terminal status, a `workflow.step` / `workflow.run` span is
 * recorded after the fact with the orchestration's own start and end times, the step duration and
 * failure metrics are recorded, and a run that ended emits its custom event (RunCompleted, RunFailed,
 * RunCancelled). Transitions are read from the record before and after the write, so a batch applied
 * twice (activities run at least once) reports nothing the second time.
 */
import { SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { RunRecord, RunStatus, StepRecord, StepStatus } from '../store/runs';
import { runScopeAttributes, withParent, type RunScope } from './context';
import { recordFailure, recordStepDuration } from './metrics';
import { ATTR, EVENTS, GEN_AI, INSTRUMENTATION_SCOPE, SPANS } from './names';
import { emitEvent } from './state';

/** Statuses of a run and its steps before a write. */
export interface StatusSnapshot {
  run: RunStatus;
  steps: Record<string, StepStatus>;
}

const ENDED_STEP: readonly StepStatus[] = ['completed', 'failed', 'cancelled'];
const ENDED_RUN: readonly RunStatus[] = ['completed', 'failed', 'cancelled'];
const RUN_EVENT: Record<string, string> = {
  completed: EVENTS.runCompleted,
  failed: EVENTS.runFailed,
  cancelled: EVENTS.runCancelled,
};

export function statusSnapshot(run: RunRecord): StatusSnapshot {
  return {
    run: run.status,
    steps: Object.fromEntries(Object.values(run.steps).map((s) => [s.id, s.status])),
  };
}

/** The run's scope (ids and its trace parent) as its spans carry it. */
export function runScopeOf(run: RunRecord): RunScope {
  return {
    runId: run.id,
    workflowId: run.workflowId,
    workflowVersion: run.workflowVersion,
    ...(run.tenantId !== undefined && { tenantId: run.tenantId }),
    ...(run.traceparent !== undefined && { traceparent: run.traceparent }),
  };
}

const time = (iso: string | undefined, fallback: Date): Date => {
  const ms = iso === undefined ? NaN : Date.parse(iso);
  return Number.isNaN(ms) ? fallback : new Date(ms);
};

function usageAttributes(
  tokens: { prompt: number; completion: number; total: number } | undefined,
): Attributes {
  if (!tokens) return {};
  return {
    [GEN_AI.inputTokens]: tokens.prompt,
    [GEN_AI.outputTokens]: tokens.completion,
    [ATTR.tokensTotal]: tokens.total,
  };
}

function fail(span: Span, error: { code: string; message: string } | undefined): void {
  span.setStatus({ code: SpanStatusCode.ERROR, ...(error && { message: error.message }) });
  if (error) span.setAttribute(ATTR.errorCode, error.code);
}

function traceStep(run: RunRecord, step: StepRecord, scope: Attributes, now: Date): void {
  const end = time(step.completedAt, now);
  const start = time(step.startedAt, end);
  const durationMs = step.durationMs ?? Math.max(0, end.getTime() - start.getTime());
  const dims: Attributes = {
    [ATTR.workflowId]: run.workflowId,
    [ATTR.stepKind]: step.kind,
    [ATTR.stepStatus]: step.status,
    ...(step.agent !== undefined && { [ATTR.agentType]: step.agent }),
  };
  const span = trace.getTracer(INSTRUMENTATION_SCOPE).startSpan(
    SPANS.workflowStep,
    {
      kind: SpanKind.INTERNAL,
      startTime: start,
      attributes: {
        ...scope,
        ...dims,
        [ATTR.stepId]: step.id,
        [ATTR.durationMs]: durationMs,
        [ATTR.stepAttempts]: step.attempts,
        ...usageAttributes(step.tokens),
        ...(step.cost && { [ATTR.costUsd]: step.cost.total }),
      },
    },
    withParent(run.traceparent),
  );
  if (step.status === 'failed') fail(span, step.error);
  span.end(end);
  recordStepDuration(durationMs, dims);
  if (step.status === 'failed') {
    recordFailure('step', step.error?.code ?? 'STEP.FAILED', { [ATTR.workflowId]: run.workflowId });
  }
}

function traceRun(run: RunRecord, scope: Attributes, now: Date): void {
  const end = time(run.completedAt, now);
  const start = time(run.startedAt ?? run.createdAt, end);
  const measurements = {
    [ATTR.durationMs]: run.totals.durationMs,
    [GEN_AI.inputTokens]: run.totals.tokens.prompt,
    [GEN_AI.outputTokens]: run.totals.tokens.completion,
    [ATTR.tokensTotal]: run.totals.tokens.total,
    [ATTR.costUsd]: run.totals.cost.total,
  };
  const parent = withParent(run.traceparent);
  const span = trace.getTracer(INSTRUMENTATION_SCOPE).startSpan(
    SPANS.workflowRun,
    {
      kind: SpanKind.INTERNAL,
      startTime: start,
      attributes: { ...scope, [ATTR.runStatus]: run.status, ...measurements },
    },
    parent,
  );
  if (run.status === 'failed') fail(span, run.error);
  span.end(end);
  if (run.status === 'failed') {
    recordFailure('run', run.error?.code ?? 'RUN.FAILED', { [ATTR.workflowId]: run.workflowId });
  }
  const properties: Record<string, string> = {};
  for (const [k, v] of Object.entries(scope)) properties[k] = String(v);
  properties[ATTR.runStatus] = run.status;
  if (run.error) {
    properties[ATTR.errorCode] = run.error.code;
    properties['error.message'] = run.error.message.slice(0, 1000);
  }
  emitEvent({
    name: RUN_EVENT[run.status]!,
    properties,
    measurements,
    context: trace.setSpan(parent, span),
  });
}

/**
 * Records what ended between `before` and `after` (the same run): a span and metrics per step that
 * reached completed/failed/cancelled, and the run's span, metrics and event if the run ended. Never
 * throws; a no-op without telemetry.
 */
export function traceEnded(before: StatusSnapshot, after: RunRecord, now: Date = new Date()): void {
  try {
    const scope = runScopeAttributes(runScopeOf(after));
    for (const step of Object.values(after.steps)) {
      const was = before.steps[step.id];
      if (ENDED_STEP.includes(step.status) && (was === undefined || !ENDED_STEP.includes(was))) {
        traceStep(after, step, scope, now);
      }
    }
    if (ENDED_RUN.includes(after.status) && !ENDED_RUN.includes(before.run)) traceRun(after, scope, now);
  } catch {
    // Telemetry never fails the work it observes.
  }
}
