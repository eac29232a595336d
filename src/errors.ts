/**
 * One error hierarchy with stable codes. Domain code throws these; only `functions/` (and src/api,
 * its HTTP half) maps them to status codes, retries or dead-lettering.
 */
export interface Violation {
  /** Where: a JSON path such as `max_tokens` or `context.scale`. */
  path: string;
  message: string;
}

export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly options: {
      retryable?: boolean;
      status?: number;
      details?: Record<string, unknown>;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
  }

  /** Whether trying again later may succeed (rate limits, timeouts, 5xx). */
  get retryable(): boolean {
    return this.options.retryable ?? false;
  }

  /** The HTTP status an API maps this error to. */
  get status(): number {
    return this.options.status ?? 500;
  }
}

/** Bad input: every violation is listed. */
export class ValidationError extends AppError {
  constructor(
    readonly violations: Violation[],
    message = `The request is not valid: ${violations.map((v) => `${v.path || '(body)'}: ${v.message}`).join('; ')}`,
    code = 'REQUEST.INVALID',
  ) {
    super(code, message, { status: 400 });
  }
}

export class NotFoundError extends AppError {
  constructor(code: string, message: string) {
    super(code, message, { status: 404 });
  }
}

export class ConflictError extends AppError {
  constructor(code: string, message: string) {
    super(code, message, { status: 409 });
  }
}

export class ConfigError extends AppError {
  constructor(message: string) {
    super('CONFIG.INVALID', message, { status: 500 });
  }
}
