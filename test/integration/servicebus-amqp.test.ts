/**
 * The local host's Service Bus AMQP endpoint against the real @azure/service-bus SDK (loopback only):
 * queues, topics, settlement, locks, scheduling, and the app's triggers on the same broker.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ServiceBusClient,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
  type ServiceBusReceiverOptions,
  type ServiceBusSender,
} from '@azure/service-bus';
import { LocalHost } from '../../src/local-host/host';
import { silentLogger, type HostLogger } from '../../src/local-host/log';
import type { AmqpAppEvent } from '../fixtures/apps/amqp-app/index';

const appDir = path.join(__dirname, '../fixtures/apps/amqp-app');
const retryOptions = { maxRetries: 0, timeoutInMs: 5000 };
const logged: string[] = [];
const logger: HostLogger = {
  ...silentLogger,
  error: (m) => logged.push(m),
  warn: (m) => logged.push(m),
};
const dataDirs: string[] = [];
let host: LocalHost;
let client: ServiceBusClient;
const closers: { close(): Promise<void> }[] = [];

const events = (fn: string): AmqpAppEvent[] =>
  ((globalThis as { __amqpAppEvents?: AmqpAppEvent[] }).__amqpAppEvents ?? []).filter((e) => e.fn === fn);

async function waitFor<T>(probe: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startHost(): Promise<LocalHost> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-amqp-'));
  dataDirs.push(dataDir);
  // A second host in this process reuses the app's registrations (its entry file loads once).
  const registry = host?.app.registry;
  const h = new LocalHost({ appDir, port: 0, amqpPort: 0, dataDir, logger, printFunctions: false, registry });
  await h.start();
  return h;
}

function sender(entity: string): ServiceBusSender {
  const s = client.createSender(entity);
  closers.push(s);
  return s;
}

function receiver(queue: string, options?: ServiceBusReceiverOptions): ServiceBusReceiver;
function receiver(
  topic: string,
  subscription: string,
  options?: ServiceBusReceiverOptions,
): ServiceBusReceiver;
function receiver(
  entity: string,
  a?: string | ServiceBusReceiverOptions,
  b?: ServiceBusReceiverOptions,
): ServiceBusReceiver {
  const r = typeof a === 'string' ? client.createReceiver(entity, a, b) : client.createReceiver(entity, a);
  closers.push(r);
  return r;
}

const seq = (m: ServiceBusReceivedMessage): number => m.sequenceNumber!.toNumber();

beforeAll(async () => {
  host = await startHost();
  client = new ServiceBusClient(host.amqpConnectionString!, { retryOptions });
});

afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c.close().catch(() => undefined)));
});

afterAll(async () => {
  await client?.close();
  await host?.stop();
  for (const d of dataDirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('queues', () => {
  it('sends single and batched messages and receives them peek-lock with their properties', async () => {
    const s = sender('props');
    const ttl = 3_600_000;
    await s.sendMessages({
      messageId: 'm-1',
      body: { orderId: 'o-1', lines: [1, 2] },
      contentType: 'application/json',
      correlationId: 'corr-1',
      subject: 'order',
      replyTo: 'replies',
      to: 'someone',
      sessionId: 'sess-1',
      timeToLive: ttl,
      applicationProperties: { tenant: 'contoso', attempt: 2, urgent: true, at: new Date(1_700_000_000_000) },
    });
    await s.sendMessages([{ body: 'plain text' }, { body: Buffer.from([0, 255, 1]) }]);
    const batch = await s.createMessageBatch();
    expect(batch.tryAddMessage({ body: { n: 4 } })).toBe(true);
    expect(batch.tryAddMessage({ body: { n: 5 }, messageId: 'm-5' })).toBe(true);
    await s.sendMessages(batch);

    const r = receiver('props');
    const before = Date.now();
    const got = await r.receiveMessages(5, { maxWaitTimeInMs: 5000 });
    expect(got.map((m) => m.body)).toEqual([
      { orderId: 'o-1', lines: [1, 2] },
      'plain text',
      Buffer.from([0, 255, 1]),
      { n: 4 },
      { n: 5 },
    ]);
    expect(got.map(seq)).toEqual([1, 2, 3, 4, 5]);
    const [first] = got;
    expect(first).toMatchObject({
      messageId: 'm-1',
      contentType: 'application/json',
      correlationId: 'corr-1',
      subject: 'order',
      replyTo: 'replies',
      to: 'someone',
      sessionId: 'sess-1',
      timeToLive: ttl,
      deliveryCount: 0,
      applicationProperties: { tenant: 'contoso', attempt: 2, urgent: true, at: 1_700_000_000_000 },
    });
    expect(first!.lockToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(first!.enqueuedTimeUtc!.getTime()).toBeGreaterThan(before - 10_000);
    expect(first!.lockedUntilUtc!.getTime()).toBeGreaterThan(Date.now());
    expect(first!.expiresAtUtc!.getTime()).toBe(first!.enqueuedTimeUtc!.getTime() + ttl);
    expect(got[4]!.messageId).toBe('m-5');
    expect(typeof got[1]!.messageId).toBe('string'); // assigned by the broker
    for (const m of got) await r.completeMessage(m);
    expect(await r.receiveMessages(5, { maxWaitTimeInMs: 300 })).toEqual([]);
  });

  it('peeks without locking, in sequence order and from a sequence number', async () => {
    await sender('peeks').sendMessages([{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
    const r = receiver('peeks');
    const firstTwo = await r.peekMessages(2);
    expect(firstTwo.map((m) => m.body)).toEqual(['a', 'b']);
    expect(firstTwo[0]!.lockToken).toBeUndefined();
    expect(firstTwo[0]!.state).toBe('active');
    expect((await r.peekMessages(5)).map((m) => m.body)).toEqual(['c']); // continues after the last peeked
    const all = await r.peekMessages(10, { fromSequenceNumber: firstTwo[0]!.sequenceNumber });
    expect(all.map((m) => m.body)).toEqual(['a', 'b', 'c']);
    expect((await r.receiveMessages(3, { maxWaitTimeInMs: 3000 })).map((m) => m.body)).toEqual([
      'a',
      'b',
      'c',
    ]);
    // Locked messages are still peeked.
    expect(await r.peekMessages(5, { fromSequenceNumber: firstTwo[0]!.sequenceNumber })).toHaveLength(3);
    expect(await receiver('never-used').peekMessages(5)).toEqual([]);
  });
});

describe('link credit', () => {
  it('locks no more messages than the receiver asked for', async () => {
    await sender('credit').sendMessages([1, 2, 3, 4, 5].map((n) => ({ body: n })));
    const r = receiver('credit');
    expect((await r.receiveMessages(2, { maxWaitTimeInMs: 3000 })).map((m) => m.body)).toEqual([1, 2]);
    const counts = host.serviceBus.broker.counts().find((c) => c.path === 'credit');
    expect(counts).toMatchObject({ locked: 2, active: 3 });
  });

  it('answers drain requests, so an empty receive keeps its link', async () => {
    const r = receiver('drained');
    const before = host.amqp!.stats().receivers;
    expect(await r.receiveMessages(3, { maxWaitTimeInMs: 100 })).toEqual([]);
    expect(host.amqp!.stats().receivers).toBe(before + 1);
    // Unanswered, the SDK would give up on the drain after 200 ms and close its link.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(host.amqp!.stats().receivers).toBe(before + 1);
    await sender('drained').sendMessages({ body: 'late' });
    expect((await r.receiveMessages(1, { maxWaitTimeInMs: 3000 }))[0]!.body).toBe('late');
  });
});

describe('settlement and locks', () => {
  it('abandons with a growing delivery count, and dead-letters with reason and description', async () => {
    await sender('settle').sendMessages({ body: 'x', messageId: 'dl-1', applicationProperties: { k: 'v' } });
    const r = receiver('settle');
    const [first] = await r.receiveMessages(1, { maxWaitTimeInMs: 3000 });
    expect(first!.deliveryCount).toBe(0);
    await r.abandonMessage(first!, { abandonedBy: 'test' });
    const [second] = await r.receiveMessages(1, { maxWaitTimeInMs: 3000 });
    expect(second).toMatchObject({ messageId: 'dl-1', deliveryCount: 1 });
    expect(second!.applicationProperties).toEqual({ k: 'v', abandonedBy: 'test' });
    await r.deadLetterMessage(second!, {
      deadLetterReason: 'bad-input',
      deadLetterErrorDescription: 'field x is missing',
    });
    await expect(r.completeMessage(second!)).rejects.toThrow(/already settled|deleted/i);
    expect(await r.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);

    const dlq = receiver('settle', { subQueueType: 'deadLetter' });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 3000 });
    expect(dead).toMatchObject({
      messageId: 'dl-1',
      body: 'x',
      deadLetterReason: 'bad-input',
      deadLetterErrorDescription: 'field x is missing',
    });
    expect(dead!.applicationProperties).toMatchObject({ k: 'v' });
    await dlq.completeMessage(dead!);
    expect(await dlq.peekMessages(5)).toEqual([]);
  });

  it('renews locks, and settles through $management when the receive link is gone', async () => {
    await sender('renew').sendMessages([{ body: 1 }, { body: 2 }, { body: 3 }]);
    const r1 = client.createReceiver('renew');
    const got = await r1.receiveMessages(3, { maxWaitTimeInMs: 3000 });
    expect(got).toHaveLength(3);
    const [a, b, c] = got as [
      ServiceBusReceivedMessage,
      ServiceBusReceivedMessage,
      ServiceBusReceivedMessage,
    ];
    const lockedUntil = a.lockedUntilUtc!.getTime();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const renewed = await r1.renewMessageLock(a);
    expect(renewed.getTime()).toBeGreaterThan(lockedUntil);
    expect(a.lockedUntilUtc).toEqual(renewed);
    await r1.close();

    // Another receiver settles the first one's messages: their link is gone, so through $management.
    const r2 = receiver('renew');
    await r2.completeMessage(a);
    await r2.abandonMessage(b);
    await r2.deadLetterMessage(c, { deadLetterReason: 'via-management', deadLetterErrorDescription: 'd' });
    const again = await r2.receiveMessages(1, { maxWaitTimeInMs: 3000 });
    expect(again.map((m) => [m.body, m.deliveryCount])).toEqual([[2, 1]]);
    expect(host.serviceBus.broker.counts().find((c) => c.path === 'renew')).toMatchObject({
      active: 0,
      locked: 1,
      deadLettered: 1,
    });
    await r2.completeMessage(again[0]!);
    const [dead] = await receiver('renew', { subQueueType: 'deadLetter' }).receiveMessages(1, {
      maxWaitTimeInMs: 3000,
    });
    expect(dead).toMatchObject({
      body: 3,
      deadLetterReason: 'via-management',
      deadLetterErrorDescription: 'd',
    });
    // A settled message's lock is gone.
    await expect(r2.renewMessageLock(a)).rejects.toMatchObject({ code: 'MessageLockLost' });
  });

  it('redelivers a message whose lock expired; settling it with the old lock fails', async () => {
    host.serviceBus.broker.ensureQueue('short-locks', { lockDurationMs: 700 });
    await sender('short-locks').sendMessages({ body: 'slow', messageId: 'slow-1' });
    // The SDK renews locks of received messages by itself unless told not to.
    const r = receiver('short-locks', { maxAutoLockRenewalDurationInMs: 0 });
    const [first] = await r.receiveMessages(1, { maxWaitTimeInMs: 3000 });
    expect(first!.lockedUntilUtc!.getTime() - Date.now()).toBeLessThanOrEqual(700);
    const [second] = await r.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    expect(second).toMatchObject({ messageId: 'slow-1', deliveryCount: 1 });
    await expect(r.completeMessage(first!)).rejects.toMatchObject({ code: 'MessageLockLost' });
    await r.completeMessage(second!);
  });

  it('receiveAndDelete removes messages as they are delivered', async () => {
    await sender('rad').sendMessages([{ body: 'one' }, { body: 'two' }]);
    const r = receiver('rad', { receiveMode: 'receiveAndDelete' });
    const got = await r.receiveMessages(2, { maxWaitTimeInMs: 3000 });
    expect(got.map((m) => m.body)).toEqual(['one', 'two']);
    expect(got[0]!.lockToken).toBeUndefined();
    expect(await r.peekMessages(5)).toEqual([]);
  });

  it('streams messages to subscribe() handlers', async () => {
    await sender('stream').sendMessages([{ body: 1 }, { body: 2 }, { body: 3 }]);
    const r = receiver('stream');
    const seen: unknown[] = [];
    const done = new Promise<void>((resolve, reject) => {
      r.subscribe(
        {
          processMessage: async (m) => {
            seen.push(m.body);
            if (seen.length === 3) resolve();
          },
          processError: async (args) => reject(args.error),
        },
        { maxConcurrentCalls: 2 },
      );
    });
    await done;
    expect(seen.sort()).toEqual([1, 2, 3]);
    await waitFor(async () => (await r.peekMessages(5)).length === 0 || undefined);
  });
});

describe('scheduled messages', () => {
  it('schedules through $management: peeked as scheduled, not received, cancellable', async () => {
    const s = sender('later');
    const when = new Date(Date.now() + 3_600_000);
    const [seqNo] = await s.scheduleMessages({ body: 'in an hour', messageId: 'sch-1' }, when);
    const r = receiver('later');
    const [peeked] = await r.peekMessages(1);
    expect(peeked).toMatchObject({ messageId: 'sch-1', state: 'scheduled', body: 'in an hour' });
    expect(peeked!.scheduledEnqueueTimeUtc!.getTime()).toBe(when.getTime());
    expect(peeked!.sequenceNumber!.equals(seqNo!)).toBe(true);
    expect(await r.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
    await s.cancelScheduledMessages(seqNo!);
    expect(await r.peekMessages(5, { fromSequenceNumber: seqNo })).toEqual([]);
    await expect(s.cancelScheduledMessages(seqNo!)).rejects.toThrow(/No scheduled message/);
  });

  it('delivers a message sent with scheduledEnqueueTimeUtc when it is due', async () => {
    const due = Date.now() + 600;
    await sender('soon').sendMessages({ body: 'due', scheduledEnqueueTimeUtc: new Date(due) });
    const r = receiver('soon');
    const [m] = await r.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    expect(m!.body).toBe('due');
    expect(Date.now()).toBeGreaterThanOrEqual(due - 50);
    await r.completeMessage(m!);
  });
});

describe('topics', () => {
  beforeAll(() => {
    host.serviceBus.broker.ensureSubscription('news', 'audit');
    host.serviceBus.broker.ensureSubscription('news', 'mail');
  });

  it('fans a message sent to a topic out to its subscriptions, each with a dead-letter queue', async () => {
    await sender('news').sendMessages({ body: { headline: 'hi' }, subject: 'breaking' });
    const audit = receiver('news', 'audit');
    const mail = receiver('news', 'mail');
    const [a] = await audit.receiveMessages(1, { maxWaitTimeInMs: 3000 });
    const [m] = await mail.receiveMessages(1, { maxWaitTimeInMs: 3000 });
    expect(a).toMatchObject({ body: { headline: 'hi' }, subject: 'breaking' });
    expect(m).toMatchObject({ body: { headline: 'hi' }, subject: 'breaking' });
    await audit.completeMessage(a!);
    await mail.deadLetterMessage(m!, { deadLetterReason: 'no-mailbox', deadLetterErrorDescription: 'none' });
    const [dead] = await receiver('news', 'mail', { subQueueType: 'deadLetter' }).receiveMessages(1, {
      maxWaitTimeInMs: 3000,
    });
    expect(dead).toMatchObject({ body: { headline: 'hi' }, deadLetterReason: 'no-mailbox' });
  });

  it('schedules to a topic and cancels it in every subscription', async () => {
    const s = sender('news');
    const [seqNo] = await s.scheduleMessages({ body: 'tomorrow' }, new Date(Date.now() + 86_400_000));
    expect(await receiver('news', 'audit').peekMessages(5)).toHaveLength(1);
    await s.cancelScheduledMessages(seqNo!);
    expect(await receiver('news', 'audit').peekMessages(5)).toEqual([]);
    expect(await receiver('news', 'mail').peekMessages(5)).toEqual([]);
  });

  it('fails with MessagingEntityNotFound for an unknown subscription, and refuses a topic as a source', async () => {
    await expect(
      receiver('news', 'nope').receiveMessages(1, { maxWaitTimeInMs: 1000 }),
    ).rejects.toMatchObject({
      code: 'MessagingEntityNotFound',
    });
    await expect(receiver('news').receiveMessages(1, { maxWaitTimeInMs: 1000 })).rejects.toThrow(
      /receive from a subscription/,
    );
    await expect(sender('news/Subscriptions/audit').sendMessages({ body: 1 })).rejects.toThrow(
      /send to its queue or topic/,
    );
  });
});

describe('unsupported features', () => {
  it('refuses session receivers with a clear error instead of hanging', async () => {
    await expect(client.acceptSession('sessions-q', 'conversation-1')).rejects.toThrow(
      /sessions.*not supported by the local host/i,
    );
    await expect(client.acceptNextSession('sessions-q')).rejects.toThrow(/not supported by the local host/);
  });

  it('refuses deferral with a clear error', async () => {
    await sender('defer').sendMessages({ body: 'd' });
    const r = receiver('defer');
    const [m] = await r.receiveMessages(1, { maxWaitTimeInMs: 3000 });
    await expect(r.deferMessage(m!)).rejects.toThrow(/Deferring messages is not supported/);
  });
});

describe('the app on the same broker', () => {
  it('fires a serviceBusQueue trigger for a message sent over AMQP; its output is received over AMQP', async () => {
    await sender('orders').sendMessages({
      body: { orderId: 'o-42' },
      messageId: 'order-42',
      contentType: 'application/json',
      applicationProperties: { channel: 'web' },
    });
    const [e] = await waitFor(() => events('onOrder').length > 0 && events('onOrder'));
    expect(e!.message).toEqual({ orderId: 'o-42' });
    expect(e!.metadata).toMatchObject({
      messageId: 'order-42',
      contentType: 'application/json',
      deliveryCount: 1,
      applicationProperties: { channel: 'web' },
    });
    const [receipt] = await receiver('receipts').receiveMessages(1, { maxWaitTimeInMs: 5000 });
    expect(receipt).toMatchObject({ body: { receiptFor: 'o-42' }, contentType: 'application/json' });
  });

  it('dead-letters what the trigger keeps failing on; the dead-letter queue is readable over AMQP', async () => {
    await sender('rejects').sendMessages({ body: 'poison', messageId: 'p-1' });
    const dlq = receiver('rejects', { subQueueType: 'deadLetter' });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 10_000 });
    expect(dead).toMatchObject({
      messageId: 'p-1',
      body: 'poison',
      deadLetterReason: 'MaxDeliveryCountExceeded',
      deliveryCount: 2,
    });
    expect(dead!.deadLetterErrorDescription).toContain('cannot process this message');
    expect(events('rejectAll')).toHaveLength(2);
    await dlq.completeMessage(dead!);
  });
});

describe('lifecycle', () => {
  it('logged no warnings or errors so far', () => {
    expect(logged).toEqual([]);
  });

  it('refuses a taken port with a message naming the port and the flags', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-amqp-'));
    dataDirs.push(dataDir);
    const port = host.amqpPort!;
    const other = new LocalHost({
      appDir,
      port: 0,
      amqpPort: port,
      dataDir,
      logger,
      printFunctions: false,
      registry: host.app.registry,
    });
    try {
      await expect(other.start()).rejects.toThrow(
        `The Service Bus AMQP port ${port} is in use: choose another with --amqp-port N`,
      );
    } finally {
      await other.stop();
    }
  });

  it('closes connected clients on shutdown without hanging', async () => {
    const h = await startHost();
    const c = new ServiceBusClient(h.amqpConnectionString!, {
      retryOptions: { maxRetries: 1, timeoutInMs: 2000, retryDelayInMs: 100 },
    });
    const s = c.createSender('bye');
    await s.sendMessages({ body: 'before' });
    const r = c.createReceiver('bye');
    const errors: Error[] = [];
    // Shut down while the streaming receiver is attached and idle (its message was settled).
    await new Promise<void>((resolve) => {
      r.subscribe(
        {
          processMessage: async (m) => {
            await r.completeMessage(m);
            resolve();
          },
          processError: async (args) => void errors.push(args.error),
        },
        { autoCompleteMessages: false },
      );
    });
    const started = Date.now();
    await h.stop();
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(s.sendMessages({ body: 'after' })).rejects.toThrow();
    await c.close();
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
