/**
 * Request and response schemas of the runs API (/api/v1/runs, /api/v1/monitoring/metrics). Requests
 * are parsed with them (every violation listed at once); responses are documented from them.
 */
import { z } from 'zod';
import { RUN_EVENT_TYPES, RUN_STATUSES, STEP_STATUSES } from '../store/runs';

const budgetSchema = z
  .object({
    maxTokens: z.number().int().positive().optional(),
    maxCostUsd: z.number().positive().optional(),
  })
  .strict();

export const startRunRequestSchema = z
  .object({
    workflowId: z.string().min(1).max(64).optional().describe('A registered or built-in workflow'),
    version: z.string().min(1).max(64).optional().describe('Default: the latest version'),
    definition: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('An inline workflow definition, instead of workflowId'),
    input: z.unknown().optional().describe("The run's input (checked against the workflow's input schema)"),
    idempotencyKey: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe('Starts with the same key (per tenant) answer the same run; also the Idempotency-Key header'),
    tenantId: z.string().min(1).max(128).optional(),
    budget: budgetSchema.optional().describe('Limits on top of the definition budget (the lower applies)'),
  })
  .strict()
  .meta({ description: 'Give exactly one of workflowId and definition.' });

export const START_RUN_ALIASES: Record<string, string[]> = {
  workflowId: ['workflow_id'],
  idempotencyKey: ['idempotency_key'],
  tenantId: ['tenant_id'],
};

export const approvalRequestSchema = z
  .object({
    approved: z.boolean(),
    comment: z.string().max(10_000).optional(),
    by: z.string().max(200).optional(),
    stepId: z.string().optional().describe('The approval step; needed only when several are waiting'),
  })
  .strict();

export const cancelRequestSchema = z.object({ reason: z.string().max(2_000).optional() }).strict();

const tokens = z.object({ prompt: z.number(), completion: z.number(), total: z.number() });
const runError = z.object({ code: z.string(), message: z.string() });
const outputRef = z.object({ ref: z.string(), bytes: z.number(), sha256: z.string() });

export const stepRecordSchema = z.object({
  id: z.string(),
  kind: z.string(),
  agent: z.string().optional(),
  status: z.enum(STEP_STATUSES),
  attempts: z.number(),
  startedAt: z.string().optional(),
  completedAt: z.string().optional(),
  durationMs: z.number().optional(),
  tokens: tokens.optional(),
  cost: z
    .object({ currency: z.literal('USD'), total: z.number() })
    .loose()
    .optional(),
  output: outputRef.optional().describe('Read the text at …/steps/{stepId}/output'),
  summary: z.string().optional(),
  error: runError.optional(),
});

export const runSchema = z.object({
  id: z.string(),
  workflowId: z.string(),
  workflowVersion: z.string(),
  tenantId: z.string().optional(),
  status: z.enum(RUN_STATUSES),
  input: z.unknown(),
  idempotencyKey: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().optional(),
  completedAt: z.string().optional(),
  error: runError.optional(),
  steps: z.record(z.string(), stepRecordSchema),
  totals: z.object({
    tokens,
    cost: z.object({ currency: z.literal('USD'), total: z.number() }),
    durationMs: z.number(),
  }),
  origin: z
    .object({
      source: z.enum(['http', 'servicebus']),
      jobId: z.string().optional(),
      correlationId: z.string().optional(),
      replyTo: z.string().optional(),
      replyToSessionId: z.string().optional(),
    })
    .optional()
    .describe('Set for runs started by a Service Bus job: the job, and where its result message goes'),
  links: z.record(z.string(), z.string()).optional(),
});

export const runStartedSchema = z.object({
  id: z.string(),
  status: z.enum(RUN_STATUSES),
  workflowId: z.string(),
  workflowVersion: z.string(),
  created: z.boolean().describe('false when an earlier start with the same idempotency key made the run'),
  links: z.record(z.string(), z.string()).describe('self, events, approval, cancel'),
  durable: z
    .record(z.string(), z.string())
    .describe('The Durable Functions management URLs of the orchestration'),
});

export const runPageSchema = z.object({
  items: z.array(runSchema),
  continuationToken: z.string().optional(),
});

export const runEventSchema = z.object({
  id: z.number().int().describe('1, 2, 3 … per run: the SSE id'),
  runId: z.string(),
  type: z.string().describe(`One of ${RUN_EVENT_TYPES.join(', ')}`),
  stepId: z.string().optional(),
  data: z.unknown().optional(),
  at: z.string(),
});

export const approvalAcceptedSchema = z.object({
  runId: z.string(),
  stepId: z.string(),
  approved: z.boolean(),
});

export const cancelAcceptedSchema = z.object({ runId: z.string(), status: z.literal('cancelling') });

const percentiles = z.object({ count: z.number(), p50: z.number(), p95: z.number(), p99: z.number() });
const usage = z.object({ tokens, costUsd: z.number(), steps: z.number() });

export const metricsSchema = z.object({
  window: z.object({ from: z.string(), to: z.string(), runs: z.number(), truncated: z.boolean() }),
  runs: z.object({
    byStatus: z.record(z.string(), z.number()),
    latencyMs: percentiles,
    successRate: z.number().nullable(),
  }),
  steps: z.object({
    byStatus: z.record(z.string(), z.number()),
    latencyMsByAgent: z.record(z.string(), percentiles),
  }),
  tokens: tokens,
  costUsd: z.number(),
  byAgent: z.record(z.string(), usage),
  byWorkflow: z.record(z.string(), usage.extend({ runs: z.number() })),
});

export type StartRunBody = z.infer<typeof startRunRequestSchema>;
