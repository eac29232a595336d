/**
 * Workflow errors with stable codes, in one place. A definition that does not validate is a
 * ValidationError (code WORKFLOW.INVALID_DEFINITION) so the HTTP layer lists every violation the way
 * it already does for agents; everything else is a WorkflowError.
 */
import { AppError, ValidationError, type Violation } from '../errors';

export type WorkflowErrorCode = 'WORKFLOW.INVALID_DEFINITION' | 'WORKFLOW.INVALID_DURATION';

const STATUS: Record<WorkflowErrorCode, number> = {
  'WORKFLOW.INVALID_DEFINITION': 400,
  'WORKFLOW.INVALID_DURATION': 400,
};

/** None of these can succeed by trying the same thing again. */
export class WorkflowError extends AppError {
  constructor(
    override readonly code: WorkflowErrorCode,
    message: string,
    details?: Record<string, unknown>,
  ) {
    super(code, message, { retryable: false, status: STATUS[code], details });
  }
}

/** The error for a definition with problems: every violation, each with its path. */
export function invalidDefinition(violations: Violation[]): ValidationError {
  return new ValidationError(
    violations,
    `The workflow definition is not valid: ${violations.map((v) => `${v.path || '(definition)'}: ${v.message}`).join('; ')}`,
    'WORKFLOW.INVALID_DEFINITION',
  );
}
