/**
 * The runs API: start a workflow run, list and read runs, follow a run's events (SSE with
 * Last-Event-ID resume), read a step's output, decide an approval, cancel, and the monitoring metrics.
 * Use cases over the RunService and the run store; `functions/runs.ts` supplies the durable client.
 */
import { NotFoundError, ValidationError } from '../errors';
import { isOutputRef } from '../store/payloads';
import {
  isTerminalEvent,
  isTerminalStatus,
  RUN_STATUSES,
  type EventLog,
  type RunEvent,
  type RunQuery,
  type RunRecord,
  type RunStatus,
  type RunStore,
} from '../store/runs';
import type { OrchestrationClient, RunService } from '../workflows/run-service';
import { etagHeader, type ApiResponse } from './http';
import { computeMetrics } from './metrics';
import {
  approvalRequestSchema,
  cancelRequestSchema,
  START_RUN_ALIASES,
  startRunRequestSchema,
} from './run-schemas';
import { EventTail, SSE_HEADERS } from './sse';
import { parseBody } from './validate';

export const RUNS_PATH = '/api/v1/runs';

export interface RunsApiDeps {
  service: RunService;
  store: RunStore & EventLog;
  client: OrchestrationClient;
  /** The Durable Functions management URLs of an instance. */
  durableUrls(instanceId: string): Record<string, string>;
  heartbeatMs: number;
}

const base = (id: string): string => `${RUNS_PATH}/${encodeURIComponent(id)}`;

export function runLinks(id: string): Record<string, string> {
  return {
    self: base(id),
    events: `${base(id)}/events`,
    approval: `${base(id)}/approval`,
    cancel: `${base(id)}/cancel`,
  };
}

/** A run as the API shows it: the record without its etag (that goes in the ETag header), with links. */
export function runView(run: RunRecord): Record<string, unknown> {
  // The etag travels as a header; long-task outcomes and the trace parent are the app's bookkeeping.
  const { etag: _etag, output, tasks: _tasks, traceparent: _traceparent, ...rest } = run;
  return {
    ...rest,
    ...(output !== undefined && !isOutputRef(output) && { output }),
    links: runLinks(run.id),
  };
}

/** POST /api/v1/runs → 202 (a new run) or 200 (the run an earlier start with the same key made). */
export async function startRun(
  deps: RunsApiDeps,
  body: unknown,
  idempotencyHeader?: string | null,
): Promise<ApiResponse> {
  const req = parseBody(startRunRequestSchema, body, START_RUN_ALIASES);
  const key = req.idempotencyKey ?? (idempotencyHeader?.trim() || undefined);
  if (key !== undefined && key.length > 200) {
    throw new ValidationError([{ path: 'Idempotency-Key', message: 'must be at most 200 characters' }]);
  }
  const { run, created } = await deps.service.start({ ...req, idempotencyKey: key }, deps.client);
  return {
    status: created ? 202 : 200,
    headers: { location: base(run.id), ...etagHeader(run.etag) },
    json: {
      id: run.id,
      status: run.status,
      workflowId: run.workflowId,
      workflowVersion: run.workflowVersion,
      created,
      links: runLinks(run.id),
      durable: deps.durableUrls(run.id),
    },
  };
}

/** GET /api/v1/runs?status&workflowId&tenantId&createdFrom&createdTo&limit&continuationToken */
export async function listRuns(deps: RunsApiDeps, query: URLSearchParams): Promise<ApiResponse> {
  const q: RunQuery = {};
  const problems: { path: string; message: string }[] = [];
  const status = query.get('status');
  if (status !== null) {
    if ((RUN_STATUSES as readonly string[]).includes(status)) q.status = status as RunStatus;
    else problems.push({ path: 'status', message: `must be one of ${RUN_STATUSES.join(', ')}` });
  }
  for (const name of ['workflowId', 'tenantId', 'continuationToken'] as const) {
    const v = query.get(name);
    if (v) q[name] = v;
  }
  for (const name of ['createdFrom', 'createdTo'] as const) {
    const v = query.get(name);
    if (v === null) continue;
    if (Number.isNaN(Date.parse(v))) problems.push({ path: name, message: 'must be an ISO 8601 date-time' });
    else q[name] = new Date(v).toISOString();
  }
  const limit = query.get('limit');
  if (limit !== null) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 500) {
      problems.push({ path: 'limit', message: 'must be an integer from 1 to 500' });
    } else q.limit = n;
  }
  if (problems.length) throw new ValidationError(problems);
  const page = await deps.store.listRuns(q);
  return {
    status: 200,
    json: {
      items: page.items.map(runView),
      ...(page.continuationToken && { continuationToken: page.continuationToken }),
    },
  };
}

/** GET /api/v1/runs/{id} */
export async function getRun(deps: RunsApiDeps, id: string): Promise<ApiResponse> {
  const run = await deps.service.get(id);
  return { status: 200, headers: etagHeader(run.etag), json: runView(run) };
}

/** GET /api/v1/runs/{id}/steps/{stepId}/output: the step's full output as text. */
export async function getStepOutput(deps: RunsApiDeps, id: string, stepId: string): Promise<ApiResponse> {
  const run = await deps.service.get(id);
  const step = Object.hasOwn(run.steps, stepId) ? run.steps[stepId] : undefined;
  if (!step) throw new NotFoundError('RUN.STEP_NOT_FOUND', `Run '${id}' has no step '${stepId}'.`);
  if (!step.output) {
    throw new NotFoundError(
      'RUN.OUTPUT_NOT_FOUND',
      `Step '${stepId}' of run '${id}' has no output (it is ${step.status}).`,
    );
  }
  const text = await deps.store.getOutput(step.output);
  return {
    status: 200,
    headers: { 'content-type': 'text/plain; charset=utf-8', etag: `"${step.output.sha256}"` },
    text,
  };
}

/** The event id a client resumes after: Last-Event-ID header, else `?lastEventId=`, else 0. */
export function resumeAfter(header: string | null | undefined, query: URLSearchParams): number {
  const raw = header?.trim() ? header : (query.get('lastEventId') ?? query.get('after'));
  if (raw === null || raw === undefined || raw.trim() === '') return 0;
  const n = Number(raw.trim());
  if (!Number.isInteger(n) || n < 0) {
    throw new ValidationError([
      { path: 'Last-Event-ID', message: 'must be a non-negative integer event id' },
    ]);
  }
  return n;
}

export function formatRunEvent(e: RunEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

/**
 * The run's events after `afterId` as an SSE stream: every event once, in id order, each with its id;
 * a heartbeat comment when nothing happened for `heartbeatMs`; the stream ends after the terminal
 * event (at once when the client already has it).
 */
export async function* runEventStream(
  log: EventLog,
  runId: string,
  afterId: number,
  heartbeatMs: number,
): AsyncGenerator<string, void, void> {
  const tail = new EventTail(log, runId, afterId);
  try {
    yield `retry: 2000\n: run ${runId}\n\n`;
    for (;;) {
      const e = await tail.next(heartbeatMs);
      if (!e) {
        yield ': heartbeat\n\n';
        continue;
      }
      yield formatRunEvent(e);
      if (isTerminalEvent(e.type)) return;
    }
  } finally {
    tail.close();
  }
}

/**
 * Whether a client resuming after `afterId` has nothing left to get: the run's last event is terminal
 * and the client has it, or the run finished and its events expired.
 */
async function hasTerminalAlready(log: EventLog, run: RunRecord, afterId: number): Promise<boolean> {
  const last = await log.lastId(run.id);
  if (afterId < last) return false;
  if (last === 0) return false;
  const [tail] = await log.read(run.id, { afterId: last - 1, limit: 1 });
  return tail ? isTerminalEvent(tail.type) : isTerminalStatus(run.status);
}

/** The whole stream of a run the client has seen to its end: the retry hint, then the end. */
async function* endedStream(runId: string): AsyncGenerator<string, void, void> {
  yield await Promise.resolve(`retry: 2000\n: run ${runId} ended\n\n`);
}

/** GET /api/v1/runs/{id}/events: SSE (default) or, with Accept: application/json, a JSON page. */
export async function runEvents(
  deps: RunsApiDeps,
  id: string,
  headers: { lastEventId?: string | null; accept?: string | null },
  query: URLSearchParams,
): Promise<ApiResponse> {
  const run = await deps.service.get(id);
  const afterId = resumeAfter(headers.lastEventId, query);
  const accept = headers.accept ?? '';
  if (accept.includes('application/json') && !accept.includes('text/event-stream')) {
    const limit = Math.min(Math.max(Number(query.get('limit') ?? 500) || 500, 1), 5000);
    const items = await deps.store.read(run.id, { afterId, limit });
    return { status: 200, json: { items, lastId: await deps.store.lastId(run.id) } };
  }
  const stream = (await hasTerminalAlready(deps.store, run, afterId))
    ? endedStream(run.id)
    : runEventStream(deps.store, run.id, afterId, deps.heartbeatMs);
  return { status: 200, headers: SSE_HEADERS, stream };
}

/** POST /api/v1/runs/{id}/approval */
export async function decideApproval(deps: RunsApiDeps, id: string, body: unknown): Promise<ApiResponse> {
  const req = parseBody(approvalRequestSchema, body, { stepId: ['step_id'] });
  const { stepId } = await deps.service.decide(id, req, deps.client);
  return { status: 202, json: { runId: id, stepId, approved: req.approved } };
}

/** POST /api/v1/runs/{id}/cancel */
export async function cancelRun(deps: RunsApiDeps, id: string, body: unknown): Promise<ApiResponse> {
  const req = parseBody(cancelRequestSchema, body ?? {});
  await deps.service.cancel(id, req.reason, deps.client);
  return { status: 202, headers: { location: base(id) }, json: { runId: id, status: 'cancelling' } };
}

/** GET /api/v1/monitoring/metrics?from&to&workflowId */
export async function metrics(
  deps: RunsApiDeps,
  query: URLSearchParams,
  now = Date.now(),
): Promise<ApiResponse> {
  return { status: 200, json: await computeMetrics(deps.store, query, now) };
}
