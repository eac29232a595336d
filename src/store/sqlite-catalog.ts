/**
 * The SQLite CatalogStore (better-sqlite3, WAL): the local and single-node adapter. One row per agent:
 * the definition as a JSON document, plus the columns the store owns (etag, created, updated).
 * Updates are compare-and-swap on the etag inside the UPDATE itself, so two writers holding the same
 * etag (even in two processes on one file) can never both win: no lost update.
 */
import Database from 'better-sqlite3';
import { z } from 'zod';
import type { AgentDefinition } from '../agents/types';
import type { CatalogStore } from './catalog';
import { agentExists, agentNotFound, etagMismatch, newEtag } from './memory-catalog';

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

export class SqliteCatalogStore implements CatalogStore {
  private readonly db: Database.Database;
  private readonly stmts: {
    list: Database.Statement<[], Row>;
    get: Database.Statement<[string], Row>;
    insert: Database.Statement<[string, string, string, string, string]>;
    update: Database.Statement<[string, string, string, string, string], { created: string }>;
    updateAny: Database.Statement<[string, string, string, string], { created: string }>;
    remove: Database.Statement<[string]>;
  };

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
    };
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
