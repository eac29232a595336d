/**
 * The SQLite ConversationStore (better-sqlite3, WAL): the local and single-node adapter. A conversation
 * is a row (its record as JSON, plus the columns queries use), its messages and turns rows of their own,
 * keyed by the conversation and its epoch, so rows of a deleted conversation can never show in a new
 * one made under the same id. Opening and recording a turn are IMMEDIATE transactions (the write lock
 * first): two processes on one file still make one conversation and never share a seq.
 */
import Database from 'better-sqlite3';
import { z } from 'zod';
import {
  agentMismatch,
  applyTurn,
  DEFAULT_DELIVERY_LIMIT,
  DEFAULT_IDLE_LIMIT,
  newConversation,
  type ConversationMessage,
  type ConversationRecord,
  type ConversationStore,
  type Delivery,
  type NewTurn,
  type TurnRecord,
} from './conversations';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS conversations (
  id TEXT PRIMARY KEY,
  agent_id TEXT NOT NULL,
  epoch TEXT NOT NULL,
  last_active TEXT NOT NULL,
  doc TEXT NOT NULL CHECK (json_valid(doc))
);
CREATE INDEX IF NOT EXISTS conversations_idle ON conversations (last_active);
CREATE TABLE IF NOT EXISTS conversation_messages (
  conversation_id TEXT NOT NULL,
  epoch TEXT NOT NULL,
  seq INTEGER NOT NULL,
  doc TEXT NOT NULL CHECK (json_valid(doc)),
  PRIMARY KEY (conversation_id, epoch, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conversation_turns (
  conversation_id TEXT NOT NULL,
  epoch TEXT NOT NULL,
  turn_id TEXT NOT NULL,
  doc TEXT NOT NULL CHECK (json_valid(doc)),
  PRIMARY KEY (conversation_id, epoch, turn_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conversation_deliveries (
  id TEXT PRIMARY KEY,
  agent_id TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  at TEXT NOT NULL,
  doc TEXT NOT NULL CHECK (json_valid(doc))
);
CREATE INDEX IF NOT EXISTS conversation_deliveries_agent ON conversation_deliveries (agent_id, at);
`;

/** Records read back are checked: a hand-edited row fails loudly instead of half-working. */
const storedConversation = z.looseObject({
  id: z.string(),
  agentId: z.string(),
  epoch: z.string(),
  lastActiveAt: z.string(),
  messages: z.number().int(),
  tokens: z.object({ prompt: z.number(), completion: z.number(), total: z.number() }),
});

function parseConversation(doc: string): ConversationRecord {
  const parsed = storedConversation.safeParse(JSON.parse(doc));
  if (!parsed.success) throw new Error(`A stored conversation is not valid: ${parsed.error.message}`);
  return parsed.data as unknown as ConversationRecord;
}

const parse = <T>(doc: string): T => JSON.parse(doc) as T;

/** Synchronous work as a promise: a throw becomes a rejection, as in an async adapter. */
function run<T>(fn: () => T): Promise<T> {
  // A throwing executor rejects the promise.
  return new Promise<T>((resolve) => resolve(fn()));
}

export class SqliteConversationStore implements ConversationStore {
  private readonly db: Database.Database;
  private readonly openTx: Database.Transaction<
    (id: string, agentId: string) => { conversation: ConversationRecord; created: boolean }
  >;
  private readonly recordTx: Database.Transaction<
    (id: string, epoch: string, turn: NewTurn) => TurnRecord | undefined
  >;
  private readonly deleteTx: Database.Transaction<
    (id: string, idleBefore: string | undefined) => ConversationRecord | undefined
  >;

  /** Opens (and creates when needed) the store in `file`; the folder must exist. */
  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.openTx = this.db.transaction((id: string, agentId: string) => {
      const existing = this.read(id);
      if (existing) {
        if (existing.agentId !== agentId) throw agentMismatch(id, existing.agentId, agentId);
        return { conversation: existing, created: false };
      }
      const conversation = newConversation(id, agentId);
      this.sql(
        'INSERT INTO conversations (id, agent_id, epoch, last_active, doc) VALUES (?, ?, ?, ?, ?)',
      ).run(id, agentId, conversation.epoch, conversation.lastActiveAt, JSON.stringify(conversation));
      return { conversation, created: true };
    });
    this.recordTx = this.db.transaction((id: string, epoch: string, turn: NewTurn) => {
      const conversation = this.read(id);
      if (!conversation || conversation.epoch !== epoch) return undefined;
      const known = this.sql<{ doc: string }>(
        'SELECT doc FROM conversation_turns WHERE conversation_id = ? AND epoch = ? AND turn_id = ?',
      ).get(id, epoch, turn.turnId);
      if (known) return parse<TurnRecord>(known.doc);
      const applied = applyTurn(conversation, turn);
      const insertMessage = this.sql(
        'INSERT INTO conversation_messages (conversation_id, epoch, seq, doc) VALUES (?, ?, ?, ?)',
      );
      for (const m of applied.messages) insertMessage.run(id, epoch, m.seq, JSON.stringify(m));
      this.sql(
        'INSERT INTO conversation_turns (conversation_id, epoch, turn_id, doc) VALUES (?, ?, ?, ?)',
      ).run(id, epoch, turn.turnId, JSON.stringify(applied.record));
      this.sql('UPDATE conversations SET last_active = ?, doc = ? WHERE id = ?').run(
        applied.conversation.lastActiveAt,
        JSON.stringify(applied.conversation),
        id,
      );
      return applied.record;
    });
    this.deleteTx = this.db.transaction((id: string, idleBefore: string | undefined) => {
      const conversation = this.read(id);
      if (!conversation) return undefined;
      if (idleBefore !== undefined && !(conversation.lastActiveAt < idleBefore)) return undefined;
      this.sql('DELETE FROM conversations WHERE id = ?').run(id);
      this.sql('DELETE FROM conversation_messages WHERE conversation_id = ?').run(id);
      this.sql('DELETE FROM conversation_turns WHERE conversation_id = ?').run(id);
      this.sql('DELETE FROM conversation_deliveries WHERE conversation_id = ?').run(id);
      return conversation;
    });
  }

  private readonly statements = new Map<string, Database.Statement>();

  /** A prepared statement, cached by its text. */
  private sql<R = unknown>(text: string): Database.Statement<unknown[], R> {
    let stmt = this.statements.get(text);
    if (!stmt) this.statements.set(text, (stmt = this.db.prepare(text)));
    return stmt as Database.Statement<unknown[], R>;
  }

  private read(id: string): ConversationRecord | undefined {
    const row = this.sql<{ doc: string }>('SELECT doc FROM conversations WHERE id = ?').get(id);
    return row && parseConversation(row.doc);
  }

  open(id: string, agentId: string): Promise<{ conversation: ConversationRecord; created: boolean }> {
    return run(() => this.openTx.immediate(id, agentId));
  }

  get(id: string): Promise<ConversationRecord | undefined> {
    return run(() => this.read(id));
  }

  recordTurn(id: string, epoch: string, turn: NewTurn): Promise<TurnRecord | undefined> {
    return run(() => this.recordTx.immediate(id, epoch, turn));
  }

  getTurn(id: string, turnId: string): Promise<TurnRecord | undefined> {
    return run(() => {
      const row = this.sql<{ doc: string }>(
        'SELECT t.doc FROM conversation_turns t JOIN conversations c ' +
          'ON c.id = t.conversation_id AND c.epoch = t.epoch WHERE t.conversation_id = ? AND t.turn_id = ?',
      ).get(id, turnId);
      return row && parse<TurnRecord>(row.doc);
    });
  }

  listMessages(
    id: string,
    options: { afterSeq?: number; limit?: number } = {},
  ): Promise<ConversationMessage[]> {
    return run(() =>
      this.sql<{ doc: string }>(
        'SELECT m.doc FROM conversation_messages m JOIN conversations c ' +
          'ON c.id = m.conversation_id AND c.epoch = m.epoch ' +
          'WHERE m.conversation_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?',
      )
        .all(id, options.afterSeq ?? 0, options.limit ?? -1)
        .map((r) => parse<ConversationMessage>(r.doc)),
    );
  }

  delete(id: string, options: { idleBefore?: string } = {}): Promise<ConversationRecord | undefined> {
    return run(() => this.deleteTx.immediate(id, options.idleBefore));
  }

  listIdle(before: string, limit = DEFAULT_IDLE_LIMIT): Promise<ConversationRecord[]> {
    return run(() =>
      this.sql<{ doc: string }>(
        'SELECT doc FROM conversations WHERE last_active < ? ORDER BY last_active, id LIMIT ?',
      )
        .all(before, limit)
        .map((r) => parseConversation(r.doc)),
    );
  }

  recordDelivery(delivery: Delivery): Promise<Delivery> {
    return run(() => {
      const inserted = this.sql(
        'INSERT OR IGNORE INTO conversation_deliveries (id, agent_id, conversation_id, at, doc) VALUES (?, ?, ?, ?, ?)',
      ).run(delivery.id, delivery.agentId, delivery.conversationId, delivery.at, JSON.stringify(delivery));
      if (inserted.changes > 0) return structuredClone(delivery);
      const row = this.sql<{ doc: string }>('SELECT doc FROM conversation_deliveries WHERE id = ?').get(
        delivery.id,
      );
      return parse<Delivery>(row!.doc);
    });
  }

  listDeliveries(agentId: string, limit = DEFAULT_DELIVERY_LIMIT): Promise<Delivery[]> {
    return run(() =>
      this.sql<{ doc: string }>(
        'SELECT doc FROM conversation_deliveries WHERE agent_id = ? ORDER BY at DESC, rowid DESC LIMIT ?',
      )
        .all(agentId, limit)
        .map((r) => parse<Delivery>(r.doc)),
    );
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
