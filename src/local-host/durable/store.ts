/**
 * SQLite persistence of the task hub: instances, history, inboxes, activity work items, timers and
 * entities. Writes are queued and committed together once per event-loop turn (group commit); work
 * that depends on a write is only released after its transaction commits, so a crash at any moment
 * loses nothing that was acknowledged, and nothing runs on state that was never committed.
 */
import type Database from 'better-sqlite3';
import type { Op, RuntimeStatus } from './history';

export interface InstanceRecord {
  id: string;
  name: string;
  executionId: string;
  status: RuntimeStatus;
  input: string | undefined;
  output: string | undefined;
  customStatus: string | undefined;
  createdTime: string;
  lastUpdatedTime: string;
  parent: ParentRef | undefined;
  nextId: number;
  ops: Op[];
}

export interface ParentRef {
  id: string;
  executionId: string;
  taskId: number;
}

export interface InboxRow {
  seq: number;
  instanceId: string;
  event: string;
}

export interface ActivityRow {
  seq: number;
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  input: string | undefined;
}

export interface TimerRow {
  instanceId: string;
  executionId: string;
  timerId: number;
  fireAt: string;
}

export interface EntityRecord {
  id: string;
  exists: boolean;
  state: string | undefined;
  lastModified: string;
}

export interface EntityRequestRow {
  seq: number;
  entityId: string;
  request: string;
}

export interface InstanceQuery {
  runtimeStatus?: RuntimeStatus[];
  createdTimeFrom?: string;
  createdTimeTo?: string;
  instanceIdPrefix?: string;
  top?: number;
  /** Opaque continuation: the (createdTime, id) of the last row of the previous page. */
  after?: { createdTime: string; id: string };
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS dt_instances (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, execution_id TEXT NOT NULL, status TEXT NOT NULL,
  input TEXT, output TEXT, custom_status TEXT, created TEXT NOT NULL, updated TEXT NOT NULL,
  parent TEXT, next_id INTEGER NOT NULL, ops TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS dt_instances_created ON dt_instances (created, id);
CREATE INDEX IF NOT EXISTS dt_instances_status ON dt_instances (status);
CREATE TABLE IF NOT EXISTS dt_history (
  instance_id TEXT NOT NULL, idx INTEGER NOT NULL, event TEXT NOT NULL, PRIMARY KEY (instance_id, idx))
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dt_inbox (seq INTEGER PRIMARY KEY, instance_id TEXT NOT NULL, event TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS dt_inbox_instance ON dt_inbox (instance_id, seq);
CREATE TABLE IF NOT EXISTS dt_activities (
  seq INTEGER PRIMARY KEY, instance_id TEXT NOT NULL, execution_id TEXT NOT NULL, task_id INTEGER NOT NULL,
  name TEXT NOT NULL, input TEXT);
CREATE TABLE IF NOT EXISTS dt_timers (
  instance_id TEXT NOT NULL, execution_id TEXT NOT NULL, timer_id INTEGER NOT NULL, fire_at TEXT NOT NULL,
  PRIMARY KEY (instance_id, execution_id, timer_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dt_entities (
  id TEXT PRIMARY KEY, exists_flag INTEGER NOT NULL, state TEXT, last_modified TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dt_entity_queue (seq INTEGER PRIMARY KEY, entity_id TEXT NOT NULL, request TEXT NOT NULL);
`;

type Row = Record<string, unknown>;

export class DurableStore {
  private readonly ops: [Database.Statement, unknown[]][] = [];
  private readonly afterCommit: (() => void)[] = [];
  private flushScheduled = false;
  private closed = false;
  private seq: number;
  private readonly s: Record<string, Database.Statement>;
  /** Called when a flush fails (the host cannot continue safely). */
  onError: (err: Error) => void = (err) => {
    throw err;
  };

  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
    const max = (table: string): number =>
      (db.prepare(`SELECT COALESCE(MAX(seq), 0) AS m FROM ${table}`).get() as { m: number }).m;
    this.seq = Math.max(max('dt_inbox'), max('dt_activities'), max('dt_entity_queue'));
    const p = (sql: string): Database.Statement => db.prepare(sql);
    this.s = {
      upsertInstance:
        p(`INSERT INTO dt_instances (id, name, execution_id, status, input, output, custom_status,
        created, updated, parent, next_id, ops) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
        ON CONFLICT(id) DO UPDATE SET name=excluded.name, execution_id=excluded.execution_id, status=excluded.status,
        input=excluded.input, output=excluded.output, custom_status=excluded.custom_status, created=excluded.created,
        updated=excluded.updated, parent=excluded.parent, next_id=excluded.next_id, ops=excluded.ops`),
      deleteInstance: p('DELETE FROM dt_instances WHERE id = ?'),
      instanceExists: p('SELECT 1 FROM dt_instances WHERE id = ?'),
      insertHistory: p('INSERT OR REPLACE INTO dt_history (instance_id, idx, event) VALUES (?,?,?)'),
      deleteHistory: p('DELETE FROM dt_history WHERE instance_id = ?'),
      insertInbox: p('INSERT INTO dt_inbox (seq, instance_id, event) VALUES (?,?,?)'),
      deleteInbox: p('DELETE FROM dt_inbox WHERE seq = ?'),
      deleteInboxFor: p('DELETE FROM dt_inbox WHERE instance_id = ?'),
      insertActivity: p(
        'INSERT INTO dt_activities (seq, instance_id, execution_id, task_id, name, input) VALUES (?,?,?,?,?,?)',
      ),
      deleteActivity: p('DELETE FROM dt_activities WHERE seq = ?'),
      deleteActivitiesFor: p('DELETE FROM dt_activities WHERE instance_id = ?'),
      insertTimer: p(
        'INSERT OR REPLACE INTO dt_timers (instance_id, execution_id, timer_id, fire_at) VALUES (?,?,?,?)',
      ),
      deleteTimer: p('DELETE FROM dt_timers WHERE instance_id = ? AND execution_id = ? AND timer_id = ?'),
      deleteTimersFor: p('DELETE FROM dt_timers WHERE instance_id = ?'),
      upsertEntity: p(`INSERT INTO dt_entities (id, exists_flag, state, last_modified) VALUES (?,?,?,?)
        ON CONFLICT(id) DO UPDATE SET exists_flag=excluded.exists_flag, state=excluded.state,
        last_modified=excluded.last_modified`),
      insertEntityRequest: p('INSERT INTO dt_entity_queue (seq, entity_id, request) VALUES (?,?,?)'),
      deleteEntityRequest: p('DELETE FROM dt_entity_queue WHERE seq = ?'),
    };
  }

  nextSeq(): number {
    return ++this.seq;
  }

  // ---- queued writes -------------------------------------------------------------------------

  private queue(stmt: Database.Statement, params: unknown[]): void {
    if (this.closed) return; // work finishing after the drain: it runs again after a restart
    this.ops.push([stmt, params]);
    this.scheduleFlush();
  }

  /** Runs `fn` once everything queued so far is committed. */
  afterFlush(fn: () => void): void {
    if (this.closed) return;
    this.afterCommit.push(fn);
    this.scheduleFlush();
  }

  /**
   * Commits what is queued; later writes are dropped (in-flight work that finishes after the drain runs
   * again after a restart) and `committed()` rejects, so a client call that arrives while the host shuts
   * down fails instead of being acknowledged and then lost.
   */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      if (this.closed) return; // close() committed everything
      try {
        this.flush();
      } catch (err) {
        this.onError(err as Error);
      }
    });
  }

  /** Commits every queued write in one transaction, then releases the work waiting on it. */
  flush(): void {
    this.flushScheduled = false;
    if (this.ops.length > 0) {
      const ops = this.ops.splice(0);
      this.db.transaction(() => {
        for (const [stmt, params] of ops) stmt.run(...params);
      })();
    }
    const after = this.afterCommit.splice(0);
    for (const fn of after) fn();
  }

  /** Resolves once everything queued so far is committed (callers share one transaction). */
  committed(): Promise<void> {
    if (this.closed)
      return Promise.reject(new Error('The durable task hub has stopped: it takes no more work.'));
    return new Promise((resolve) => this.afterFlush(resolve));
  }

  /** Whether an instance row exists (committed or not: callers flush first when it matters). */
  instanceExists(id: string): boolean {
    return this.s.instanceExists!.get(id) !== undefined;
  }

  get pendingWrites(): number {
    return this.ops.length;
  }

  saveInstance(r: InstanceRecord): void {
    this.queue(this.s.upsertInstance!, [
      r.id,
      r.name,
      r.executionId,
      r.status,
      r.input ?? null,
      r.output ?? null,
      r.customStatus ?? null,
      r.createdTime,
      r.lastUpdatedTime,
      r.parent ? JSON.stringify(r.parent) : null,
      r.nextId,
      JSON.stringify(r.ops),
    ]);
  }

  appendHistory(instanceId: string, startIdx: number, events: string[]): void {
    events.forEach((e, i) => this.queue(this.s.insertHistory!, [instanceId, startIdx + i, e]));
  }

  resetHistory(instanceId: string): void {
    this.queue(this.s.deleteHistory!, [instanceId]);
  }

  addInbox(instanceId: string, event: string): InboxRow {
    const row = { seq: this.nextSeq(), instanceId, event };
    this.queue(this.s.insertInbox!, [row.seq, instanceId, event]);
    return row;
  }

  removeInbox(seq: number): void {
    this.queue(this.s.deleteInbox!, [seq]);
  }

  addActivity(a: Omit<ActivityRow, 'seq'>): ActivityRow {
    const row = { seq: this.nextSeq(), ...a };
    this.queue(this.s.insertActivity!, [
      row.seq,
      a.instanceId,
      a.executionId,
      a.taskId,
      a.name,
      a.input ?? null,
    ]);
    return row;
  }

  removeActivity(seq: number): void {
    this.queue(this.s.deleteActivity!, [seq]);
  }

  addTimer(t: TimerRow): void {
    this.queue(this.s.insertTimer!, [t.instanceId, t.executionId, t.timerId, t.fireAt]);
  }

  removeTimer(t: Pick<TimerRow, 'instanceId' | 'executionId' | 'timerId'>): void {
    this.queue(this.s.deleteTimer!, [t.instanceId, t.executionId, t.timerId]);
  }

  /** Drops timers and not-yet-started activity items of an instance (it finished or was reset). */
  clearWork(instanceId: string): void {
    this.queue(this.s.deleteTimersFor!, [instanceId]);
    this.queue(this.s.deleteActivitiesFor!, [instanceId]);
  }

  purge(instanceId: string): void {
    this.queue(this.s.deleteInstance!, [instanceId]);
    this.queue(this.s.deleteHistory!, [instanceId]);
    this.queue(this.s.deleteInboxFor!, [instanceId]);
    this.clearWork(instanceId);
  }

  saveEntity(e: EntityRecord): void {
    this.queue(this.s.upsertEntity!, [e.id, e.exists ? 1 : 0, e.state ?? null, e.lastModified]);
  }

  addEntityRequest(entityId: string, request: string): EntityRequestRow {
    const row = { seq: this.nextSeq(), entityId, request };
    this.queue(this.s.insertEntityRequest!, [row.seq, entityId, request]);
    return row;
  }

  removeEntityRequest(seq: number): void {
    this.queue(this.s.deleteEntityRequest!, [seq]);
  }

  // ---- reads (callers flush first when they need read-your-writes) --------------------------

  loadInstance(id: string): InstanceRecord | undefined {
    const row = this.db.prepare('SELECT * FROM dt_instances WHERE id = ?').get(id) as Row | undefined;
    return row ? toInstance(row) : undefined;
  }

  loadLiveInstances(): InstanceRecord[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM dt_instances WHERE status NOT IN ('Completed','Failed','Terminated','Canceled')`,
      )
      .all() as Row[];
    return rows.map(toInstance);
  }

  loadHistory(instanceId: string): string[] {
    return (
      this.db.prepare('SELECT event FROM dt_history WHERE instance_id = ? ORDER BY idx').all(instanceId) as {
        event: string;
      }[]
    ).map((r) => r.event);
  }

  loadInbox(): InboxRow[] {
    return (
      this.db.prepare('SELECT seq, instance_id, event FROM dt_inbox ORDER BY seq').all() as {
        seq: number;
        instance_id: string;
        event: string;
      }[]
    ).map((r) => ({ seq: r.seq, instanceId: r.instance_id, event: r.event }));
  }

  loadActivities(): ActivityRow[] {
    return (this.db.prepare('SELECT * FROM dt_activities ORDER BY seq').all() as Row[]).map((r) => ({
      seq: r.seq as number,
      instanceId: r.instance_id as string,
      executionId: r.execution_id as string,
      taskId: r.task_id as number,
      name: r.name as string,
      input: (r.input as string | null) ?? undefined,
    }));
  }

  loadTimers(): TimerRow[] {
    return (this.db.prepare('SELECT * FROM dt_timers').all() as Row[]).map((r) => ({
      instanceId: r.instance_id as string,
      executionId: r.execution_id as string,
      timerId: r.timer_id as number,
      fireAt: r.fire_at as string,
    }));
  }

  loadEntity(id: string): EntityRecord | undefined {
    const r = this.db.prepare('SELECT * FROM dt_entities WHERE id = ?').get(id) as Row | undefined;
    return r ? toEntity(r) : undefined;
  }

  queryEntities(prefix: string, top: number): EntityRecord[] {
    return (
      this.db
        .prepare('SELECT * FROM dt_entities WHERE id >= ? AND id < ? AND exists_flag = 1 ORDER BY id LIMIT ?')
        .all(prefix, prefix + '\uffff', top) as Row[]
    ).map(toEntity);
  }

  loadEntityQueue(): EntityRequestRow[] {
    return (
      this.db.prepare('SELECT seq, entity_id, request FROM dt_entity_queue ORDER BY seq').all() as {
        seq: number;
        entity_id: string;
        request: string;
      }[]
    ).map((r) => ({ seq: r.seq, entityId: r.entity_id, request: r.request }));
  }

  queryInstances(q: InstanceQuery): InstanceRecord[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.runtimeStatus?.length) {
      where.push(`status IN (${q.runtimeStatus.map(() => '?').join(',')})`);
      args.push(...q.runtimeStatus);
    }
    if (q.createdTimeFrom) {
      where.push('created >= ?');
      args.push(q.createdTimeFrom);
    }
    if (q.createdTimeTo) {
      where.push('created <= ?');
      args.push(q.createdTimeTo);
    }
    if (q.instanceIdPrefix) {
      where.push('id >= ? AND id < ?');
      args.push(q.instanceIdPrefix, q.instanceIdPrefix + '\uffff');
    }
    if (q.after) {
      where.push('(created > ? OR (created = ? AND id > ?))');
      args.push(q.after.createdTime, q.after.createdTime, q.after.id);
    }
    const sql = `SELECT * FROM dt_instances ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY created, id ${q.top ? 'LIMIT ?' : ''}`;
    if (q.top) args.push(q.top);
    return (this.db.prepare(sql).all(...args) as Row[]).map(toInstance);
  }
}

function toInstance(r: Row): InstanceRecord {
  return {
    id: r.id as string,
    name: r.name as string,
    executionId: r.execution_id as string,
    status: r.status as RuntimeStatus,
    input: (r.input as string | null) ?? undefined,
    output: (r.output as string | null) ?? undefined,
    customStatus: (r.custom_status as string | null) ?? undefined,
    createdTime: r.created as string,
    lastUpdatedTime: r.updated as string,
    parent: r.parent ? (JSON.parse(r.parent as string) as ParentRef) : undefined,
    nextId: r.next_id as number,
    ops: JSON.parse(r.ops as string) as Op[],
  };
}

function toEntity(r: Row): EntityRecord {
  return {
    id: r.id as string,
    exists: r.exists_flag === 1,
    state: (r.state as string | null) ?? undefined,
    lastModified: r.last_modified as string,
  };
}
