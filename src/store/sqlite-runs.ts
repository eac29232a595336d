/**
 * The SQLite RunStore and EventLog (better-sqlite3, WAL): the local host's adapter, safe for several
 * connections and processes on one file.
 * - runs: the record as a JSON document plus the columns queries need; updates compare-and-swap on the
 *   etag inside the UPDATE, so a writer holding a stale record can never win (no lost update).
 * - Idempotency: a UNIQUE index on (tenant, idempotency_key), checked inside an IMMEDIATE transaction.
 * - run_events: ids come from run_event_seq, bumped in the same IMMEDIATE transaction as the insert, so
 *   writers are serialized, ids never collide or gap, commit order is id order, and a purge never
 *   lets an id be handed out twice.
 * - Subscriptions wake at once on appends made through any store on the same file in this process and
 *   poll every `pollMs` for appends made by other processes.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { buildRun, pageOf, planList, settle, toEvent, updateLoop } from './memory-runs';
import { outputNotFound, outputRefFor, parseOutputRef, verifyOutput } from './payloads';
import {
  TERMINAL_EVENT_TYPES,
  applyStepPatch,
  eventsClosed,
  isTerminalEvent,
  runExists,
  tailEvents,
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

interface RunRow {
  doc: string;
  etag: string;
}

interface EventRow {
  run_id: string;
  id: number;
  type: string;
  step_id: string | null;
  data: string | null;
  at: string;
}

/** Documents read back are checked: a hand-edited or older row fails loudly instead of half-working. */
const storedRun = z.looseObject({
  id: z.string(),
  workflowId: z.string(),
  workflowVersion: z.string(),
  status: z.enum(['pending', 'running', 'waiting_for_approval', 'completed', 'failed', 'cancelled']),
  createdAt: z.string(),
  updatedAt: z.string(),
  steps: z.record(z.string(), z.looseObject({ id: z.string(), kind: z.string(), attempts: z.number() })),
  totals: z.looseObject({ durationMs: z.number() }),
});

const TERMINAL_SQL = TERMINAL_EVENT_TYPES.map((t) => `'${t}'`).join(', ');

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, idempotency_key TEXT, workflow_id TEXT NOT NULL,
  status TEXT NOT NULL, created TEXT NOT NULL, etag TEXT NOT NULL, doc TEXT NOT NULL CHECK (json_valid(doc)));
CREATE UNIQUE INDEX IF NOT EXISTS runs_idempotency ON runs (tenant, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_created ON runs (created DESC, id DESC);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status, created DESC, id DESC);
CREATE INDEX IF NOT EXISTS runs_workflow ON runs (workflow_id, created DESC, id DESC);
CREATE TABLE IF NOT EXISTS run_outputs (
  run_id TEXT NOT NULL, sha256 TEXT NOT NULL, step_id TEXT NOT NULL, bytes INTEGER NOT NULL,
  created TEXT NOT NULL, text TEXT NOT NULL, PRIMARY KEY (run_id, sha256)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_event_seq (run_id TEXT PRIMARY KEY, last_id INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_event_closed (run_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_event_batches (run_id TEXT PRIMARY KEY, last_batch INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_events (
  run_id TEXT NOT NULL, id INTEGER NOT NULL, type TEXT NOT NULL, step_id TEXT, data TEXT, at TEXT NOT NULL,
  PRIMARY KEY (run_id, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS run_events_terminal ON run_events (at) WHERE type IN (${TERMINAL_SQL});`;

/** Appends through any store on a file wake that file's subscribers in this process at once. */
const appended = new EventEmitter().setMaxListeners(0);

export interface SqliteRunStoreOptions {
  /** How often a subscription polls for appends by other processes (default 250 ms). */
  pollMs?: number;
}

export class SqliteRunStore implements RunStore, EventLog {
  private readonly db: Database.Database;
  private readonly channel: string;
  private readonly pollMs: number;
  private readonly subscriptions = new Set<Unsubscribe>();
  private readonly sql: (text: string) => Database.Statement;
  private readonly createTx: Database.Transaction<(run: RunRecord) => { run: RunRecord; created: boolean }>;
  private readonly appendTx: Database.Transaction<(runId: string, event: NewRunEvent) => RunEvent>;
  private readonly appendManyTx: Database.Transaction<
    (runId: string, events: NewRunEvent[], batch?: number) => RunEvent[]
  >;
  private readonly deleteTx: Database.Transaction<(id: string) => boolean>;

  /** Opens (and creates when needed) the store in `file`; the folder must exist. */
  constructor(file: string, options: SqliteRunStoreOptions = {}) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // WAL + NORMAL: a process crash loses no committed write; only an OS crash could lose the last ones.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.channel = file === ':memory:' ? randomUUID() : path.resolve(file);
    this.pollMs = options.pollMs ?? 250;
    const cache = new Map<string, Database.Statement>();
    this.sql = (text) => cache.get(text) ?? cache.set(text, this.db.prepare(text)).get(text)!;

    this.createTx = this.db.transaction((run: RunRecord) => {
      if (run.idempotencyKey !== undefined) {
        const existing = this.sql('SELECT doc, etag FROM runs WHERE tenant = ? AND idempotency_key = ?').get(
          run.tenantId ?? '',
          run.idempotencyKey,
        ) as RunRow | undefined;
        if (existing) return { run: fromRow(existing), created: false };
      }
      try {
        this.sql(
          `INSERT INTO runs (id, tenant, idempotency_key, workflow_id, status, created, etag, doc)
           VALUES (@id, @tenant, @key, @workflowId, @status, @createdAt, @etag, @doc)`,
        ).run({ ...run, tenant: run.tenantId ?? '', key: run.idempotencyKey ?? null, doc: toDoc(run) });
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw runExists(run.id);
        throw err;
      }
      return { run, created: true };
    });

    this.appendTx = this.db.transaction((runId: string, event: NewRunEvent) => {
      if (this.sql('SELECT 1 FROM run_event_closed WHERE run_id = ?').get(runId)) throw eventsClosed(runId);
      const { last_id } = this.sql(
        `INSERT INTO run_event_seq (run_id, last_id) VALUES (?, 1)
         ON CONFLICT (run_id) DO UPDATE SET last_id = last_id + 1 RETURNING last_id`,
      ).get(runId) as { last_id: number };
      const { stepId, data, ...stored } = toEvent(runId, last_id, event);
      const row: EventRow = { ...stored, run_id: runId, step_id: stepId ?? null, data: null };
      if (data !== undefined) row.data = JSON.stringify(data);
      this.sql(
        `INSERT INTO run_events (run_id, id, type, step_id, data, at)
         VALUES (@run_id, @id, @type, @step_id, @data, @at)`,
      ).run(row);
      if (isTerminalEvent(row.type))
        this.sql('INSERT OR IGNORE INTO run_event_closed (run_id) VALUES (?)').run(runId);
      return fromEventRow(row);
    });

    // Nested in one IMMEDIATE transaction: the ids are consecutive and the batch lands whole or not at all.
    this.appendManyTx = this.db.transaction((runId: string, events: NewRunEvent[], batch?: number) => {
      if (batch !== undefined) {
        const applied = this.sql(
          `INSERT INTO run_event_batches (run_id, last_batch) VALUES (@runId, @batch)
           ON CONFLICT (run_id) DO UPDATE SET last_batch = @batch WHERE last_batch < @batch`,
        ).run({ runId, batch }).changes;
        if (!applied) return [];
      }
      return events.map((e) => this.appendTx(runId, e));
    });

    this.deleteTx = this.db.transaction((id: string) => {
      for (const table of [
        'run_outputs',
        'run_events',
        'run_event_seq',
        'run_event_batches',
        'run_event_closed',
      ]) {
        this.sql(`DELETE FROM ${table} WHERE run_id = ?`).run(id);
      }
      return this.sql('DELETE FROM runs WHERE id = ?').run(id).changes > 0;
    });
  }

  createRun(input: NewRun): Promise<{ run: RunRecord; created: boolean }> {
    // IMMEDIATE: the key lookup and the insert hold the write lock together, across connections too.
    return settle(() => this.createTx.immediate(buildRun(input)));
  }

  getRun(id: string): Promise<RunRecord | undefined> {
    return settle(() => this.readRun(id));
  }

  listRuns(query: RunQuery = {}): Promise<RunPage> {
    return settle(() => {
      const plan = planList(query);
      const where: string[] = [];
      const params: Record<string, string | number> = { limit: plan.limit + 1 };
      const add = (clause: string, values: Record<string, string | undefined>): void => {
        if (Object.values(values).some((v) => v === undefined)) return;
        where.push(clause);
        Object.assign(params, values);
      };
      add('status = @status', { status: plan.status });
      add('workflow_id = @workflowId', { workflowId: plan.workflowId });
      add('tenant = @tenantId', { tenantId: plan.tenantId });
      add('created >= @from', { from: plan.from });
      add('created < @to', { to: plan.to });
      add('(created < @afterCreated OR (created = @afterCreated AND id < @afterId))', {
        afterCreated: plan.after?.createdAt,
        afterId: plan.after?.id,
      });
      const text = `SELECT doc, etag FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY created DESC, id DESC LIMIT @limit`;
      return pageOf((this.sql(text).all(params) as RunRow[]).map(fromRow), plan.limit);
    });
  }

  updateRun(
    id: string,
    mutate: (run: RunRecord) => void | RunRecord,
    options: { retries?: number } = {},
  ): Promise<RunRecord> {
    const cas = 'UPDATE runs SET workflow_id = ?, status = ?, etag = ?, doc = ? WHERE id = ? AND etag = ?';
    return updateLoop(
      id,
      mutate,
      options.retries,
      () => this.readRun(id),
      (next, etag) =>
        this.sql(cas).run(next.workflowId, next.status, next.etag, toDoc(next), id, etag).changes === 1,
    );
  }

  updateStep(runId: string, stepId: string, patch: StepPatch): Promise<RunRecord> {
    return this.updateRun(runId, (run) => applyStepPatch(run, stepId, patch));
  }

  putOutput(runId: string, stepId: string, text: string): Promise<OutputRef> {
    return settle(() => {
      const ref = outputRefFor(runId, text);
      this.sql(
        `INSERT INTO run_outputs (run_id, sha256, step_id, bytes, created, text) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id, sha256) DO NOTHING`,
      ).run(runId, ref.sha256, stepId, ref.bytes, new Date().toISOString(), text);
      return ref;
    });
  }

  getOutput(ref: OutputRef | string): Promise<string> {
    return settle(() => {
      const { runId, sha256, ref: name } = parseOutputRef(ref);
      const row = this.sql('SELECT text FROM run_outputs WHERE run_id = ? AND sha256 = ?').get(
        runId,
        sha256,
      ) as { text: string } | undefined;
      if (!row) throw outputNotFound(name);
      return verifyOutput(sha256, row.text, name);
    });
  }

  deleteRun(id: string): Promise<boolean> {
    return settle(() => this.deleteTx.immediate(id));
  }

  append(runId: string, event: NewRunEvent): Promise<RunEvent> {
    return settle(() => {
      const stored = this.appendTx.immediate(runId, event);
      appended.emit(this.key(runId));
      return stored;
    });
  }

  appendMany(runId: string, events: NewRunEvent[], options: { batch?: number } = {}): Promise<RunEvent[]> {
    return settle(() => {
      if (!events.length && options.batch === undefined) return [];
      const stored = this.appendManyTx.immediate(runId, events, options.batch);
      if (!stored.length) return stored;
      appended.emit(this.key(runId));
      return stored;
    });
  }

  read(runId: string, options: { afterId?: number; limit?: number } = {}): Promise<RunEvent[]> {
    return settle(() => {
      const rows = this.sql(
        `SELECT run_id, id, type, step_id, data, at FROM run_events
         WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?`,
      ).all(runId, options.afterId ?? 0, options.limit ?? -1) as EventRow[];
      return rows.map(fromEventRow);
    });
  }

  subscribe(
    runId: string,
    afterId: number,
    onEvent: (event: RunEvent) => void,
    onError?: (err: unknown) => void,
  ): Unsubscribe {
    const key = this.key(runId);
    const stop = tailEvents({
      afterId,
      read: (after, limit) => this.read(runId, { afterId: after, limit }),
      listen: (wake) => {
        appended.on(key, wake);
        return () => appended.off(key, wake);
      },
      onEvent,
      onError,
      pollMs: this.pollMs,
    });
    const unsubscribe = (): void => {
      this.subscriptions.delete(unsubscribe);
      stop();
    };
    this.subscriptions.add(unsubscribe);
    return unsubscribe;
  }

  lastId(runId: string): Promise<number> {
    return settle(() => {
      const row = this.sql('SELECT last_id FROM run_event_seq WHERE run_id = ?').get(runId) as
        { last_id: number } | undefined;
      return row?.last_id ?? 0;
    });
  }

  purgeExpired(olderThanMs: number, now = Date.now()): Promise<number> {
    const cutoff = new Date(now - olderThanMs).toISOString();
    return settle(
      () =>
        this.sql(
          `DELETE FROM run_events WHERE run_id IN
           (SELECT run_id FROM run_events WHERE type IN (${TERMINAL_SQL}) AND at < ?)`,
        ).run(cutoff).changes,
    );
  }

  /** Ends every subscription, then closes the file. */
  close(): void {
    for (const unsubscribe of [...this.subscriptions]) unsubscribe();
    if (this.db.open) this.db.close();
  }

  private readRun(id: string): RunRecord | undefined {
    const row = this.sql('SELECT doc, etag FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    return row && fromRow(row);
  }

  private key(runId: string): string {
    return `${this.channel}\0${runId}`;
  }
}

/** The etag lives in its column only, so the CAS compares exactly what it writes. */
function toDoc(run: RunRecord): string {
  const { etag: _etag, ...doc } = run;
  return JSON.stringify(doc);
}

function fromRow(row: RunRow): RunRecord {
  const parsed = storedRun.safeParse(JSON.parse(row.doc));
  if (!parsed.success) throw new Error(`runs row is not a valid run record: ${parsed.error.message}`);
  return { ...(parsed.data as unknown as RunRecord), etag: row.etag };
}

function fromEventRow(row: EventRow): RunEvent {
  const event: RunEvent = { id: row.id, runId: row.run_id, type: row.type, at: row.at };
  if (row.step_id !== null) event.stepId = row.step_id;
  if (row.data !== null) event.data = JSON.parse(row.data) as unknown;
  return event;
}
