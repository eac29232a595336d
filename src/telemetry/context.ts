/**
 * Trace context across a run: the W3C `traceparent` of whatever started it (the HTTP request's span, the
 * Functions invocation's trace context) is captured at start, kept in the run record, and every activity
 * of the run makes its spans children of it, so the request, the steps, the agent and the model calls
 * share one operation id in Application Insights however many processes and replays the run takes.
 *
 * The run scope (run id, step, workflow, tenant) rides in the OpenTelemetry context too, so the agent
 * runner and the model layer label their spans without knowing about runs.
 */
import {
  context,
  createContextKey,
  isSpanContextValid,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type SpanContext,
} from '@opentelemetry/api';
import { ATTR } from './names';

/** What a run's spans are labelled with; set by the workflow activities. */
export interface RunScope {
  runId: string;
  workflowId?: string;
  workflowVersion?: string;
  tenantId?: string;
  stepId?: string;
  /** Which call of the step (`design`, `analysis/branch-2`). */
  call?: string;
  /** The parent of the run's spans (W3C trace context). */
  traceparent?: string;
}

const RUN_SCOPE = createContextKey('agent-functions.run-scope');

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The span context a W3C traceparent names (as a remote parent), or undefined when it is not valid. */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  const m = value === undefined ? null : TRACEPARENT.exec(value.trim());
  if (!m || m[1] === 'ff' || (m[1] === '00' && m[5] !== undefined)) return undefined;
  const parsed: SpanContext = {
    traceId: m[2]!,
    spanId: m[3]!,
    traceFlags: parseInt(m[4]!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  return isSpanContextValid(parsed) ? parsed : undefined;
}

/** The W3C traceparent of a span context. */
export function formatTraceparent(span: SpanContext): string {
  return `00-${span.traceId}-${span.spanId}-${(span.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * The traceparent of the active span (the request or invocation being served), or undefined when there
 * is none: always undefined without telemetry, whose API keeps no context.
 */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  const span = trace.getSpanContext(ctx);
  return span && isSpanContextValid(span) ? formatTraceparent(span) : undefined;
}

/** `ctx` with the span context of `traceparent` as the parent of spans started in it (unchanged if none). */
export function withParent(traceparent: string | undefined, ctx: Context = context.active()): Context {
  const parent = parseTraceparent(traceparent);
  return parent ? trace.setSpanContext(ctx, parent) : ctx;
}

/** Runs `fn` in the run's scope: its spans are children of the run's traceparent and carry its ids. */
export function withRunScope<T>(scope: RunScope, fn: () => T): T {
  return context.with(withParent(scope.traceparent).setValue(RUN_SCOPE, scope), fn);
}

/** The active run scope, if any. */
export function activeRunScope(ctx: Context = context.active()): RunScope | undefined {
  return ctx.getValue(RUN_SCOPE) as RunScope | undefined;
}

/** The attributes of a run scope (`run.id`, `step.id`, ...), only those that are known. */
export function runScopeAttributes(scope: RunScope | undefined = activeRunScope()): Attributes {
  if (!scope) return {};
  const attrs: Attributes = { [ATTR.runId]: scope.runId };
  if (scope.workflowId !== undefined) attrs[ATTR.workflowId] = scope.workflowId;
  if (scope.workflowVersion !== undefined) attrs[ATTR.workflowVersion] = scope.workflowVersion;
  if (scope.tenantId !== undefined) attrs[ATTR.tenantId] = scope.tenantId;
  if (scope.stepId !== undefined) attrs[ATTR.stepId] = scope.stepId;
  if (scope.call !== undefined) attrs[ATTR.stepCall] = scope.call;
  return attrs;
}
