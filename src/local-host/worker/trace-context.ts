/**
 * The trace context the Functions host hands an invocation (`InvocationContext.traceContext`): the
 * host's span for the invocation, a child of the caller's W3C `traceparent` when one came with the
 * trigger (a Service Bus message's `Diagnostic-Id`), else the root of a new trace. HTTP triggers get
 * none here: the local host serves HTTP in the app's process, so the app's own HTTP instrumentation
 * makes the request span (the Functions host's part on Azure) and the invocation runs inside it.
 */
import { randomBytes } from 'node:crypto';

export interface TraceContext {
  traceParent?: string;
  traceState?: string;
  attributes?: Record<string, string>;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);

/** A new span's context: same trace and flags as a valid `parent`, new ids otherwise. */
export function invocationTraceContext(parent?: string, traceState?: string): TraceContext {
  const m = TRACEPARENT.exec(parent?.trim().toLowerCase() ?? '');
  const valid = m && m[1] !== ZERO_TRACE && m[2] !== '0'.repeat(16);
  const traceId = valid ? m[1]! : randomBytes(16).toString('hex');
  const flags = valid ? m[3]! : '01';
  return {
    traceParent: `00-${traceId}-${randomBytes(8).toString('hex')}-${flags}`,
    ...(valid && traceState ? { traceState } : {}),
    attributes: {},
  };
}
