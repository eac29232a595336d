/**
 * Job intake: a message on the `agent-jobs` queue starts a workflow run (or a one-step run of one
 * agent). The job id is the run id and its idempotency key, so a redelivered message finds the run
 * it already started. A job that can never start (bad shape, unknown workflow or agent, input the
 * workflow refuses) is dead-lettered with the reason and a description; anything else (a store or
 * the task hub unavailable) is thrown so Service Bus delivers the message again.
 */
import { z } from 'zod';
import { AppError, ValidationError } from '../errors';
import type { RunOrigin } from '../store/runs';
import type { WorkflowDefinition } from '../workflows/definition';
import type { OrchestrationClient, RunService } from '../workflows/run-service';

/** Run ids double as durable instance ids: no '/', '\', '#', '?' or control characters. */
const ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]*$/;

export const jobSchema = z
  .strictObject({
    jobId: z
      .string()
      .min(1)
      .max(100)
      .regex(ID, 'letters, digits and . _ : @ - only, starting with a letter or digit'),
    workflowId: z.string().min(1).max(100).optional(),
    /** A workflow version; the newest when absent. */
    version: z.string().min(1).max(50).optional(),
    agentType: z.string().min(1).max(100).optional(),
    input: z.record(z.string(), z.unknown()),
    tenantId: z.string().min(1).max(128).optional(),
    correlationId: z.string().min(1).max(128).optional(),
    replyTo: z.string().min(1).max(260).optional(),
  })
  .refine((j) => (j.workflowId === undefined) !== (j.agentType === undefined), {
    message: 'give exactly one of workflowId and agentType',
    path: ['workflowId'],
  });

export type Job = z.infer<typeof jobSchema>;

/** The received message as the trigger gives it (body and system properties). */
export interface JobMessage {
  body: unknown;
  messageId?: string;
  correlationId?: string;
  replyTo?: string;
  replyToSessionId?: string;
  sessionId?: string;
}

export type JobOutcome =
  | { action: 'complete'; runId: string; created: boolean }
  | { action: 'deadLetter'; reason: string; description: string };

export interface JobDeps {
  service: RunService;
  client: OrchestrationClient;
}

/** Service Bus caps the dead-letter description; keep it readable too. */
const MAX_DESCRIPTION = 1024;
const clip = (text: string): string =>
  text.length > MAX_DESCRIPTION ? `${text.slice(0, MAX_DESCRIPTION - 1)}…` : text;

/** The body as JSON: triggers hand over parsed JSON, a string or bytes depending on the sender. */
function bodyJson(body: unknown): { ok: true; value: unknown } | { ok: false; description: string } {
  let value = body;
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) value = Buffer.from(body).toString('utf8');
  if (typeof value !== 'string') return { ok: true, value };
  try {
    return { ok: true, value: JSON.parse(value) as unknown };
  } catch (err) {
    return { ok: false, description: `The body is not JSON: ${(err as Error).message}` };
  }
}

/** Checks a job message: the job, or the dead-letter reason and description. */
export function parseJob(
  message: JobMessage,
): { ok: true; job: Job } | { ok: false; reason: string; description: string } {
  const body = bodyJson(message.body);
  if (!body.ok) return { ok: false, reason: 'JOB.INVALID', description: body.description };
  const parsed = jobSchema.safeParse(body.value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    return { ok: false, reason: 'JOB.INVALID', description: clip(`Not a valid job: ${problems.join('; ')}`) };
  }
  return { ok: true, job: parsed.data };
}

/** A one-step workflow that runs one agent on `input.prompt` (with `input.context`, if any). */
export function agentJobDefinition(agentType: string, input: Record<string, unknown>): WorkflowDefinition {
  const agent = agentType.toLowerCase();
  const context = input.context;
  const keys =
    context && typeof context === 'object' && !Array.isArray(context)
      ? Object.keys(context).filter((k) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
      : [];
  return {
    id: `agent-${agent}`,
    name: `${agentType} agent job`,
    version: '1',
    input: {
      type: 'object',
      properties: { prompt: { type: 'string', minLength: 1 }, context: { type: 'object' } },
      required: ['prompt'],
    },
    steps: [
      {
        id: 'agent',
        kind: 'agent',
        agent,
        prompt: '{{ input.prompt }}',
        ...(keys.length > 0 && {
          context: Object.fromEntries(keys.map((k) => [k, `{{ input.context.${k} }}`])),
        }),
      },
    ],
  } as unknown as WorkflowDefinition;
}

/** Where the job's result goes: the job's fields win over the message's properties. */
export function originOf(job: Job, message: JobMessage): RunOrigin {
  const correlationId = job.correlationId ?? message.correlationId;
  const replyTo = job.replyTo ?? message.replyTo;
  const replyToSessionId = message.replyToSessionId ?? message.sessionId;
  return {
    source: 'servicebus',
    jobId: job.jobId,
    ...(correlationId !== undefined && { correlationId }),
    ...(replyTo !== undefined && { replyTo }),
    ...(replyToSessionId !== undefined && { replyToSessionId }),
  };
}

/** Starts the job's run once; what to do with the message. Throws when trying again may succeed. */
export async function handleJob(deps: JobDeps, message: JobMessage): Promise<JobOutcome> {
  const parsed = parseJob(message);
  if (!parsed.ok) return { action: 'deadLetter', reason: parsed.reason, description: parsed.description };
  const { job } = parsed;
  try {
    const { run, created } = await deps.service.start(
      {
        ...(job.workflowId !== undefined
          ? { workflowId: job.workflowId, ...(job.version !== undefined && { version: job.version }) }
          : { definition: agentJobDefinition(job.agentType!, job.input) }),
        input: job.input,
        runId: job.jobId,
        idempotencyKey: `job:${job.jobId}`,
        ...(job.tenantId !== undefined && { tenantId: job.tenantId }),
        origin: originOf(job, message),
      },
      deps.client,
    );
    return { action: 'complete', runId: run.id, created };
  } catch (err) {
    if (err instanceof AppError && !err.retryable && err.status < 500) {
      const detail =
        err instanceof ValidationError
          ? err.violations.map((v) => `${v.path || '(body)'}: ${v.message}`).join('; ')
          : err.message;
      return { action: 'deadLetter', reason: err.code, description: clip(`Job '${job.jobId}': ${detail}`) };
    }
    throw err;
  }
}
