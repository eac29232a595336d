/**
 * The entity side of the embedded Service Bus broker: queues, topics and subscriptions in table
 * `sb_entities` (created on demand), plus the SQLite plumbing the broker shares (cached statements,
 * immediate transactions, availability notifications).
 */
import type Database from 'better-sqlite3';
import { createSchema, parsePath, subscriptionPath, toEntityInfo } from './store';
import type { EntityRow, ParsedPath } from './store';
import { ServiceBusError } from './types';
import type { EntityInfo, EntityKind, EntityProperties } from './types';

export interface BrokerOptions {
  /** Properties of entities created on demand (Service Bus defaults: 10 deliveries, 60 s locks). */
  defaults?: Partial<EntityProperties>;
  /** The clock (epoch ms); tests may replace it. */
  now?: () => number;
  /** Make messages locked by a previous process available at once (default true). */
  releaseLocksOnOpen?: boolean;
}

/** Called with an entity path (dead-letter queues with their suffix) when messages may have become available. */
export type BrokerListener = (path: string) => void;

export class EntityStore {
  readonly defaults: EntityProperties;
  protected readonly now: () => number;
  private readonly listeners = new Set<BrokerListener>();
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    protected readonly db: Database.Database,
    options: BrokerOptions = {},
  ) {
    createSchema(db);
    this.now = options.now ?? Date.now;
    this.defaults = {
      maxDeliveryCount: 10,
      lockDurationMs: 60_000,
      deadLetteringOnMessageExpiration: false,
      ...options.defaults,
    };
    if (options.releaseLocksOnOpen !== false) {
      this.sql(
        'UPDATE sb_messages SET lock_token = NULL, lock_ms = NULL, locked_until = NULL WHERE lock_token IS NOT NULL',
      ).run();
    }
  }

  ensureQueue(name: string, props?: Partial<EntityProperties>): EntityInfo {
    const p = parsePath(name);
    if (p.deadLetter || p.subscription) throw invalid(`'${name}' is not a queue name.`);
    return this.ensure(p.entity, 'queue', null, props);
  }

  ensureTopic(name: string): EntityInfo {
    const p = parsePath(name);
    if (p.deadLetter || p.subscription) throw invalid(`'${name}' is not a topic name.`);
    return this.ensure(p.entity, 'topic', null);
  }

  ensureSubscription(topic: string, subscription: string, props?: Partial<EntityProperties>): EntityInfo {
    const p = parsePath(subscriptionPath(topic, subscription));
    return this.tx(() => {
      this.ensure(p.topic!, 'topic', null);
      return this.ensure(p.entity, 'subscription', p.topic!, props);
    });
  }

  getEntity(path: string): EntityInfo | undefined {
    const row = this.entityRow(parsePath(path).entity);
    return row && toEntityInfo(row);
  }

  listEntities(): EntityInfo[] {
    return (this.sql('SELECT * FROM sb_entities ORDER BY path').all() as EntityRow[]).map(toEntityInfo);
  }

  updateEntity(path: string, props: Partial<EntityProperties>): EntityInfo {
    const entity = parsePath(path).entity;
    return this.tx(() => {
      const row = this.requireEntity(entity);
      this.sql(
        `UPDATE sb_entities SET max_delivery_count = ?, lock_duration_ms = ?, default_ttl_ms = ?,
           dead_letter_on_expiration = ? WHERE path = ?`,
      ).run(...propsColumns({ ...toEntityInfo(row), ...props }), entity);
      return toEntityInfo(this.requireEntity(entity));
    });
  }

  /** Deletes an entity with its messages (a topic with its subscriptions). */
  deleteEntity(path: string): void {
    const entity = parsePath(path).entity;
    this.tx(() => {
      this.requireEntity(entity);
      const paths = [entity, ...this.subscriptionsOf(entity).map((s) => s.path)];
      for (const p of paths) {
        this.sql('DELETE FROM sb_messages WHERE entity = ?').run(p);
        this.sql('DELETE FROM sb_entities WHERE path = ?').run(p);
      }
    });
  }

  /** Listens for messages becoming available (sends, abandons, completes); returns the unsubscribe function. */
  subscribe(listener: BrokerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reserves `count` sequence numbers of an entity; returns the first. */
  protected bumpSequence(path: string, count: number): number {
    const row = this.sql(
      'UPDATE sb_entities SET last_seq = last_seq + ? WHERE path = ? RETURNING last_seq',
    ).get(count, path) as {
      last_seq: number;
    };
    return row.last_seq - count + 1;
  }

  protected ensure(
    path: string,
    kind: EntityKind,
    topic: string | null,
    props?: Partial<EntityProperties>,
  ): EntityInfo {
    return this.tx(() => {
      const row = this.entityRow(path);
      if (!row) return toEntityInfo(this.insertEntity(path, kind, topic, props));
      if (row.kind !== kind) throw invalid(`'${path}' is a ${row.kind}, not a ${kind}.`);
      return props ? this.updateEntity(path, props) : toEntityInfo(row);
    });
  }

  protected createForReceive(p: ParsedPath): EntityRow {
    if (p.topic) this.ensureSubscription(p.topic, p.subscription!);
    else this.insertEntity(p.entity, 'queue', null);
    return this.requireEntity(p.entity);
  }

  protected insertEntity(
    path: string,
    kind: EntityKind,
    topic: string | null,
    props?: Partial<EntityProperties>,
  ): EntityRow {
    this.sql(
      `INSERT INTO sb_entities (path, kind, topic, max_delivery_count, lock_duration_ms, default_ttl_ms,
         dead_letter_on_expiration, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(path, kind, topic, ...propsColumns({ ...this.defaults, ...props }), this.now());
    return this.requireEntity(path);
  }

  protected entityRow(path: string): EntityRow | undefined {
    return this.sql('SELECT * FROM sb_entities WHERE path = ?').get(path) as EntityRow | undefined;
  }

  protected requireEntity(path: string): EntityRow {
    const row = this.entityRow(path);
    if (!row) {
      throw new ServiceBusError(
        'MessagingEntityNotFound',
        `The messaging entity '${path}' could not be found.`,
      );
    }
    return row;
  }

  protected subscriptionsOf(topic: string): EntityRow[] {
    return this.sql("SELECT * FROM sb_entities WHERE kind = 'subscription' AND topic = ? ORDER BY path").all(
      topic,
    ) as EntityRow[];
  }

  protected sql(text: string): Database.Statement {
    let stmt = this.statements.get(text);
    if (!stmt) {
      stmt = this.db.prepare(text);
      this.statements.set(text, stmt);
    }
    return stmt;
  }

  protected tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  protected emit(paths: string[]): void {
    for (const path of new Set(paths)) {
      for (const listener of this.listeners) {
        try {
          listener(path);
        } catch {
          // a listener's failure is its own business
        }
      }
    }
  }
}

function propsColumns(p: EntityProperties): [number, number, number | null, number] {
  return [
    p.maxDeliveryCount,
    p.lockDurationMs,
    p.defaultTimeToLiveMs ?? null,
    p.deadLetteringOnMessageExpiration ? 1 : 0,
  ];
}

export function invalid(message: string): ServiceBusError {
  return new ServiceBusError('InvalidOperation', message);
}
