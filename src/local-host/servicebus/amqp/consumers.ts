/**
 * Receive links (the SDK's receivers): messages flow from the broker as the peer grants link credit,
 * each peek-lock delivery tagged with its lock token; dispositions settle them (complete, abandon,
 * dead-letter). Link credit is counted with the deliveries rhea has queued but not written, drain
 * requests are answered once nothing is available, and a timer wakes the link when a scheduled
 * message becomes due or a lock expires.
 */
import type { Delivery, Sender } from 'rhea';
import type { ServiceBusBroker } from '../broker';
import type { HostLogger } from '../../log';
import {
  AmqpFailure,
  lockTokenToTag,
  notImplemented,
  tagToLockToken,
  textOf,
  toAmqpError,
  toAmqpMessage,
} from './codec';
import { answerDrain, creditOf, isDraining, outcomes, unsentTags, type Outcome } from './rhea-internals';

interface Consumer {
  sender: Sender;
  /** The entity path: a queue, `topic/Subscriptions/sub`, or either's dead-letter queue. */
  path: string;
  receiveAndDelete: boolean;
}

export type Disposition = 'accepted' | 'released' | 'modified' | 'rejected';

const MAX_TIMEOUT = 2 ** 31 - 1;
const DEAD_LETTER = 'com.microsoft:dead-letter';

export class Consumers {
  private readonly byLink = new Map<Sender, Consumer>();
  private readonly byPath = new Map<string, Set<Consumer>>();
  private readonly kicked = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private kickScheduled = false;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(
    private readonly broker: ServiceBusBroker,
    private readonly log: HostLogger,
  ) {
    this.unsubscribe = broker.subscribe((path) => this.kick(path));
  }

  /** Open receive links. */
  get size(): number {
    return this.byLink.size;
  }

  add(sender: Sender, path: string, receiveAndDelete: boolean): void {
    const consumer: Consumer = { sender, path, receiveAndDelete };
    this.byLink.set(sender, consumer);
    const key = path.toLowerCase();
    let set = this.byPath.get(key);
    if (!set) this.byPath.set(key, (set = new Set()));
    set.add(consumer);
  }

  /** The link is gone: messages locked for it but never written are released; sent ones keep their lock. */
  remove(sender: Sender): void {
    const consumer = this.byLink.get(sender);
    if (!consumer) return;
    this.byLink.delete(sender);
    const key = consumer.path.toLowerCase();
    const set = this.byPath.get(key);
    set?.delete(consumer);
    if (set?.size === 0) {
      this.byPath.delete(key);
      clearTimeout(this.timers.get(key));
      this.timers.delete(key);
    }
    if (consumer.receiveAndDelete || this.closed) return;
    for (const tag of unsentTags(sender)) {
      try {
        this.broker.abandon(tagToLockToken(tag));
      } catch {
        // settled or expired meanwhile
      }
    }
  }

  removeAll(predicate: (sender: Sender) => boolean): void {
    for (const sender of [...this.byLink.keys()]) if (predicate(sender)) this.remove(sender);
  }

  /** Delivers to the links of `path` (or of the sender's path) on the next turn of the event loop. */
  kick(pathOrSender: string | Sender): void {
    const path = typeof pathOrSender === 'string' ? pathOrSender : this.byLink.get(pathOrSender)?.path;
    if (path === undefined || this.closed) return;
    const key = path.toLowerCase();
    if (!this.byPath.has(key)) return;
    this.kicked.add(key);
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      const keys = [...this.kicked];
      this.kicked.clear();
      for (const k of keys) this.pump(k);
    });
  }

  /** Settles a peek-lock delivery as the peer's disposition asks and answers with the outcome. */
  settle(delivery: Delivery, disposition: Disposition): void {
    const consumer = this.byLink.get(delivery.link as Sender);
    if (!consumer || delivery.settled) return;
    let outcome: Outcome;
    try {
      outcome = this.apply(tagToLockToken(delivery.tag), disposition, delivery.remote_state ?? {});
    } catch (err) {
      const { condition, description } = toAmqpError(err);
      outcome = outcomes.rejected({ error: { condition, description } });
    }
    delivery.update(true, outcome.described());
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.byLink.clear();
    this.byPath.clear();
  }

  private apply(token: string, disposition: Disposition, state: Record<string, unknown>): Outcome {
    switch (disposition) {
      case 'accepted':
        this.broker.complete(token);
        return outcomes.accepted();
      case 'released':
        this.broker.abandon(token);
        return outcomes.released();
      case 'modified': {
        if (state.undeliverable_here === true) throw notImplemented('Deferring messages');
        const changes = state.message_annotations as Record<string, unknown> | null | undefined;
        this.broker.abandon(token, changes ? { propertiesToModify: changes } : {});
        return outcomes.modified({ delivery_failed: true });
      }
      case 'rejected': {
        // deadLetterMessage: error com.microsoft:dead-letter, info = reason, description and property changes.
        const error = (state.error ?? {}) as { condition?: string; info?: Record<string, unknown> | null };
        if (error.condition !== undefined && error.condition !== DEAD_LETTER) {
          throw new AmqpFailure('amqp:not-allowed', `Unknown rejection '${error.condition}'.`, 400);
        }
        const { DeadLetterReason, DeadLetterErrorDescription, ...changes } = error.info ?? {};
        this.broker.deadLetter(
          token,
          textOf(DeadLetterReason),
          textOf(DeadLetterErrorDescription),
          Object.keys(changes).length ? withoutNulls(changes) : undefined,
        );
        return outcomes.rejected({});
      }
    }
  }

  private pump(key: string): void {
    const set = this.byPath.get(key);
    if (!set) return;
    let wanting = false;
    for (const consumer of set) {
      const { sender, path } = consumer;
      if (!sender.is_open()) continue;
      const room = creditOf(sender) - unsentTags(sender).length;
      let delivered = 0;
      if (room > 0 && sender.sendable()) {
        try {
          for (const m of this.broker.receive(path, room)) {
            const token = m.lockToken!;
            if (consumer.receiveAndDelete) this.broker.complete(token);
            const msg = toAmqpMessage(m, { received: true, locked: !consumer.receiveAndDelete });
            sender.send(msg, lockTokenToTag(token));
            delivered++;
          }
        } catch (err) {
          this.log.warn(`Service Bus AMQP: receiving from '${path}' failed: ${(err as Error).message}`);
          const { condition, description } = toAmqpError(err);
          sender.close({ condition, description });
          continue;
        }
      }
      if (room > delivered) {
        wanting = true;
        // Nothing more is available now: give the rest of the credit back if the peer asks.
        if (isDraining(sender)) answerDrain(sender);
      }
    }
    if (wanting) this.arm(key, [...set][0]!.path);
  }

  /** Wakes the links of `path` when its next scheduled message is due or a lock expires. */
  private arm(key: string, path: string): void {
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    const at = this.broker.nextWakeAt(path);
    if (at === undefined) return;
    const timer = setTimeout(
      () => {
        this.timers.delete(key);
        this.kick(path);
      },
      Math.min(MAX_TIMEOUT, Math.max(1, at - Date.now())),
    );
    timer.unref();
    this.timers.set(key, timer);
  }
}

function withoutNulls(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));
}
