/** The host's own error responses (404, 405, 401, 413, 500...), as RFC 9457 problem details. */
import type { ServerResponse } from 'node:http';

export interface Problem {
  type: 'about:blank';
  title: string;
  status: number;
  detail: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/**
 * Writes a problem response. When the response has already started (a streamed body), the only
 * honest signal left is to abort the connection.
 */
export function sendProblem(
  res: ServerResponse,
  status: number,
  detail: string,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.writableEnded) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const problem: Problem = { type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail };
  const body = Buffer.from(JSON.stringify(problem), 'utf8');
  // Drop whatever a failed handler response had set, but keep `connection: close` while stopping.
  for (const name of res.getHeaderNames()) if (name !== 'connection') res.removeHeader(name);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/problem+json; charset=utf-8',
    'content-length': String(body.length),
  });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}
