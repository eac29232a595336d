/**
 * An embedded Service Bus broker over the host's SQLite database: queues, topics with subscriptions
 * (a topic message is copied to every subscription, each of which behaves as a queue), peek-lock
 * receive with complete / abandon / dead-letter / renew-lock, scheduled messages, time to live and
 * dead-letter sub-queues (`<entity>/$DeadLetterQueue`). Its API follows the Service Bus operations so
 * that an AMQP front end can sit on it later.
 *
 * Every state change is one SQLite transaction, so a crash (even SIGKILL) loses nothing committed.
 * Locks do not survive the broker: a lock is held by a receiver of this process, so when the broker
 * opens (after a restart) locked messages become available at once; their delivery count keeps the
 * attempt that was interrupted.
 */
import { randomUUID } from 'node:crypto';
import { EntityStore, invalid } from './entities';
import { INSERT_MESSAGE, messageColumns, parsePath, toBrokerMessage } from './store';
import type { EntityRow, MessageRow } from './store';
import { DEAD_LETTER_SUFFIX, ServiceBusError } from './types';
import type { BrokerMessage, EntityCounts, ReceiveOptions, SendMessage } from './types';

export type { BrokerListener, BrokerOptions } from './entities';

export interface SentMessage {
  messageId: string;
  sequenceNumber: number;
}

const LOCK_LOST =
  'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.';

export class ServiceBusBroker extends EntityStore {
  /** Sends to a queue or topic (created as a queue when unknown). A topic without subscriptions drops them. */
  send(path: string, messages: SendMessage | SendMessage[]): SentMessage[] {
    const list = Array.isArray(messages) ? messages : [messages];
    const p = parsePath(path);
    if (p.deadLetter || p.subscription) {
      throw invalid(`Cannot send to '${path}': send to its queue or topic.`);
    }
    list.forEach(validateMessage);
    const touched: string[] = [];
    const sent = this.tx(() => {
      const entity = this.entityRow(p.entity) ?? this.insertEntity(p.entity, 'queue', null);
      const now = this.now();
      const first = this.bumpSequence(entity.path, list.length);
      const result = list.map((m, i) => ({
        messageId: m.messageId ?? randomUUID(),
        sequenceNumber: first + i,
      }));
      const targets = entity.kind === 'topic' ? this.subscriptionsOf(entity.path) : [entity];
      for (const target of targets) {
        const seq = target === entity ? first : this.bumpSequence(target.path, list.length);
        list.forEach((m, i) => {
          this.sql(INSERT_MESSAGE).run(...messageColumns(target, seq + i, result[i]!.messageId, m, now));
        });
        touched.push(target.path);
      }
      return result;
    });
    this.emit(touched);
    return sent;
  }

  /**
   * Peek-lock receive of up to `maxMessages` available messages (in sequence order) for `lockMs`
   * (default: the entity's lock duration). A message whose delivery count already reached the
   * entity's maximum is dead-lettered (`MaxDeliveryCountExceeded`) instead of being delivered.
   */
  receive(path: string, maxMessages = 1, lockMs?: number, options: ReceiveOptions = {}): BrokerMessage[] {
    const p = parsePath(path);
    const touched: string[] = [];
    const result = this.tx(() => {
      const entity = this.entityRow(p.entity) ?? this.createForReceive(p);
      if (entity.kind === 'topic') {
        throw invalid(`Cannot receive from topic '${path}': receive from a subscription.`);
      }
      const now = this.now();
      if (!p.deadLetter) this.expire(entity, now, touched);
      const lock = lockMs ?? entity.lock_duration_ms;
      const got: MessageRow[] = [];
      let session: { id: string | null } | undefined;
      while (got.length < maxMessages) {
        const candidates = this.candidates(
          entity.path,
          p.deadLetter,
          now,
          maxMessages - got.length,
          options,
          session,
        );
        if (candidates.length === 0) break;
        for (const row of candidates) {
          if (!p.deadLetter && row.delivery_count >= entity.max_delivery_count) {
            this.moveToDeadLetter(
              row,
              'MaxDeliveryCountExceeded',
              maxDeliveryDescription(entity, row.last_error),
            );
            touched.push(row.entity + DEAD_LETTER_SUFFIX);
            continue;
          }
          const token = randomUUID();
          this.sql(
            `UPDATE sb_messages SET lock_token = ?, lock_ms = ?, locked_until = ?, delivery_count = delivery_count + 1
             WHERE entity = ? AND seq = ?`,
          ).run(token, lock, now + lock, row.entity, row.seq);
          got.push({
            ...row,
            lock_token: token,
            lock_ms: lock,
            locked_until: now + lock,
            delivery_count: row.delivery_count + 1,
          });
          if (options.sessions) session ??= { id: row.session_id };
        }
      }
      return got.map((row) => toBrokerMessage(row, now));
    });
    this.emit(touched);
    return result;
  }

  /** Settles a locked message: it is removed. */
  complete(lockToken: string): void {
    const row = this.tx(() => {
      const r = this.lockedRow(lockToken);
      this.sql('DELETE FROM sb_messages WHERE entity = ? AND seq = ?').run(r.entity, r.seq);
      return r;
    });
    // In session mode the next message of the session is now available.
    this.emit([pathOf(row)]);
  }

  /** Releases the lock: the message is available again, or dead-lettered when out of deliveries. */
  abandon(
    lockToken: string,
    options: { error?: string; propertiesToModify?: Record<string, unknown> } = {},
  ): void {
    const touched = this.tx(() => {
      const r = this.lockedRow(lockToken);
      const props = mergeProps(r.app_props, options.propertiesToModify);
      const lastError = options.error ?? r.last_error;
      const entity = this.requireEntity(r.entity);
      if (!r.dead_lettered && r.delivery_count >= entity.max_delivery_count) {
        this.moveToDeadLetter(
          { ...r, app_props: props },
          'MaxDeliveryCountExceeded',
          maxDeliveryDescription(entity, lastError),
        );
        return r.entity + DEAD_LETTER_SUFFIX;
      }
      this.sql(
        `UPDATE sb_messages SET lock_token = NULL, lock_ms = NULL, locked_until = NULL, last_error = ?, app_props = ?
         WHERE entity = ? AND seq = ?`,
      ).run(lastError, props, r.entity, r.seq);
      return pathOf(r);
    });
    this.emit([touched]);
  }

  /** Moves a locked message to its entity's dead-letter queue. */
  deadLetter(
    lockToken: string,
    reason?: string,
    description?: string,
    propertiesToModify?: Record<string, unknown>,
  ): void {
    const row = this.tx(() => {
      const r = this.lockedRow(lockToken);
      if (r.dead_lettered) throw invalid('The message is already in the dead-letter queue.');
      this.moveToDeadLetter(
        { ...r, app_props: mergeProps(r.app_props, propertiesToModify) },
        reason ?? null,
        description ?? null,
      );
      return r;
    });
    this.emit([row.entity, row.entity + DEAD_LETTER_SUFFIX]);
  }

  /** Extends a lock by the duration it was taken for; returns the new locked-until time. */
  renewLock(lockToken: string): Date {
    return this.tx(() => {
      const r = this.lockedRow(lockToken);
      const until = this.now() + (r.lock_ms ?? this.defaults.lockDurationMs);
      this.sql('UPDATE sb_messages SET locked_until = ? WHERE entity = ? AND seq = ?').run(
        until,
        r.entity,
        r.seq,
      );
      return new Date(until);
    });
  }

  /** Messages in sequence order without locking them (locked and scheduled ones included). */
  peek(path: string, maxMessages = 1, fromSequenceNumber = 0): BrokerMessage[] {
    const p = parsePath(path);
    this.requireEntity(p.entity);
    const rows = this.sql(
      'SELECT * FROM sb_messages WHERE entity = ? AND dead_lettered = ? AND seq >= ? ORDER BY seq LIMIT ?',
    ).all(p.entity, p.deadLetter ? 1 : 0, fromSequenceNumber, maxMessages) as MessageRow[];
    const now = this.now();
    return rows.map((r) => toBrokerMessage(r, now));
  }

  /** Message counts per entity. */
  counts(): EntityCounts[] {
    return this.sql(
      `SELECT e.path, e.kind,
         COALESCE(SUM(m.dead_lettered = 0 AND m.enqueued_at <= @now AND (m.locked_until IS NULL OR m.locked_until <= @now)), 0) AS active,
         COALESCE(SUM(m.dead_lettered = 0 AND m.enqueued_at > @now), 0) AS scheduled,
         COALESCE(SUM(m.dead_lettered = 0 AND m.locked_until > @now), 0) AS locked,
         COALESCE(SUM(m.dead_lettered = 1), 0) AS deadLettered
       FROM sb_entities e LEFT JOIN sb_messages m ON m.entity = e.path GROUP BY e.path ORDER BY e.path`,
    ).all({ now: this.now() }) as EntityCounts[];
  }

  /** The next time a message of `path` becomes available by itself (scheduled time or lock expiry). */
  nextWakeAt(path: string): number | undefined {
    const p = parsePath(path);
    const row = this.sql(
      `SELECT MIN(t) AS t FROM (
         SELECT MIN(enqueued_at) AS t FROM sb_messages WHERE entity = @e AND dead_lettered = @dl AND enqueued_at > @now
         UNION ALL
         SELECT MIN(locked_until) FROM sb_messages WHERE entity = @e AND dead_lettered = @dl AND locked_until > @now)`,
    ).get({ e: p.entity, dl: p.deadLetter ? 1 : 0, now: this.now() }) as { t: number | null };
    return row.t ?? undefined;
  }

  private candidates(
    entity: string,
    deadLetter: boolean,
    now: number,
    limit: number,
    options: ReceiveOptions,
    session: { id: string | null } | undefined,
  ): MessageRow[] {
    const ready = `m.entity = @entity AND m.dead_lettered = @dl AND m.enqueued_at <= @now
      AND (m.locked_until IS NULL OR m.locked_until <= @now)`;
    const args = { entity, dl: deadLetter ? 1 : 0, now, limit };
    if (!options.sessions) {
      return this.sql(`SELECT * FROM sb_messages m WHERE ${ready} ORDER BY m.seq LIMIT @limit`).all(
        args,
      ) as MessageRow[];
    }
    if (session) {
      return this.sql(
        `SELECT * FROM sb_messages m WHERE ${ready} AND m.session_id IS @sid ORDER BY m.seq LIMIT @limit`,
      ).all({ ...args, sid: session.id }) as MessageRow[];
    }
    // The head of the first session that no receiver holds.
    return this.sql(
      `SELECT * FROM sb_messages m WHERE ${ready} AND NOT EXISTS (
         SELECT 1 FROM sb_messages l WHERE l.entity = m.entity AND l.dead_lettered = m.dead_lettered
           AND l.session_id IS m.session_id AND l.locked_until > @now)
       ORDER BY m.seq LIMIT 1`,
    ).all({ entity, dl: args.dl, now }) as MessageRow[];
  }

  private expire(entity: EntityRow, now: number, touched: string[]): void {
    const rows = this.sql(
      `SELECT * FROM sb_messages WHERE entity = ? AND dead_lettered = 0 AND expires_at <= ?
         AND (locked_until IS NULL OR locked_until <= ?)`,
    ).all(entity.path, now, now) as MessageRow[];
    for (const r of rows) {
      if (entity.dead_letter_on_expiration) {
        this.moveToDeadLetter(r, 'TTLExpiredException', 'The message expired and was dead lettered.');
        touched.push(r.entity + DEAD_LETTER_SUFFIX);
      } else this.sql('DELETE FROM sb_messages WHERE entity = ? AND seq = ?').run(r.entity, r.seq);
    }
  }

  private moveToDeadLetter(r: MessageRow, reason: string | null, description: string | null): void {
    this.sql(
      `UPDATE sb_messages SET dead_lettered = 1, dead_letter_reason = ?, dead_letter_description = ?, app_props = ?,
         lock_token = NULL, lock_ms = NULL, locked_until = NULL WHERE entity = ? AND seq = ?`,
    ).run(reason, description, r.app_props, r.entity, r.seq);
  }

  private lockedRow(lockToken: string): MessageRow {
    const row = this.sql('SELECT * FROM sb_messages WHERE lock_token = ?').get(lockToken) as
      MessageRow | undefined;
    if (!row || row.locked_until === null || row.locked_until <= this.now()) {
      throw new ServiceBusError('MessageLockLost', LOCK_LOST);
    }
    return row;
  }
}

function pathOf(row: MessageRow): string {
  return row.dead_lettered ? row.entity + DEAD_LETTER_SUFFIX : row.entity;
}

function mergeProps(json: string, changes: Record<string, unknown> | undefined): string {
  return changes ? JSON.stringify({ ...(JSON.parse(json) as Record<string, unknown>), ...changes }) : json;
}

function maxDeliveryDescription(entity: EntityRow, lastError: string | null): string {
  const base = `Message could not be consumed after ${entity.max_delivery_count} delivery attempts.`;
  return lastError ? `${base} Last error: ${lastError}` : base;
}

function validateMessage(m: SendMessage): void {
  if (typeof m.body !== 'string' && !(m.body instanceof Uint8Array)) {
    throw invalid('A message body must be a string, a Buffer or a Uint8Array.');
  }
  if (m.scheduledEnqueueTime !== undefined && Number.isNaN(+new Date(m.scheduledEnqueueTime))) {
    throw invalid('scheduledEnqueueTime is not a valid date.');
  }
  if (m.timeToLiveMs !== undefined && !(m.timeToLiveMs > 0)) throw invalid('timeToLiveMs must be positive.');
}
