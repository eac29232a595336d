/**
 * What a use case answers, free of any host's types: `functions/` maps it to an HttpResponseInit, and
 * unit tests read it directly. Light on purpose (no zod): `functions/` loads it at start-up.
 */
import { AppError } from '../errors';
import { toProblem } from './problem';

export interface ApiResponse {
  status: number;
  headers?: Record<string, string>;
  /** A JSON body. */
  json?: unknown;
  /** A text body (HTML). */
  text?: string;
  /** A streamed body: every string is sent as soon as it is produced. */
  stream?: AsyncIterable<string>;
}

/** The problem+json answer for a failure. */
export function errorResponse(err: unknown, log?: (message: string) => void): ApiResponse {
  const p = toProblem(err, log);
  return { status: p.status, headers: p.headers, json: p.body };
}

/** A quoted strong entity tag, as the ETag header carries it. */
export function etagHeader(etag: string | undefined): Record<string, string> {
  return etag ? { etag: `"${etag}"` } : {};
}

/** The etag an If-Match header names: quotes and weakness dropped; `*` (any) and absent mean none. */
export function parseIfMatch(header: string | null | undefined): string | undefined {
  const value = header?.trim();
  if (!value || value === '*') return undefined;
  return value.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/** Runs a use case and turns any failure into its problem response. */
export async function answer(
  fn: () => Promise<ApiResponse>,
  log?: (message: string) => void,
): Promise<ApiResponse> {
  try {
    return await fn();
  } catch (err) {
    return errorResponse(err, log);
  }
}

/** Parses a request body; malformed JSON is a 400 of its own, not a 500. An empty body is no body. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new AppError(
      'REQUEST.MALFORMED_JSON',
      `The request body is not valid JSON: ${(err as Error).message}`,
      {
        status: 400,
      },
    );
  }
}
