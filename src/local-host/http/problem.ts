/** The HTTP server's own error responses (404, 405, 401, 413, 500...): see ../problem.ts. */
import type { ServerResponse } from 'node:http';
import { problem, sendProblem as send } from '../problem';

export function sendProblem(
  res: ServerResponse,
  status: number,
  detail: string,
  headers: Record<string, string> = {},
): void {
  send(res, problem(status, detail), headers);
}
