/**
 * The in-memory RunStore and EventLog: tests, and the reference the other adapters are checked against
 * (test/unit/store-runs.test.ts). Records go in and out as JSON copies, so a caller mutating what it got
 * never changes the store, and the memory adapter accepts exactly what a database would.
 * Also home of the mechanics the synchronous adapters share: record building, the update loop and
 * list paging.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { ValidationError } from '../errors';
import { newEtag } from './memory-catalog';
import { outputRefFor, parseOutputRef, outputNotFound } from './payloads';
import {
  DEFAULT_UPDATE_RETRIES,
  applyStepPatch,
  eventsClosed,
  computeTotals,
  isTerminalEvent,
  runExists,
  runNotFound,
  tailEvents,
  updateConflict,
  type EventLog,
  type NewRun,
  type NewRunEvent,
  type OutputRef,
  type RunEvent,
  type RunPage,
  type RunQuery,
  type RunRecord,
  type RunStore,
  type StepPatch,
  type Unsubscribe,
} from './runs';

export class MemoryRunStore implements RunStore, EventLog {
  private readonly runs = new Map<string, RunRecord>();
  /** `tenant \0 idempotencyKey` → run id. */
  private readonly keys = new Map<string, string>();
  /** run id → sha256 → text. */
  private readonly outputs = new Map<string, Map<string, string>>();
  private readonly logs = new Map<string, { last: number; events: RunEvent[]; closed?: boolean }>();
  /** The last record batch applied per run (appendMany's `batch`). */
  private readonly batches = new Map<string, number>();
  private readonly appended = new EventEmitter().setMaxListeners(0);

  createRun(input: NewRun): Promise<{ run: RunRecord; created: boolean }> {
    return settle(() => {
      const key =
        input.idempotencyKey === undefined ? undefined : keyOf(input.tenantId, input.idempotencyKey);
      const existing = key === undefined ? undefined : this.keys.get(key);
      if (existing !== undefined) return { run: jsonClone(this.runs.get(existing)!), created: false };
      const run = buildRun(input);
      if (this.runs.has(run.id)) throw runExists(run.id);
      this.runs.set(run.id, run);
      if (key !== undefined) this.keys.set(key, run.id);
      return { run: jsonClone(run), created: true };
    });
  }

  getRun(id: string): Promise<RunRecord | undefined> {
    const run = this.runs.get(id);
    return Promise.resolve(run && jsonClone(run));
  }

  listRuns(query: RunQuery = {}): Promise<RunPage> {
    return settle(() => {
      const plan = planList(query);
      const rows = [...this.runs.values()]
        .filter((r) => matches(r, plan))
        .sort(newestFirst)
        .slice(0, plan.limit + 1);
      return pageOf(rows.map(jsonClone), plan.limit);
    });
  }

  updateRun(
    id: string,
    mutate: (run: RunRecord) => void | RunRecord,
    options: { retries?: number } = {},
  ): Promise<RunRecord> {
    return updateLoop(
      id,
      mutate,
      options.retries,
      () => this.runs.get(id) && jsonClone(this.runs.get(id)!),
      (next, etag) => {
        if (this.runs.get(id)?.etag !== etag) return false;
        this.runs.set(id, jsonClone(next));
        return true;
      },
    );
  }

  updateStep(runId: string, stepId: string, patch: StepPatch): Promise<RunRecord> {
    return this.updateRun(runId, (run) => applyStepPatch(run, stepId, patch));
  }

  putOutput(runId: string, _stepId: string, text: string): Promise<OutputRef> {
    const ref = outputRefFor(runId, text);
    const texts = this.outputs.get(runId) ?? new Map<string, string>();
    this.outputs.set(runId, texts.set(ref.sha256, text));
    return Promise.resolve(ref);
  }

  getOutput(ref: OutputRef | string): Promise<string> {
    return settle(() => {
      const { runId, sha256, ref: name } = parseOutputRef(ref);
      const text = this.outputs.get(runId)?.get(sha256);
      if (text === undefined) throw outputNotFound(name);
      return text;
    });
  }

  deleteRun(id: string): Promise<boolean> {
    const run = this.runs.get(id);
    if (run?.idempotencyKey !== undefined) this.keys.delete(keyOf(run.tenantId, run.idempotencyKey));
    this.outputs.delete(id);
    this.logs.delete(id);
    this.batches.delete(id);
    return Promise.resolve(this.runs.delete(id));
  }

  append(runId: string, event: NewRunEvent): Promise<RunEvent> {
    return settle(() => {
      const log = this.logs.get(runId) ?? { last: 0, events: [] };
      if (log.closed) throw eventsClosed(runId);
      this.logs.set(runId, log);
      const stored = jsonClone(toEvent(runId, log.last + 1, event));
      log.last = stored.id;
      log.events.push(stored);
      if (isTerminalEvent(stored.type)) log.closed = true;
      this.appended.emit(runId);
      return jsonClone(stored);
    });
  }

  appendMany(runId: string, events: NewRunEvent[], options: { batch?: number } = {}): Promise<RunEvent[]> {
    return settle(() => {
      const { batch } = options;
      if (batch !== undefined && batch <= (this.batches.get(runId) ?? -Infinity)) return [];
      const log = this.logs.get(runId) ?? { last: 0, events: [] };
      const end = events.findIndex((e) => isTerminalEvent(e.type));
      if (events.length && (log.closed || (end >= 0 && end < events.length - 1))) throw eventsClosed(runId);
      if (batch !== undefined) this.batches.set(runId, batch);
      if (!events.length) return [];
      this.logs.set(runId, log);
      const stored = events.map((e, i) => jsonClone(toEvent(runId, log.last + 1 + i, e)));
      log.last += stored.length;
      log.events.push(...stored);
      if (end >= 0) log.closed = true;
      this.appended.emit(runId);
      return stored.map(jsonClone);
    });
  }

  read(runId: string, options: { afterId?: number; limit?: number } = {}): Promise<RunEvent[]> {
    const events = this.logs.get(runId)?.events ?? [];
    const after = events.filter((e) => e.id > (options.afterId ?? 0));
    return Promise.resolve(after.slice(0, options.limit ?? after.length).map(jsonClone));
  }

  subscribe(
    runId: string,
    afterId: number,
    onEvent: (event: RunEvent) => void,
    onError?: (err: unknown) => void,
  ): Unsubscribe {
    return tailEvents({
      afterId,
      read: (after, limit) => this.read(runId, { afterId: after, limit }),
      listen: (wake) => {
        this.appended.on(runId, wake);
        return () => this.appended.off(runId, wake);
      },
      onEvent,
      onError,
    });
  }

  lastId(runId: string): Promise<number> {
    return Promise.resolve(this.logs.get(runId)?.last ?? 0);
  }

  purgeExpired(olderThanMs: number, now = Date.now()): Promise<number> {
    const cutoff = new Date(now - olderThanMs).toISOString();
    let deleted = 0;
    for (const log of this.logs.values()) {
      if (!log.events.some((e) => isTerminalEvent(e.type) && e.at < cutoff)) continue;
      deleted += log.events.length;
      log.events = [];
    }
    return Promise.resolve(deleted);
  }
}

/** Synchronous work as a promise: a throw becomes a rejection, as in an async adapter. */
export function settle<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve) => resolve(fn()));
}

export function jsonClone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export const keyOf = (tenantId: string | undefined, key: string): string => `${tenantId ?? ''}\0${key}`;

/** A new record: the caller's fields, the store's timestamps, etag and totals; JSON only. */
export function buildRun(input: NewRun): RunRecord {
  const now = new Date().toISOString();
  const steps = input.steps ?? {};
  return jsonClone({
    ...input,
    id: input.id ?? randomUUID(),
    status: input.status ?? 'pending',
    steps,
    createdAt: now,
    updatedAt: now,
    totals: computeTotals({ steps, startedAt: input.startedAt }),
    etag: newEtag(),
  });
}

/**
 * The compare-and-swap loop for adapters whose read and write are synchronous (memory, SQLite): read,
 * mutate a copy and write if the etag still matches, in one synchronous stretch, so nothing in this
 * process interleaves. A conflict (another process, or a write made inside `mutate`) backs off with
 * jitter and starts over: without the pause, writers on one file starve each other.
 */
export async function updateLoop(
  id: string,
  mutate: (run: RunRecord) => void | RunRecord,
  retries = DEFAULT_UPDATE_RETRIES,
  read: () => RunRecord | undefined,
  write: (next: RunRecord, etag: string) => boolean,
): Promise<RunRecord> {
  for (let attempt = 0; ; attempt++) {
    const current = read();
    if (!current) throw runNotFound(id);
    const next = prepareUpdate(current, mutate);
    if (!next) return current;
    if (write(next, current.etag)) return next;
    if (attempt >= retries) throw updateConflict(id, attempt + 1);
    await new Promise((r) => setTimeout(r, Math.random() * Math.min(1000, 10 * 2 ** attempt)));
  }
}

/** The mutated record with the store-owned fields put back; undefined when nothing changed. */
export function prepareUpdate(
  current: RunRecord,
  mutate: (run: RunRecord) => void | RunRecord,
): RunRecord | undefined {
  const draft = jsonClone(current);
  const changed: RunRecord = jsonClone(mutate(draft) ?? draft);
  const { tenantId, idempotencyKey, createdAt, updatedAt, etag } = current;
  const next: RunRecord = { ...changed, id: current.id, createdAt, updatedAt, etag };
  delete next.tenantId;
  delete next.idempotencyKey;
  if (tenantId !== undefined) next.tenantId = tenantId;
  if (idempotencyKey !== undefined) next.idempotencyKey = idempotencyKey;
  next.totals = computeTotals(next);
  if (stableJson(next) === stableJson(current)) return undefined;
  return { ...next, updatedAt: new Date().toISOString(), etag: newEtag() };
}

/** JSON with sorted keys, so two equal records compare equal whatever their key order. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

export interface ListPlan {
  limit: number;
  status?: string;
  workflowId?: string;
  tenantId?: string;
  from?: string;
  to?: string;
  /** The last run of the previous page: this page starts strictly after it. */
  after?: { createdAt: string; id: string };
}

const token = z.tuple([z.string(), z.string()]);

/** Query → normalized plan; bad dates or tokens are a ValidationError naming the field. */
export function planList(q: RunQuery): ListPlan {
  const iso = (value: string | undefined, path: string): string | undefined => {
    if (value === undefined) return undefined;
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw new ValidationError([{ path, message: 'must be an ISO 8601 date-time' }]);
    return new Date(ms).toISOString();
  };
  let after: ListPlan['after'];
  if (q.continuationToken !== undefined) {
    const parsed = token.safeParse(safeJson(Buffer.from(q.continuationToken, 'base64url').toString('utf8')));
    if (!parsed.success) {
      throw new ValidationError([{ path: 'continuationToken', message: 'is not a token this store issued' }]);
    }
    after = { createdAt: parsed.data[0], id: parsed.data[1] };
  }
  const limit = Math.min(500, Math.max(1, Math.floor(q.limit ?? 50)));
  const { status, workflowId, tenantId } = q;
  return {
    limit,
    status,
    workflowId,
    tenantId,
    from: iso(q.createdFrom, 'createdFrom'),
    to: iso(q.createdTo, 'createdTo'),
    after,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `rows` holds up to limit + 1 runs, newest first: the extra one only says another page exists. */
export function pageOf(rows: RunRecord[], limit: number): RunPage {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  if (rows.length <= limit || !last) return { items };
  const continuationToken = Buffer.from(JSON.stringify([last.createdAt, last.id])).toString('base64url');
  return { items, continuationToken };
}

function matches(run: RunRecord, p: ListPlan): boolean {
  return (
    (p.status === undefined || run.status === p.status) &&
    (p.workflowId === undefined || run.workflowId === p.workflowId) &&
    (p.tenantId === undefined || (run.tenantId ?? '') === p.tenantId) &&
    (p.from === undefined || run.createdAt >= p.from) &&
    (p.to === undefined || run.createdAt < p.to) &&
    (p.after === undefined || newestFirst(run, p.after) > 0)
  );
}

/** createdAt descending, then id descending: a total order, so keyset pages are stable. */
export function newestFirst(
  a: Pick<RunRecord, 'createdAt' | 'id'>,
  b: Pick<RunRecord, 'createdAt' | 'id'>,
): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return a.id === b.id ? 0 : a.id < b.id ? 1 : -1;
}

export function toEvent(runId: string, id: number, event: NewRunEvent): RunEvent {
  const out: RunEvent = { id, runId, type: event.type, at: new Date().toISOString() };
  if (event.stepId !== undefined) out.stepId = event.stepId;
  if (event.data !== undefined) out.data = event.data;
  return out;
}
