/**
 * Every failure as RFC 9457 problem details (application/problem+json) with the stable error code.
 * Our own errors (AppError) keep their status and code; anything else is a 500 whose detail says
 * nothing about internals — the real error goes to the log, not to the client.
 */
import { STATUS_CODES } from 'node:http';
import { AppError, ValidationError, type Violation } from '../errors';
import { LlmError } from '../llm/errors';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  violations?: Violation[];
}

export interface ProblemResponse {
  status: number;
  headers: Record<string, string>;
  body: ProblemDetails;
}

/** Codes whose HTTP status differs from the one the error carries in the domain. */
const STATUS_BY_CODE: Record<string, number> = {
  // A stale If-Match is the textbook 412; the store reports it as a conflict.
  'CATALOG.ETAG_MISMATCH': 412,
};

const INTERNAL_DETAIL = 'An unexpected error occurred. It has been logged; try again later.';

export function problemType(code: string): string {
  return `urn:agent-functions:problem:${code.toLowerCase()}`;
}

export function problem(
  status: number,
  code: string,
  detail: string,
  violations?: Violation[],
): ProblemDetails {
  return {
    type: problemType(code),
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    code,
    ...(violations ? { violations } : {}),
  };
}

/** How long the model asked us to wait, from `err` or what it wraps (retries wrap the last error). */
function retryAfterMsOf(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof LlmError && e.retryAfterMs !== undefined) return e.retryAfterMs;
  }
  return undefined;
}

/** Maps any thrown value to a problem response; `log` receives what the client does not see. */
export function toProblem(err: unknown, log: (message: string) => void = () => undefined): ProblemResponse {
  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE };
  if (!(err instanceof AppError)) {
    const e = err instanceof Error ? err : new Error(String(err));
    log(`Unhandled error: ${e.stack ?? e.message}`);
    return { status: 500, headers, body: problem(500, 'INTERNAL', INTERNAL_DETAIL) };
  }
  const status = STATUS_BY_CODE[err.code] ?? err.status;
  if (status >= 500) log(`${err.code}: ${err.stack ?? err.message}`);
  const retryAfterMs = retryAfterMsOf(err);
  if (retryAfterMs !== undefined && (status === 429 || status === 503)) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  }
  const violations = err instanceof ValidationError ? err.violations : undefined;
  return { status, headers, body: problem(status, err.code, err.message, violations) };
}
