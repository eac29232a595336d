/**
 * The SQLite CatalogStore (better-sqlite3, WAL): the local and single-node adapter. One row per agent:
 * the definition as a JSON document, plus the columns the store owns (etag, created, updated).
 * Updates are compare-and-swap on the etag inside the UPDATE itself, so two writers holding the same
 * etag (even in two processes on one file) can never both win: no lost update.
 *
 * Workflows: one row per version (never updated), numbered by `seq` within the workflow; the latest
 * version is the highest seq. A new version is read-checked-inserted in an IMMEDIATE transaction (the
 * write lock is taken first), and (id, version) and (id, seq) are unique, so of two writers of one new
 * version — even in two processes — exactly one wins.
 */
import Database from 'better-sqlite3';
import { z } from 'zod';
import type { AgentDefinition } from '../agents/types';
import type { WorkflowDefinition } from '../workflows/definition';
import type { CatalogStore, StoredWorkflow } from './catalog';
import {
  agentExists,
  agentNotFound,
  etagMismatch,
  newEtag,
  sameDefinition,
  workflowEtagMismatch,
  workflowExists,
  workflowNotFound,
  workflowVersionExists,
} from './memory-catalog';

interface Row {
  id: string;
  doc: string;
  etag: string;
  created: string;
  updated: string;
}

/** Documents read back are checked: a hand-edited or older row fails loudly instead of half-working. */
const storedDoc = z.looseObject({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  role: z.string(),
  systemPrompt: z.string(),
  capabilities: z.array(z.string()),
  builtIn: z.boolean(),
});

interface WorkflowRow {
  id: string;
  version: string;
  seq: number;
  doc: string;
  etag: string;
  created: string;
  latest: 0 | 1;
}

const storedWorkflowDoc = z.looseObject({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  steps: z.array(z.unknown()).min(1),
});

const WORKFLOW_COLUMNS =
  'id, version, seq, doc, etag, created, ' +
  'seq = (SELECT MAX(seq) FROM catalog_workflows m WHERE m.id = w.id) AS latest';

export class SqliteCatalogStore implements CatalogStore {
  private readonly db: Database.Database;
  private readonly stmts: {
    list: Database.Statement<[], Row>;
    get: Database.Statement<[string], Row>;
    insert: Database.Statement<[string, string, string, string, string]>;
    update: Database.Statement<[string, string, string, string, string], { created: string }>;
    updateAny: Database.Statement<[string, string, string, string], { created: string }>;
    remove: Database.Statement<[string]>;
    wfList: Database.Statement<[], WorkflowRow>;
    wfLatest: Database.Statement<[string], WorkflowRow>;
    wfVersion: Database.Statement<[string, string], WorkflowRow>;
    wfVersions: Database.Statement<[string], WorkflowRow>;
    wfInsert: Database.Statement<[string, string, number, string, string, string]>;
    wfRemove: Database.Statement<[string]>;
  };
  private readonly putVersionTx: Database.Transaction<
    (def: WorkflowDefinition, ifMatch: string | undefined) => StoredWorkflow
  >;

  /** Opens (and creates when needed) the catalog in `file`; the folder must exist. */
  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // WAL + NORMAL: a process crash loses no committed write; only an OS crash could lose the last ones.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`CREATE TABLE IF NOT EXISTS catalog_agents (
      id TEXT PRIMARY KEY,
      doc TEXT NOT NULL CHECK (json_valid(doc)),
      etag TEXT NOT NULL,
      created TEXT NOT NULL,
      updated TEXT NOT NULL
    )`);
    this.db.exec(`CREATE TABLE IF NOT EXISTS catalog_workflows (
      id TEXT NOT NULL,
      version TEXT NOT NULL,
      seq INTEGER NOT NULL,
      doc TEXT NOT NULL CHECK (json_valid(doc)),
      etag TEXT NOT NULL,
      created TEXT NOT NULL,
      PRIMARY KEY (id, version),
      UNIQUE (id, seq)
    )`);
    this.stmts = {
      list: this.db.prepare('SELECT id, doc, etag, created, updated FROM catalog_agents ORDER BY id'),
      get: this.db.prepare('SELECT id, doc, etag, created, updated FROM catalog_agents WHERE id = ?'),
      insert: this.db.prepare(
        'INSERT INTO catalog_agents (id, doc, etag, created, updated) VALUES (?, ?, ?, ?, ?)',
      ),
      update: this.db.prepare(
        'UPDATE catalog_agents SET doc = ?, etag = ?, updated = ? WHERE id = ? AND etag = ? RETURNING created',
      ),
      updateAny: this.db.prepare(
        'UPDATE catalog_agents SET doc = ?, etag = ?, updated = ? WHERE id = ? RETURNING created',
      ),
      remove: this.db.prepare('DELETE FROM catalog_agents WHERE id = ?'),
      wfList: this.db.prepare(
        `SELECT ${WORKFLOW_COLUMNS} FROM catalog_workflows w ` +
          'WHERE seq = (SELECT MAX(seq) FROM catalog_workflows m WHERE m.id = w.id) ORDER BY id',
      ),
      wfLatest: this.db.prepare(
        `SELECT ${WORKFLOW_COLUMNS} FROM catalog_workflows w WHERE id = ? ORDER BY seq DESC LIMIT 1`,
      ),
      wfVersion: this.db.prepare(
        `SELECT ${WORKFLOW_COLUMNS} FROM catalog_workflows w WHERE id = ? AND version = ?`,
      ),
      wfVersions: this.db.prepare(
        `SELECT ${WORKFLOW_COLUMNS} FROM catalog_workflows w WHERE id = ? ORDER BY seq`,
      ),
      wfInsert: this.db.prepare(
        'INSERT INTO catalog_workflows (id, version, seq, doc, etag, created) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      wfRemove: this.db.prepare('DELETE FROM catalog_workflows WHERE id = ?'),
    };
    this.putVersionTx = this.db.transaction((def: WorkflowDefinition, ifMatch: string | undefined) => {
      const latest = this.stmts.wfLatest.get(def.id);
      if (!latest) throw workflowNotFound(def.id);
      const row = this.stmts.wfVersion.get(def.id, def.version);
      const existing = row && fromWorkflowRow(row);
      if (existing && sameDefinition(existing.definition, def)) return existing;
      if (ifMatch !== undefined && ifMatch !== latest.etag) throw workflowEtagMismatch(def.id);
      if (existing) throw workflowVersionExists(def.id, def.version);
      return this.insertVersion(def, latest.seq + 1);
    });
  }

  listAgents(): Promise<AgentDefinition[]> {
    return run(() => this.stmts.list.all().map(fromRow));
  }

  getAgent(id: string): Promise<AgentDefinition | undefined> {
    return run(() => {
      const row = this.stmts.get.get(id);
      return row && fromRow(row);
    });
  }

  createAgent(def: AgentDefinition): Promise<AgentDefinition> {
    return run(() => {
      const now = new Date().toISOString();
      const etag = newEtag();
      try {
        this.stmts.insert.run(def.id, toDoc(def), etag, now, now);
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw agentExists(def.id);
        throw err;
      }
      return { ...structuredClone(def), createdAt: now, updatedAt: now, etag };
    });
  }

  updateAgent(def: AgentDefinition, ifMatch?: string): Promise<AgentDefinition> {
    return run(() => {
      const now = new Date().toISOString();
      const etag = newEtag();
      const written =
        ifMatch === undefined
          ? this.stmts.updateAny.get(toDoc(def), etag, now, def.id)
          : this.stmts.update.get(toDoc(def), etag, now, def.id, ifMatch);
      if (!written) {
        // Nothing written: tell "gone" from "stale" (the read after the failed CAS only picks the error).
        if (!this.stmts.get.get(def.id)) throw agentNotFound(def.id);
        throw etagMismatch(def.id);
      }
      return { ...structuredClone(def), createdAt: written.created, updatedAt: now, etag };
    });
  }

  deleteAgent(id: string): Promise<boolean> {
    return run(() => this.stmts.remove.run(id).changes > 0);
  }

  listWorkflows(): Promise<StoredWorkflow[]> {
    return run(() => this.stmts.wfList.all().map(fromWorkflowRow));
  }

  getWorkflow(id: string, version?: string): Promise<StoredWorkflow | undefined> {
    return run(() => {
      const row = version === undefined ? this.stmts.wfLatest.get(id) : this.stmts.wfVersion.get(id, version);
      return row && fromWorkflowRow(row);
    });
  }

  listWorkflowVersions(id: string): Promise<StoredWorkflow[]> {
    return run(() => this.stmts.wfVersions.all(id).map(fromWorkflowRow));
  }

  createWorkflow(def: WorkflowDefinition): Promise<StoredWorkflow> {
    return run(() => {
      try {
        // Every existing workflow has a row with seq 1 (versions are only ever removed all together).
        return this.insertVersion(def, 1);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
          throw workflowExists(def.id);
        }
        throw err;
      }
    });
  }

  putWorkflowVersion(def: WorkflowDefinition, ifMatch?: string): Promise<StoredWorkflow> {
    return run(() => this.putVersionTx.immediate(def, ifMatch));
  }

  deleteWorkflow(id: string): Promise<boolean> {
    return run(() => this.stmts.wfRemove.run(id).changes > 0);
  }

  private insertVersion(def: WorkflowDefinition, seq: number): StoredWorkflow {
    const createdAt = new Date().toISOString();
    const etag = newEtag();
    this.stmts.wfInsert.run(def.id, def.version, seq, JSON.stringify(def), etag, createdAt);
    return { definition: structuredClone(def), createdAt, etag, latest: true };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** better-sqlite3 is synchronous: surface its errors as rejections, as an async adapter would. */
function run<T>(fn: () => T): Promise<T> {
  // A throwing executor rejects the promise.
  return new Promise<T>((resolve) => resolve(fn()));
}

/** The columns own etag and timestamps; the document holds the rest of the definition. */
function toDoc(def: AgentDefinition): string {
  const { etag: _etag, createdAt: _createdAt, updatedAt: _updatedAt, ...doc } = def;
  return JSON.stringify(doc);
}

function fromRow(row: Row): AgentDefinition {
  const parsed = storedDoc.safeParse(JSON.parse(row.doc));
  if (!parsed.success) {
    throw new Error(
      `catalog_agents row '${row.id}' is not a valid agent definition: ${parsed.error.message}`,
    );
  }
  return {
    ...(parsed.data as AgentDefinition),
    createdAt: row.created,
    updatedAt: row.updated,
    etag: row.etag,
  };
}

function fromWorkflowRow(row: WorkflowRow): StoredWorkflow {
  const parsed = storedWorkflowDoc.safeParse(JSON.parse(row.doc));
  if (!parsed.success || parsed.data.id !== row.id || parsed.data.version !== row.version) {
    throw new Error(
      `catalog_workflows row '${row.id}' version '${row.version}' is not a valid workflow definition: ` +
        (parsed.error?.message ?? 'its id or version differs from the row'),
    );
  }
  return {
    definition: parsed.data as WorkflowDefinition,
    createdAt: row.created,
    etag: row.etag,
    latest: row.latest === 1,
  };
}
