/** Model call errors, classified retryable or not with stable codes, so retry policies can decide. */
import { AppError } from '../errors';

export type LlmErrorCode =
  | 'LLM.RATE_LIMITED'
  | 'LLM.TIMEOUT'
  | 'LLM.SERVER_ERROR'
  | 'LLM.CONNECTION'
  | 'LLM.BAD_REQUEST'
  | 'LLM.AUTH'
  | 'LLM.NOT_FOUND'
  | 'LLM.CONTENT_FILTERED'
  | 'LLM.CIRCUIT_OPEN'
  | 'LLM.CONTEXT_OVERFLOW'
  | 'LLM.INVALID_OUTPUT'
  | 'LLM.CANCELLED';

const RETRYABLE: ReadonlySet<LlmErrorCode> = new Set([
  'LLM.RATE_LIMITED',
  'LLM.TIMEOUT',
  'LLM.SERVER_ERROR',
  'LLM.CONNECTION',
]);

const STATUS: Partial<Record<LlmErrorCode, number>> = {
  'LLM.RATE_LIMITED': 429,
  'LLM.TIMEOUT': 504,
  'LLM.SERVER_ERROR': 502,
  'LLM.CONNECTION': 502,
  'LLM.CIRCUIT_OPEN': 503,
  'LLM.CONTEXT_OVERFLOW': 400,
  'LLM.INVALID_OUTPUT': 502,
  'LLM.CONTENT_FILTERED': 422,
  'LLM.AUTH': 502,
  'LLM.NOT_FOUND': 502,
  'LLM.BAD_REQUEST': 502,
};

export class LlmError extends AppError {
  constructor(
    override readonly code: LlmErrorCode,
    message: string,
    readonly info: { provider?: string; httpStatus?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(code, message, { retryable: RETRYABLE.has(code), status: STATUS[code] ?? 500, cause: info.cause });
  }

  get retryAfterMs(): number | undefined {
    return this.info.retryAfterMs;
  }
}

export function isLlmError(err: unknown): err is LlmError {
  return err instanceof LlmError;
}
