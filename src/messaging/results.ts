/**
 * Run results for downstream systems: when a run ends, one message with its summary goes to the
 * `agent-results` topic — or to the job's `replyTo` queue or topic, in its reply session. The message
 * id is `<runId>:result`, so a publish repeated after a crash is recognisable (and dropped by
 * duplicate detection where the entity has it).
 */
import { isOutputRef } from '../store/payloads';
import { isTerminalStatus, type OutputRef, type RunRecord, type RunStore } from '../store/runs';
import { RESULTS_TOPIC } from '../workflows/names';
import type { MessageBus, OutgoingMessage } from './bus';

/** Outputs up to this size travel in the message; larger ones by reference (GET the run's step output). */
export const MAX_INLINE_OUTPUT_BYTES = 64 * 1024;

export interface RunResult {
  runId: string;
  jobId?: string;
  tenantId?: string;
  correlationId?: string;
  workflowId: string;
  workflowVersion: string;
  status: RunRecord['status'];
  /** The output of the step that finished last (the workflow's answer), inline when small. */
  output?: { stepId: string; text?: string; summary?: string; ref?: OutputRef; bytes?: number };
  error?: RunRecord['error'];
  totals: RunRecord['totals'];
  steps: Record<string, { status: string; summary?: string }>;
  createdAt: string;
  startedAt?: string;
  completedAt?: string;
  links: { run: string; events: string };
}

/** The step whose output answers the run: the last completed one. */
function finalStep(run: RunRecord) {
  return Object.values(run.steps)
    .filter((s) => s.status === 'completed' && s.output)
    .sort((a, b) => (a.completedAt ?? '').localeCompare(b.completedAt ?? ''))
    .at(-1);
}

/** The result body; `outputText` is the final step's text when the caller read it. */
export function runResult(run: RunRecord, outputText?: string): RunResult {
  const last = finalStep(run);
  const origin = run.origin;
  return {
    runId: run.id,
    ...(origin?.jobId !== undefined && { jobId: origin.jobId }),
    ...(run.tenantId !== undefined && { tenantId: run.tenantId }),
    ...(origin?.correlationId !== undefined && { correlationId: origin.correlationId }),
    workflowId: run.workflowId,
    workflowVersion: run.workflowVersion,
    status: run.status,
    ...(last && {
      output: {
        stepId: last.id,
        ...(outputText !== undefined
          ? { text: outputText }
          : { ref: last.output, bytes: last.output?.bytes }),
        ...(last.summary !== undefined && { summary: last.summary }),
      },
    }),
    ...(run.error && { error: run.error }),
    totals: run.totals,
    steps: Object.fromEntries(
      Object.values(run.steps).map((s) => [
        s.id,
        { status: s.status, ...(s.summary !== undefined && { summary: s.summary }) },
      ]),
    ),
    createdAt: run.createdAt,
    ...(run.startedAt !== undefined && { startedAt: run.startedAt }),
    ...(run.completedAt !== undefined && { completedAt: run.completedAt }),
    links: { run: `/api/v1/runs/${run.id}`, events: `/api/v1/runs/${run.id}/events` },
  };
}

/** The message and where it goes. */
export function resultMessage(
  run: RunRecord,
  outputText?: string,
): { entity: string; message: OutgoingMessage } {
  const origin = run.origin;
  const correlationId = origin?.correlationId ?? origin?.jobId;
  return {
    entity: origin?.replyTo ?? RESULTS_TOPIC,
    message: {
      body: runResult(run, outputText),
      messageId: `${run.id}:result`,
      subject: `run.${run.status}`,
      contentType: 'application/json',
      ...(correlationId !== undefined && { correlationId }),
      ...(origin?.replyToSessionId !== undefined && { sessionId: origin.replyToSessionId }),
      applicationProperties: {
        runId: run.id,
        workflowId: run.workflowId,
        status: run.status,
        ...(run.tenantId !== undefined && { tenantId: run.tenantId }),
      },
    },
  };
}

/**
 * Publishes the result of a finished run; false when the run has not finished (nothing is sent).
 * Throws when sending fails, so the calling activity is retried.
 */
export async function publishResult(
  deps: { bus: MessageBus; runs: RunStore },
  runId: string,
): Promise<boolean> {
  const run = await deps.runs.getRun(runId);
  if (!run || !isTerminalStatus(run.status)) return false;
  const last = finalStep(run);
  const ref = last?.output;
  const text =
    ref && isOutputRef(ref) && ref.bytes <= MAX_INLINE_OUTPUT_BYTES
      ? await deps.runs.getOutput(ref)
      : undefined;
  const { entity, message } = resultMessage(run, text);
  await deps.bus.send(entity, message);
  return true;
}
