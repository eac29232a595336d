/** The embedded Service Bus broker: peek-lock semantics, dead-lettering, topics, scheduling, persistence. */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ServiceBusBroker } from '../../src/local-host/servicebus/broker';
import { ServiceBusError } from '../../src/local-host/servicebus/types';

let dir: string;
let db: Database.Database;
let clock: number;
let broker: ServiceBusBroker;

const open = (file: string): Database.Database => {
  const d = new Database(file);
  d.pragma('journal_mode = WAL');
  return d;
};
const newBroker = (maxDeliveryCount = 10): ServiceBusBroker =>
  new ServiceBusBroker(db, { now: () => clock, defaults: { maxDeliveryCount } });
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof ServiceBusError ? err.code : (err as Error).message;
  }
  return undefined;
};

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-broker-'));
  db = open(path.join(dir, 'sb.sqlite'));
  clock = Date.UTC(2024, 0, 1, 12, 0, 0);
  broker = newBroker();
});

afterEach(() => {
  if (db.open) db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('queues', () => {
  it('sends, receives in order with a lock, and completes', () => {
    const sent = broker.send('jobs', [{ body: 'one' }, { body: 'two', messageId: 'm2' }]);
    expect(sent.map((s) => s.sequenceNumber)).toEqual([1, 2]);
    expect(sent[1]!.messageId).toBe('m2');
    expect(sent[0]!.messageId).toMatch(/^[0-9a-f-]{36}$/);

    const [m] = broker.receive('jobs', 1, 30_000);
    expect(m!.body.toString()).toBe('one');
    expect(m!.deliveryCount).toBe(1);
    expect(m!.lockToken).toBeDefined();
    expect(m!.lockedUntil!.getTime()).toBe(clock + 30_000);
    expect(broker.counts()).toEqual([
      { path: 'jobs', kind: 'queue', active: 1, scheduled: 0, locked: 1, deadLettered: 0 },
    ]);

    broker.complete(m!.lockToken!);
    expect(broker.peek('jobs', 10).map((p) => p.body.toString())).toEqual(['two']);
    expect(code(() => broker.complete(m!.lockToken!))).toBe('MessageLockLost');
  });

  it('keeps message properties', () => {
    broker.send('jobs', {
      body: Buffer.from([0, 1, 2, 255]),
      contentType: 'application/octet-stream',
      correlationId: 'c1',
      sessionId: 's1',
      replyTo: 'replies',
      to: 'someone',
      subject: 'greeting',
      applicationProperties: { tenant: 'contoso', priority: 3 },
      timeToLiveMs: 60_000,
    });
    const [m] = broker.receive('JOBS');
    expect(m).toMatchObject({
      entity: 'jobs',
      contentType: 'application/octet-stream',
      correlationId: 'c1',
      sessionId: 's1',
      replyTo: 'replies',
      to: 'someone',
      subject: 'greeting',
      applicationProperties: { tenant: 'contoso', priority: 3 },
      timeToLiveMs: 60_000,
      state: 'active',
    });
    expect([...m!.body]).toEqual([0, 1, 2, 255]);
    expect(m!.expiresAt!.getTime()).toBe(clock + 60_000);
    expect(m!.enqueuedTime.getTime()).toBe(clock);
  });

  it('abandon makes the message available again with a higher delivery count', () => {
    broker.send('jobs', { body: 'x' });
    const [m] = broker.receive('jobs');
    expect(broker.receive('jobs')).toEqual([]);
    broker.abandon(m!.lockToken!, { propertiesToModify: { tried: true } });
    const [again] = broker.receive('jobs');
    expect(again!.deliveryCount).toBe(2);
    expect(again!.applicationProperties).toEqual({ tried: true });
  });

  it('lock expiry makes the message available again; the old lock is lost', () => {
    broker.send('jobs', { body: 'x' });
    const [m] = broker.receive('jobs', 1, 1000);
    expect(broker.nextWakeAt('jobs')).toBe(clock + 1000);
    clock += 999;
    expect(broker.receive('jobs')).toEqual([]);
    clock += 2;
    const [again] = broker.receive('jobs', 1, 1000);
    expect(again!.deliveryCount).toBe(2);
    expect(code(() => broker.complete(m!.lockToken!))).toBe('MessageLockLost');
    broker.complete(again!.lockToken!);
  });

  it('renewLock extends the lock by its duration', () => {
    broker.send('jobs', { body: 'x' });
    const [m] = broker.receive('jobs', 1, 1000);
    clock += 800;
    expect(broker.renewLock(m!.lockToken!).getTime()).toBe(clock + 1000);
    clock += 800;
    expect(broker.receive('jobs')).toEqual([]);
    broker.complete(m!.lockToken!);
    clock += 5000;
    expect(code(() => broker.renewLock(m!.lockToken!))).toBe('MessageLockLost');
  });

  it('receives batches', () => {
    broker.send(
      'jobs',
      [1, 2, 3, 4, 5].map((n) => ({ body: String(n) })),
    );
    expect(broker.receive('jobs', 3).map((m) => m.sequenceNumber)).toEqual([1, 2, 3]);
    expect(broker.receive('jobs', 3).map((m) => m.sequenceNumber)).toEqual([4, 5]);
  });
});

describe('dead-lettering', () => {
  it('dead-letters on abandon once maxDeliveryCount is reached, with the last error', () => {
    broker.ensureQueue('poison', { maxDeliveryCount: 3 });
    broker.send('poison', { body: 'bad' });
    for (let i = 1; i <= 3; i++) {
      const [m] = broker.receive('poison');
      expect(m!.deliveryCount).toBe(i);
      broker.abandon(m!.lockToken!, { error: `boom ${i}` });
    }
    expect(broker.receive('poison')).toEqual([]);
    const [dead] = broker.peek('poison/$DeadLetterQueue', 10);
    expect(dead).toMatchObject({
      state: 'deadLettered',
      deliveryCount: 3,
      deadLetterReason: 'MaxDeliveryCountExceeded',
      deadLetterErrorDescription:
        'Message could not be consumed after 3 delivery attempts. Last error: boom 3',
    });
    expect(broker.counts()[0]).toMatchObject({ active: 0, deadLettered: 1 });
  });

  it('dead-letters a message whose lock expired on its last delivery when it is received again', () => {
    broker.ensureQueue('poison', { maxDeliveryCount: 1 });
    broker.send('poison', [{ body: 'a' }, { body: 'b' }]);
    broker.receive('poison', 1, 1000);
    clock += 1001;
    const got = broker.receive('poison', 5);
    expect(got.map((m) => m.body.toString())).toEqual(['b']);
    expect(broker.peek('poison/$DeadLetterQueue')[0]).toMatchObject({
      deadLetterReason: 'MaxDeliveryCountExceeded',
      deadLetterErrorDescription: 'Message could not be consumed after 1 delivery attempts.',
    });
  });

  it('dead-letters explicitly; the dead-letter queue can be received from', () => {
    broker.send('jobs', { body: 'x' });
    const [m] = broker.receive('jobs');
    broker.deadLetter(m!.lockToken!, 'Invalid', 'no good', { checkedBy: 'test' });
    const [d] = broker.receive('jobs/$deadletterqueue');
    expect(d).toMatchObject({
      deadLetterReason: 'Invalid',
      deadLetterErrorDescription: 'no good',
      applicationProperties: { checkedBy: 'test' },
    });
    expect(code(() => broker.deadLetter(d!.lockToken!))).toBe('InvalidOperation');
    broker.complete(d!.lockToken!);
    expect(broker.peek('jobs/$DeadLetterQueue')).toEqual([]);
  });

  it('drops expired messages, or dead-letters them when the entity says so', () => {
    broker.send('short', { body: 'x', timeToLiveMs: 1000 });
    broker.ensureQueue('keep', { deadLetteringOnMessageExpiration: true, defaultTimeToLiveMs: 1000 });
    broker.send('keep', { body: 'y' });
    clock += 1000;
    expect(broker.receive('short')).toEqual([]);
    expect(broker.peek('short')).toEqual([]);
    expect(broker.receive('keep')).toEqual([]);
    expect(broker.peek('keep/$DeadLetterQueue')[0]).toMatchObject({
      deadLetterReason: 'TTLExpiredException',
    });
  });
});

describe('topics', () => {
  it('copies each message to every subscription; each behaves as a queue', () => {
    broker.ensureSubscription('events', 'audit');
    broker.ensureSubscription('events', 'mail');
    broker.send('events', [{ body: 'e1' }, { body: 'e2' }]);
    const audit = broker.receive('events/Subscriptions/audit', 10);
    expect(audit.map((m) => m.body.toString())).toEqual(['e1', 'e2']);
    expect(audit[0]!.entity).toBe('events/Subscriptions/audit');
    broker.complete(audit[0]!.lockToken!);
    const mail = broker.receive('events/subscriptions/MAIL', 10);
    expect(mail.map((m) => m.sequenceNumber)).toEqual([1, 2]);
    expect(mail[0]!.messageId).toBe(audit[0]!.messageId);
    expect(code(() => broker.receive('events'))).toBe('InvalidOperation');
    expect(code(() => broker.send('events/Subscriptions/audit', { body: 'x' }))).toBe('InvalidOperation');
  });

  it('drops messages sent to a topic without subscriptions', () => {
    broker.ensureTopic('lonely');
    expect(broker.send('lonely', { body: 'x' })[0]!.sequenceNumber).toBe(1);
    broker.ensureSubscription('lonely', 'late');
    expect(broker.peek('lonely/Subscriptions/late')).toEqual([]);
  });

  it('refuses to use a queue as a topic', () => {
    broker.ensureQueue('jobs');
    expect(code(() => broker.ensureSubscription('jobs', 's'))).toBe('InvalidOperation');
  });
});

describe('scheduling, sessions and notifications', () => {
  it('hides scheduled messages until their time', () => {
    broker.send('jobs', { body: 'later', scheduledEnqueueTime: clock + 5000 });
    expect(broker.receive('jobs')).toEqual([]);
    expect(broker.peek('jobs')[0]).toMatchObject({ state: 'scheduled' });
    expect(broker.counts()[0]).toMatchObject({ active: 0, scheduled: 1 });
    expect(broker.nextWakeAt('jobs')).toBe(clock + 5000);
    clock += 5000;
    const [m] = broker.receive('jobs');
    expect(m!.enqueuedTime.getTime()).toBe(clock);
    expect(m!.scheduledEnqueueTime!.getTime()).toBe(clock);
  });

  it('in session mode hands out one message per session at a time, in order', () => {
    broker.send('ordered', [
      { body: 'a1', sessionId: 'A' },
      { body: 'a2', sessionId: 'A' },
      { body: 'b1', sessionId: 'B' },
      { body: 'a3', sessionId: 'A' },
    ]);
    const opts = { sessions: true };
    const [a1] = broker.receive('ordered', 1, undefined, opts);
    const [b1] = broker.receive('ordered', 1, undefined, opts);
    expect([a1!.body.toString(), b1!.body.toString()]).toEqual(['a1', 'b1']);
    expect(broker.receive('ordered', 1, undefined, opts)).toEqual([]);
    broker.complete(a1!.lockToken!);
    expect(broker.receive('ordered', 5, undefined, opts).map((m) => m.body.toString())).toEqual(['a2', 'a3']);
  });

  it('notifies listeners when messages become available', () => {
    const seen: string[] = [];
    const unsubscribe = broker.subscribe((p) => seen.push(p));
    broker.send('jobs', { body: 'x' });
    const [m] = broker.receive('jobs');
    broker.abandon(m!.lockToken!);
    unsubscribe();
    broker.send('jobs', { body: 'y' });
    expect(seen).toEqual(['jobs', 'jobs']);
  });
});

describe('entities and errors', () => {
  it('validates names and reports unknown entities', () => {
    expect(code(() => broker.send('bad name', { body: 'x' }))).toBe('InvalidEntityName');
    expect(code(() => broker.send('-x', { body: 'x' }))).toBe('InvalidEntityName');
    expect(code(() => broker.peek('nowhere'))).toBe('MessagingEntityNotFound');
    expect(code(() => broker.send('jobs/$DeadLetterQueue', { body: 'x' }))).toBe('InvalidOperation');
    expect(code(() => broker.send('jobs', { body: 'x', timeToLiveMs: 0 }))).toBe('InvalidOperation');
  });

  it('updates and deletes entities', () => {
    broker.ensureSubscription('t', 's');
    broker.send('t', { body: 'x' });
    expect(broker.updateEntity('t/Subscriptions/s', { maxDeliveryCount: 2 }).maxDeliveryCount).toBe(2);
    expect(broker.listEntities().map((e) => `${e.kind}:${e.path}`)).toEqual([
      'topic:t',
      'subscription:t/Subscriptions/s',
    ]);
    broker.deleteEntity('t');
    expect(broker.listEntities()).toEqual([]);
  });
});

describe('persistence', () => {
  it('keeps messages across a reopen of the database; locks are released', () => {
    broker.send('jobs', [{ body: 'first', correlationId: 'c' }, { body: 'second' }]);
    const [locked] = broker.receive('jobs', 1, 60_000);
    db.close();

    db = open(path.join(dir, 'sb.sqlite'));
    broker = newBroker();
    expect(code(() => broker.complete(locked!.lockToken!))).toBe('MessageLockLost');
    const got = broker.receive('jobs', 10);
    expect(got.map((m) => [m.body.toString(), m.deliveryCount, m.correlationId])).toEqual([
      ['first', 2, 'c'],
      ['second', 1, undefined],
    ]);
    expect(broker.send('jobs', { body: 'third' })[0]!.sequenceNumber).toBe(3);
  });
});
