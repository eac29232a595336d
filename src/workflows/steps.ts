/**
 * The step schemas, one per kind (agent, parallel, groupChat, review, approval), and the checks that
 * need only the step itself (branches xor forEach, a selector for the selector manager). A step's
 * snake_case fields are renamed before the union picks its kind.
 */
import { z } from 'zod';
import { parseTemplate, type PathExpr } from '../agents/template-parser';
import { aliased, camelizeKeys, duration, strict, unbraced } from './schema-kit';

export const STEP_KINDS = ['agent', 'parallel', 'groupChat', 'review', 'approval'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** `_` is allowed so that ids read well in templates (`steps.write_docs.output`). */
export const STEP_ID_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;

const stepId = z
  .string()
  .regex(
    STEP_ID_PATTERN,
    "must be a slug: a lower-case letter, then up to 62 lower-case letters, digits, '-' or '_'",
  );
const agent = z
  .string()
  .trim()
  .min(1, 'must name an agent')
  .describe('Agent id or name (built-in or custom)');
const template = (what: string) =>
  z
    .string()
    .min(1, 'must not be empty')
    .max(100_000)
    .describe(`${what} (template: {{ input.x }}, {{ steps.<id>.output }})`);

/** `input.topics` → its path expression, or undefined when the text is not a plain variable path. */
export function itemsPath(text: string): PathExpr | undefined {
  try {
    const nodes = parseTemplate(`{{ ${text} }}`);
    const node = nodes.length === 1 ? nodes[0] : undefined;
    return node?.kind === 'output' && node.expr.kind === 'path' ? node.expr : undefined;
  } catch {
    return undefined;
  }
}

const retrySchema = aliased('retry', {
  maxAttempts: z.number().int().min(1).max(10).describe('Attempts in all, the first included'),
  firstInterval: duration('Wait before the first retry').default('PT1S'),
  backoffCoefficient: z.number().min(1).optional().describe('Each wait is the previous one times this'),
}).describe('Retry policy of the step');

const id = stepId.describe('Unique within the workflow; templates read its result as steps.<id>');

/** The fields every kind has (after its own, so unknown-field messages list those first). */
const common = {
  dependsOn: z.array(z.string()).default([]).describe('Steps that must complete first (alias depends_on)'),
  retry: retrySchema.optional(),
  timeout: duration('Longest time one attempt may take').optional(),
  when: z
    .string()
    .min(1, 'must not be empty')
    .transform(unbraced)
    .optional()
    .describe('Condition (template expression over input and steps); the step is skipped when it is falsy'),
  long: z.boolean().default(false).describe('Run on the long-task queue instead of in an activity'),
};

export const agentStep = strict('an agent step', {
  id,
  kind: z.literal('agent'),
  agent,
  prompt: template('The task given to the agent'),
  context: z
    .record(z.string(), template('A context value'))
    .optional()
    .describe('Extra context, each value a template'),
  ...common,
});

const branchSchema = aliased('a branch', {
  id: stepId.optional(),
  agent,
  prompt: template('The branch task'),
});

const forEachSchema = aliased('forEach', {
  items: z
    .string()
    .transform(unbraced)
    .superRefine((text, ctx) => {
      const path = itemsPath(text);
      if (!path || (path.root !== 'input' && path.root !== 'steps')) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a path into input or steps (e.g. input.topics or steps.plan.parsed.items), not '${text}'`,
        });
      }
    })
    .describe('The list to fan out over: a path such as input.topics'),
  agent,
  prompt: template('The task for each item; may use {{ item }} and {{ loop.index }}'),
});

export const parallelStep = strict('a parallel step', {
  id,
  kind: z.literal('parallel'),
  branches: z.array(branchSchema).min(1).max(20).optional().describe('Agents that run at the same time'),
  forEach: forEachSchema.optional().describe('One run of an agent per list item'),
  aggregate: aliased('aggregate', { agent, prompt: template('Combines the outputs; may use {{ results }}') })
    .optional()
    .describe('A final agent that combines the branch outputs'),
  ...common,
}).superRefine((step, ctx) => {
  if (!step.branches === !step.forEach) {
    const message = step.branches
      ? 'give either branches or forEach, not both'
      : 'needs branches (agents to run side by side) or forEach (a list to fan out over)';
    ctx.addIssue({ code: 'custom', path: ['branches'], message });
  }
  const seen = new Set<string>();
  step.branches?.forEach((b, i) => {
    if (b.id !== undefined && seen.has(b.id)) {
      ctx.addIssue({ code: 'custom', path: ['branches', i, 'id'], message: `duplicate branch id '${b.id}'` });
    }
    if (b.id !== undefined) seen.add(b.id);
  });
});

export const groupChatStep = strict('a groupChat step', {
  id,
  kind: z.literal('groupChat'),
  participants: z
    .array(agent)
    .min(2, 'needs at least 2 participants')
    .max(10)
    .describe('Agents taking turns'),
  manager: z.enum(['round-robin', 'selector']).default('round-robin').describe('Who speaks next'),
  selector: agent.optional().describe("With manager 'selector': the agent that picks the next speaker"),
  maxRounds: z.number().int().min(1).max(50).default(10).describe('A round is one turn per participant'),
  terminate: aliased('terminate', {
    keyword: z.string().min(1).optional().describe('A message containing this ends the chat'),
    validatorApproves: z
      .boolean()
      .optional()
      .describe('A passing validator verdict ({pass: true}) ends the chat'),
    tokenBudget: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('The chat ends once it has used this many tokens'),
  })
    .optional()
    .describe('Ends the chat before maxRounds'),
  prompt: template('The topic of the chat'),
  ...common,
}).superRefine((step, ctx) => {
  if (step.manager === 'selector' && step.selector === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['selector'],
      message: "is required when manager is 'selector': name the agent that picks the next speaker",
    });
  }
  if (step.manager !== 'selector' && step.selector !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['selector'], message: "is only used when manager is 'selector'" });
  }
  step.participants.forEach((p, i) => {
    if (step.participants.findIndex((q) => q.toLowerCase() === p.toLowerCase()) < i) {
      ctx.addIssue({ code: 'custom', path: ['participants', i], message: `lists '${p}' more than once` });
    }
  });
});

export const reviewStep = strict('a review step', {
  id,
  kind: z.literal('review'),
  builder: agent.describe('Produces the work, each iteration'),
  validator: agent.describe('Judges it; the loop ends when its verdict passes'),
  prompt: template('The task for the builder; may use {{ iteration }} and {{ feedback }}'),
  maxIterations: z.number().int().min(1).max(10).default(3).describe('Builder/validator rounds at most'),
  ...common,
});

export const approvalStep = strict('an approval step', {
  id,
  kind: z.literal('approval'),
  prompt: template('What the approver is asked'),
  ...common,
  timeout: duration('How long to wait for a decision'),
  onTimeout: z.enum(['approve', 'reject', 'fail']).default('reject').describe('What a timeout means'),
});

const KIND_ALIASES: Record<string, StepKind> = {
  group_chat: 'groupChat',
  'group-chat': 'groupChat',
  groupchat: 'groupChat',
};

/** Aliases renamed, `group_chat` → `groupChat`, and `kind` defaults to agent when an agent is named. */
export function normalizeStep(value: unknown): unknown {
  const step = camelizeKeys(value);
  if (step === null || typeof step !== 'object' || Array.isArray(step)) return step;
  const s = step as Record<string, unknown>;
  const kind = typeof s.kind === 'string' ? (KIND_ALIASES[s.kind] ?? s.kind) : s.kind;
  return { ...s, kind: kind ?? ('agent' in s ? 'agent' : undefined) };
}

export const stepUnion = z.discriminatedUnion(
  'kind',
  [agentStep, parallelStep, groupChatStep, reviewStep, approvalStep],
  {
    error: (iss) => {
      if (iss.code !== 'invalid_union') return undefined;
      const kind = (iss.input as { kind?: unknown } | undefined)?.kind;
      if (kind === undefined) return `is required: one of ${STEP_KINDS.join(', ')}`;
      return `unknown step kind ${JSON.stringify(kind)} (kinds: ${STEP_KINDS.join(', ')})`;
    },
  },
);

export const stepSchema = z.preprocess(normalizeStep, stepUnion);

export type Step = z.output<typeof stepUnion>;
export type AgentStep = z.output<typeof agentStep>;
export type ParallelStep = z.output<typeof parallelStep>;
export type GroupChatStep = z.output<typeof groupChatStep>;
export type ReviewStep = z.output<typeof reviewStep>;
export type ApprovalStep = z.output<typeof approvalStep>;
export type StepInput = z.input<typeof stepUnion>;
