/**
 * Workflow definitions: the zod schemas (the HTTP layer generates OpenAPI from them, `io: 'input'`),
 * their types, and `parseWorkflow` for JSON or YAML text. Field names are camelCase; snake_case
 * (`depends_on`, `on_timeout`, `max_rounds` …) is accepted and renamed, so both spellings work and the
 * documents show one. These schemas check each field on its own; validate.ts checks what needs the
 * whole workflow (agents, the dependency graph, template variables).
 */
import { z } from 'zod';
import { parseDocument } from 'yaml';
import { outputSchemaProblems } from '../agents/json-schema';
import { invalidDefinition } from './errors';
import { aliased, byStep, camelizeKeys, issueMessages, strict, toViolation } from './schema-kit';
import { stepSchema, type StepInput } from './steps';

export {
  agentStep as agentStepSchema,
  approvalStep as approvalStepSchema,
  groupChatStep as groupChatStepSchema,
  itemsPath,
  parallelStep as parallelStepSchema,
  reviewStep as reviewStepSchema,
  stepSchema,
  STEP_ID_PATTERN,
  STEP_KINDS,
  type AgentStep,
  type ApprovalStep,
  type GroupChatStep,
  type ParallelStep,
  type ReviewStep,
  type Step,
  type StepInput,
  type StepKind,
} from './steps';

export const WORKFLOW_ID_PATTERN = /^[a-z][a-z0-9-]{1,62}$/;

const workflowObject = strict('a workflow', {
  id: z
    .string()
    .regex(
      WORKFLOW_ID_PATTERN,
      'must be a slug: a lower-case letter, then 1-62 lower-case letters, digits or hyphens',
    ),
  name: z.string().trim().min(1, 'must not be empty').max(200),
  version: z.string().trim().min(1).max(64).default('1').describe('A run pins the version it started with'),
  description: z.string().max(10_000).optional(),
  input: z
    .record(z.string(), z.unknown())
    .superRefine((schema, ctx) =>
      outputSchemaProblems(schema).forEach((message) => ctx.addIssue({ code: 'custom', message })),
    )
    .optional()
    .describe('JSON Schema (type: object) of the run input'),
  budget: aliased('budget', {
    maxTokens: z
      .number()
      .int()
      .positive({ error: (iss) => `must be greater than 0 tokens, got ${String(iss.input)}` })
      .optional(),
    maxCostUsd: z
      .number()
      .positive({ error: (iss) => `must be greater than 0 USD, got ${String(iss.input)}` })
      .optional(),
  })
    .optional()
    .describe('Per-run limits; the run fails cleanly (keeping its partial results) when one is reached'),
  steps: z.array(stepSchema).min(1, 'needs at least one step').max(100),
});

/** The top level: aliases renamed; a numeric version (YAML `version: 2`) becomes text. */
export const workflowDefinitionSchema = z.preprocess((value) => {
  const top = camelizeKeys(value);
  if (top && typeof top === 'object' && typeof (top as { version?: unknown }).version === 'number') {
    return { ...top, version: String((top as { version: number }).version) };
  }
  return top;
}, workflowObject);

export type WorkflowDefinition = z.output<typeof workflowDefinitionSchema>;
/** What an author writes (defaults may be left out). */
export type WorkflowDefinitionInput = Omit<z.input<typeof workflowObject>, 'steps'> & { steps: StepInput[] };

export interface ParseOptions {
  /** Default: JSON when the text starts with `{`, else YAML. */
  format?: 'json' | 'yaml';
}

/** Text → plain object; a syntax error is a WORKFLOW.INVALID_DEFINITION with its line and column. */
export function loadWorkflowText(text: string, options: ParseOptions = {}): unknown {
  const format = options.format ?? (text.trimStart().startsWith('{') ? 'json' : 'yaml');
  if (!text.trim()) throw invalidDefinition([{ path: '', message: 'is empty' }]);
  if (format === 'json') {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw invalidDefinition([{ path: '', message: `is not valid JSON: ${(err as Error).message}` }]);
    }
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) {
    throw invalidDefinition(
      doc.errors.map((e) => ({
        path: '',
        message: `is not valid YAML: ${e.message.split('\n')[0]!.replace(/:$/, '')}`,
      })),
    );
  }
  return doc.toJS({ maxAliasCount: 100 }) as unknown;
}

/** Checks the shape of each field; `{data}` or the violations. */
export function checkStructure(raw: unknown): {
  data?: WorkflowDefinition;
  violations: ReturnType<typeof toViolation>[];
} {
  const parsed = workflowDefinitionSchema.safeParse(raw, { error: issueMessages });
  return parsed.success
    ? { data: parsed.data, violations: [] }
    : { violations: byStep(parsed.error.issues.map(toViolation)) };
}

/**
 * JSON or YAML text (or an object) → a definition with defaults filled in; throws ValidationError
 * (WORKFLOW.INVALID_DEFINITION). Only the shape is checked: use validateWorkflow for the full check.
 */
export function parseWorkflow(source: string | object, options: ParseOptions = {}): WorkflowDefinition {
  const raw = typeof source === 'string' ? loadWorkflowText(source, options) : source;
  const { data, violations } = checkStructure(raw);
  if (!data) throw invalidDefinition(violations);
  return data;
}
