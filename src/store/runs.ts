/**
 * The run store ports: workflow runs (RunStore) and their event logs (EventLog). Adapters: memory
 * (tests, the reference), SQLite (the local host), Cosmos later; all pass test/unit/store-runs.test.ts.
 * Step outputs live in the store and records carry OutputRefs, so a 1 MB output never bloats a run
 * record or the orchestration history.
 */
import { ConflictError, NotFoundError } from '../errors';
import type { TokenUsage } from '../llm/types';

export const RUN_STATUSES = [
  'pending',
  'running',
  'waiting_for_approval',
  'completed',
  'failed',
  'cancelled',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const STEP_STATUSES = [
  'pending',
  'running',
  'completed',
  'failed',
  'skipped',
  'waiting_for_approval',
  'cancelled',
] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled'];

export function isTerminalStatus(status: RunStatus): boolean {
  return TERMINAL_RUN_STATUSES.includes(status);
}

/** A stored text (see payloads.ts): `ref` is opaque to callers, `sha256` is hex of the UTF-8 bytes. */
export interface OutputRef {
  ref: string;
  bytes: number;
  sha256: string;
}

export interface RunError {
  /** A stable code from the error hierarchy (`AGENT.TIMEOUT`, `WORKFLOW.BUDGET_EXCEEDED`). */
  code: string;
  message: string;
}

/** Cost in USD; `input`/`output` when known (an agent's Cost fits here as is). */
export interface StepCost {
  currency: 'USD';
  total: number;
  input?: number;
  output?: number;
}

export interface StepRecord {
  id: string;
  /** The workflow step kind (`agent`, `parallel`, `groupChat`, `review`, `approval`, ...). */
  kind: string;
  agent?: string;
  status: StepStatus;
  attempts: number;
  startedAt?: string;
  completedAt?: string;
  durationMs?: number;
  tokens?: TokenUsage;
  cost?: StepCost;
  /** The full output, by reference (RunStore.putOutput). */
  output?: OutputRef;
  /** The first ~200 characters of the output, for listings (payloads.ts `summarize`). */
  summary?: string;
  error?: RunError;
}

export interface RunTotals {
  tokens: TokenUsage;
  cost: { currency: 'USD'; total: number };
  /** Wall-clock time: startedAt to completedAt (to the latest step completion while running). */
  durationMs: number;
}

export interface RunRecord {
  id: string;
  workflowId: string;
  /** The definition version the run is pinned to. */
  workflowVersion: string;
  tenantId?: string;
  status: RunStatus;
  /** The workflow input (JSON). */
  input: unknown;
  idempotencyKey?: string;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  completedAt?: string;
  error?: RunError;
  steps: Record<string, StepRecord>;
  /** Derived from the steps on every write: the store owns it. */
  totals: RunTotals;
  /** Small JSON, or an OutputRef (see `isOutputRef`) for a large result. */
  output?: unknown;
  /** Where the run came from and where its result goes (set for Service Bus jobs). */
  origin?: RunOrigin;
  /**
   * Outcomes of the run's long tasks by task id, so a redelivered task message reports the stored
   * outcome instead of calling the model again.
   */
  tasks?: Record<string, unknown>;
  /** W3C trace context of what started the run; its telemetry continues that trace (src/telemetry). */
  traceparent?: string;
  /** Changes on every write; compare-and-swap token. */
  etag: string;
}

export interface RunOrigin {
  source: 'http' | 'servicebus';
  jobId?: string;
  correlationId?: string;
  /** Queue or topic for the result message (default: the agent-results topic). */
  replyTo?: string;
  /** Session id for the result message (the job's replyToSessionId, else its sessionId). */
  replyToSessionId?: string;
}

/** What a caller hands to createRun; the store fills in the rest (id defaults to a random UUID). */
export type NewRun = Pick<RunRecord, 'workflowId' | 'workflowVersion' | 'input'> &
  Partial<
    Pick<
      RunRecord,
      | 'id'
      | 'tenantId'
      | 'status'
      | 'idempotencyKey'
      | 'startedAt'
      | 'steps'
      | 'output'
      | 'origin'
      | 'traceparent'
    >
  >;

export interface RunQuery {
  status?: RunStatus;
  workflowId?: string;
  tenantId?: string;
  /** Inclusive lower bound on createdAt (ISO 8601). */
  createdFrom?: string;
  /** Exclusive upper bound on createdAt (ISO 8601). */
  createdTo?: string;
  /** Page size: default 50, clamped to 1..500. */
  limit?: number;
  /** From the previous page; opaque. */
  continuationToken?: string;
}

export interface RunPage {
  items: RunRecord[];
  /** Present when more runs may follow. */
  continuationToken?: string;
}

/** Fields a step update may set; a key given as `undefined` clears that field. */
export type StepPatch = Partial<Omit<StepRecord, 'id'>>;

export const DEFAULT_UPDATE_RETRIES = 10;

export interface RunStore {
  /**
   * Creates a run. Idempotent by `idempotencyKey` within a tenant: when a run with that key exists it is
   * returned with `created: false`, atomically (two concurrent creates make one run). Without a key, an
   * existing id is a ConflictError (RUN.EXISTS).
   */
  createRun(run: NewRun): Promise<{ run: RunRecord; created: boolean }>;
  getRun(id: string): Promise<RunRecord | undefined>;
  /** Newest first (createdAt, then id, descending); keyset paging, so no duplicates or gaps. */
  listRuns(query?: RunQuery): Promise<RunPage>;
  /**
   * Read, mutate (in place, or return a replacement), write if the etag is unchanged; on a conflict read
   * again and re-run `mutate` (so it must be pure apart from the record) after a jittered backoff, up to
   * `retries` (default 10) times, then a ConflictError (RUN.UPDATE_CONFLICT). The store owns id, tenant,
   * key, createdAt, updatedAt, totals and etag. A mutation that changes nothing writes nothing.
   * NotFoundError (RUN.NOT_FOUND) for a missing run.
   */
  updateRun(
    id: string,
    mutate: (run: RunRecord) => void | RunRecord,
    options?: { retries?: number },
  ): Promise<RunRecord>;
  /** updateRun on one step (created when missing: kind `agent`, pending, 0 attempts). */
  updateStep(runId: string, stepId: string, patch: StepPatch): Promise<RunRecord>;
  /** Stores a text for the run; content-addressed within the run, so writing it twice is one copy. */
  putOutput(runId: string, stepId: string, text: string): Promise<OutputRef>;
  /** NotFoundError (RUN.OUTPUT_NOT_FOUND) when gone (the run was deleted). */
  getOutput(ref: OutputRef | string): Promise<string>;
  /** Deletes the run, its outputs and its events; false when there was no such run. */
  deleteRun(id: string): Promise<boolean>;
  close?(): void;
}

export const RUN_EVENT_TYPES = [
  'run.started',
  'step.started',
  /** `data: {delta}`: a chunk of model output. */
  'step.delta',
  'step.completed',
  'step.failed',
  'step.skipped',
  'approval.requested',
  'approval.resolved',
  'run.completed',
  'run.failed',
  'run.cancelled',
  'budget.exceeded',
] as const;

/** The documented types; any other string is allowed, so new kinds need no store change. */
export type RunEventType = (typeof RUN_EVENT_TYPES)[number] | (string & {});

export const TERMINAL_EVENT_TYPES: readonly string[] = ['run.completed', 'run.failed', 'run.cancelled'];

/** Whether the event ends its run's stream: SSE closes after it, purgeExpired keys off it. */
export function isTerminalEvent(type: RunEventType): boolean {
  return TERMINAL_EVENT_TYPES.includes(type);
}

export interface NewRunEvent {
  type: RunEventType;
  stepId?: string;
  data?: unknown;
}

export interface RunEvent extends NewRunEvent {
  /** 1, 2, 3, ... per run: strictly increasing, no gaps (the SSE `id:`). */
  id: number;
  runId: string;
  /** ISO 8601. */
  at: string;
}

export type Unsubscribe = () => void;

export interface EventLog {
  /**
   * Appends with the next id of the run, atomically with respect to every other writer. A log is closed
   * by its terminal event: appending after it is a ConflictError (RUN.EVENTS_CLOSED), so nothing (a late
   * model delta of a cancelled run) can follow the event that ends every stream.
   */
  append(runId: string, event: NewRunEvent): Promise<RunEvent>;
  /**
   * Appends several events with consecutive ids in one atomic write. With `batch` (a number increasing
   * per run, as the workflow recorder numbers its batches) the write happens at most once: a batch
   * number not above the last one applied appends nothing and answers [] — so an activity that runs
   * again after a crash does not log its events twice.
   */
  appendMany(runId: string, events: NewRunEvent[], options?: { batch?: number }): Promise<RunEvent[]>;
  /** Events with id > afterId (default 0), in id order; all of them unless `limit` is given. */
  read(runId: string, options?: { afterId?: number; limit?: number }): Promise<RunEvent[]>;
  /**
   * Delivers every event with id > afterId, in order, each once, including those appended while the
   * subscription starts. Appends through this process wake it at once; appends from another process are
   * picked up by polling `read(afterId = last delivered)` (the SQLite adapter's `pollMs`). A failing
   * read or onEvent ends the subscription and goes to `onError` (a process warning without one).
   */
  subscribe(
    runId: string,
    afterId: number,
    onEvent: (event: RunEvent) => void,
    onError?: (err: unknown) => void,
  ): Unsubscribe;
  /** The last id handed out for the run (0 when none); unchanged by purgeExpired. */
  lastId(runId: string): Promise<number>;
  /**
   * Deletes the events of finished runs — those whose log holds a terminal event older than
   * `olderThanMs` before `now` — and returns how many were deleted. Ids are never reused afterwards.
   */
  purgeExpired(olderThanMs: number, now?: number): Promise<number>;
}

/** Totals are derived, never written by callers: sums over the steps, wall time from the timestamps. */
export function computeTotals(run: Pick<RunRecord, 'steps' | 'startedAt' | 'completedAt'>): RunTotals {
  const tokens = { prompt: 0, completion: 0, total: 0 };
  let cost = 0;
  let lastStepEnd: string | undefined;
  for (const step of Object.values(run.steps)) {
    tokens.prompt += step.tokens?.prompt ?? 0;
    tokens.completion += step.tokens?.completion ?? 0;
    tokens.total += step.tokens?.total ?? 0;
    cost += step.cost?.total ?? 0;
    if (step.completedAt && (!lastStepEnd || step.completedAt > lastStepEnd)) lastStepEnd = step.completedAt;
  }
  const start = run.startedAt ? Date.parse(run.startedAt) : NaN;
  const end = Date.parse(run.completedAt ?? lastStepEnd ?? run.startedAt ?? '');
  const durationMs = Number.isNaN(start) || Number.isNaN(end) ? 0 : Math.max(0, end - start);
  // Rounded so sums of many float cents do not show 0.30000000000000004.
  return { tokens, cost: { currency: 'USD', total: Math.round(cost * 1e10) / 1e10 }, durationMs };
}

/** Applies a StepPatch; fills durationMs from startedAt/completedAt when the patch does not give it. */
export function applyStepPatch(run: RunRecord, stepId: string, patch: StepPatch): void {
  const current: StepRecord = run.steps[stepId] ?? {
    id: stepId,
    kind: 'agent',
    status: 'pending',
    attempts: 0,
  };
  const next: StepRecord = { ...current, ...patch, id: stepId };
  for (const key of Object.keys(next) as (keyof StepRecord)[]) if (next[key] === undefined) delete next[key];
  if (!('durationMs' in patch) && next.startedAt && next.completedAt && 'completedAt' in patch) {
    next.durationMs = Math.max(0, Date.parse(next.completedAt) - Date.parse(next.startedAt));
  }
  run.steps[stepId] = next;
}

const PAGE = 500;

/**
 * The subscription every adapter shares: listen first, then read after the cursor; every wake (an
 * in-process append, or a poll tick for writers elsewhere) reads after the cursor again. Wakes during a
 * read set a flag instead of a second reader, and only the next id is delivered, so an event can be
 * neither skipped nor repeated however appends and the start interleave.
 */
export function tailEvents(opts: {
  afterId: number;
  read: (afterId: number, limit: number) => Promise<RunEvent[]>;
  listen: (wake: () => void) => () => void;
  onEvent: (event: RunEvent) => void;
  onError?: (err: unknown) => void;
  pollMs?: number;
}): Unsubscribe {
  let cursor = opts.afterId;
  let active = true;
  let busy = false;
  let again = false;
  const drain = async (): Promise<void> => {
    again = false;
    for (let full = true; full && active;) {
      const batch = await opts.read(cursor, PAGE);
      full = batch.length === PAGE;
      for (const event of batch) {
        // A hole means a write not yet visible (possible in adapters without ordered commits): wait.
        if (!active || event.id !== cursor + 1) return;
        cursor = event.id;
        opts.onEvent(event);
      }
    }
  };
  const wake = (): void => {
    if (!active) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    drain().then(
      () => {
        busy = false;
        if (again) wake();
      },
      (err: unknown) => {
        busy = false;
        stop();
        if (opts.onError) opts.onError(err);
        else process.emitWarning(`Run event subscription ended: ${String(err)}`);
      },
    );
  };
  const unlisten = opts.listen(wake);
  const timer = opts.pollMs ? setInterval(wake, opts.pollMs).unref() : undefined;
  const stop = (): void => {
    if (!active) return;
    active = false;
    unlisten();
    if (timer) clearInterval(timer);
  };
  wake();
  return stop;
}

export const runNotFound = (id: string): NotFoundError =>
  new NotFoundError('RUN.NOT_FOUND', `No run with id '${id}'.`);

export const runExists = (id: string): ConflictError =>
  new ConflictError('RUN.EXISTS', `A run with id '${id}' already exists.`);

export const eventsClosed = (id: string): ConflictError =>
  new ConflictError('RUN.EVENTS_CLOSED', `Run '${id}' has ended: its event log takes no more events.`);

export const updateConflict = (id: string, attempts: number): ConflictError =>
  new ConflictError(
    'RUN.UPDATE_CONFLICT',
    `Run '${id}' kept changing under ${attempts} update attempts (etag conflicts); try again.`,
  );
