/**
 * Agent errors with stable codes. Unknown agents and built-in clashes are thrown as the shared
 * NotFoundError / ConflictError (the HTTP layer already maps those); the codes live here so that the
 * list of `AGENT.*` codes is in one place.
 */
import { AppError } from '../errors';

export type AgentErrorCode =
  | 'AGENT.UNKNOWN'
  | 'AGENT.TEMPLATE_VARIABLE_MISSING'
  | 'AGENT.TEMPLATE_INVALID'
  | 'AGENT.INVALID_OUTPUT'
  | 'AGENT.BUILTIN'
  | 'AGENT.INVALID_DEFINITION';

const STATUS: Record<AgentErrorCode, number> = {
  'AGENT.UNKNOWN': 404,
  'AGENT.TEMPLATE_VARIABLE_MISSING': 400,
  'AGENT.TEMPLATE_INVALID': 400,
  'AGENT.INVALID_OUTPUT': 502,
  'AGENT.BUILTIN': 409,
  'AGENT.INVALID_DEFINITION': 400,
};

/** None of these can succeed by trying the same thing again. */
export class AgentError extends AppError {
  constructor(
    override readonly code: AgentErrorCode,
    message: string,
    details?: Record<string, unknown>,
    cause?: unknown,
  ) {
    super(code, message, { retryable: false, status: STATUS[code], details, cause });
  }

  get details(): Record<string, unknown> {
    return this.options.details ?? {};
  }
}
