/**
 * Cancelling scheduled messages (`cancelScheduledMessages`), which ServiceBusBroker has no method
 * for yet: removes messages that still wait for their scheduled time, in one transaction over the
 * broker's table. A topic hands out its own sequence number while each subscription numbers its
 * copy, so the topic's numbers are remembered (in memory, for this process) with the message id.
 * Belongs in the broker; kept here until it moves there.
 */
import type Database from 'better-sqlite3';
import type { ServiceBusBroker } from '../broker';
import { parsePath } from '../store';
import { ServiceBusError } from '../types';
import { AmqpFailure } from './codec';

/** Topic schedules remembered at most (the oldest are forgotten first). */
const MAX_REMEMBERED = 10_000;

export class ScheduledMessages {
  private readonly topicSchedules = new Map<string, string>();

  constructor(
    private readonly broker: ServiceBusBroker,
    private readonly db: Database.Database,
  ) {}

  /** Notes the message id behind a sequence number a topic handed out for a scheduled message. */
  remember(topic: string, sequenceNumber: number, messageId: string): void {
    this.topicSchedules.set(key(topic, sequenceNumber), messageId);
    if (this.topicSchedules.size > MAX_REMEMBERED) {
      this.topicSchedules.delete(this.topicSchedules.keys().next().value!);
    }
  }

  cancel(path: string, sequenceNumbers: number[], now = Date.now()): void {
    const p = parsePath(path);
    if (p.deadLetter) {
      throw new ServiceBusError('InvalidOperation', 'A dead-letter queue has no scheduled messages.');
    }
    const entity = this.broker.getEntity(p.entity);
    if (!entity) {
      throw new ServiceBusError(
        'MessagingEntityNotFound',
        `The messaging entity '${path}' could not be found.`,
      );
    }
    const bySeq = this.db.prepare(
      `DELETE FROM sb_messages WHERE entity = ? AND seq = ? AND dead_lettered = 0
         AND scheduled_at IS NOT NULL AND enqueued_at > ?`,
    );
    const byId = this.db.prepare(
      `DELETE FROM sb_messages WHERE message_id = ? AND dead_lettered = 0 AND scheduled_at IS NOT NULL
         AND enqueued_at > ? AND entity IN (SELECT path FROM sb_entities WHERE kind = 'subscription' AND topic = ?)`,
    );
    const missing = this.db
      .transaction(() =>
        sequenceNumbers.filter((seq) => {
          if (entity.kind !== 'topic') return bySeq.run(entity.path, seq, now).changes === 0;
          const id = this.topicSchedules.get(key(entity.path, seq));
          if (id === undefined || byId.run(id, now, entity.path).changes === 0) return true;
          this.topicSchedules.delete(key(entity.path, seq));
          return false;
        }),
      )
      .immediate();
    if (missing.length > 0) {
      throw new AmqpFailure(
        'com.microsoft:message-not-found',
        `No scheduled message with sequence number ${missing.join(', ')} in '${entity.path}' (already enqueued, or never scheduled).`,
        404,
      );
    }
  }
}

function key(topic: string, sequenceNumber: number): string {
  return `${topic.toLowerCase()}#${sequenceNumber}`;
}
