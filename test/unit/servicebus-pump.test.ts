/** The trigger pump: lock renewal while a function runs, wake-ups for scheduled messages, concurrency. */
import Database from 'better-sqlite3';
import { ServiceBusBroker } from '../../src/local-host/servicebus/broker';
import { TriggerPump, type PumpOptions } from '../../src/local-host/servicebus/pump';
import type { BrokerMessage } from '../../src/local-host/servicebus/types';

let db: Database.Database;
let broker: ServiceBusBroker;
let pump: TriggerPump | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(process: PumpOptions['process'], opts: Partial<PumpOptions> = {}): TriggerPump {
  pump = new TriggerPump({
    broker,
    entity: 'jobs',
    batchSize: 1,
    concurrency: 4,
    sessions: false,
    maxLockRenewalMs: 60_000,
    process,
    onError: (err) => {
      throw err;
    },
    ...opts,
  });
  pump.start();
  return pump;
}

beforeEach(() => {
  db = new Database(':memory:');
  broker = new ServiceBusBroker(db, { defaults: { lockDurationMs: 200 } });
  broker.ensureQueue('jobs');
});
afterEach(async () => {
  await pump?.stop(Date.now());
  db.close();
});

it('renews locks while the function runs, so the message is not redelivered', async () => {
  const deliveries: number[] = [];
  start(async ([m]) => {
    deliveries.push(m!.deliveryCount);
    await sleep(600);
    broker.complete(m!.lockToken!);
  });
  broker.send('jobs', { body: 'x' });
  await sleep(800);
  expect(deliveries).toEqual([1]);
  expect(broker.peek('jobs')).toEqual([]);
});

it('stops renewing after maxLockRenewalMs; the message comes back', async () => {
  const deliveries: number[] = [];
  start(
    async ([m]) => {
      deliveries.push(m!.deliveryCount);
      if (deliveries.length === 1) await sleep(700);
      else broker.complete(m!.lockToken!);
    },
    { maxLockRenewalMs: 0 },
  );
  broker.send('jobs', { body: 'x' });
  await sleep(600);
  expect(deliveries).toEqual([1, 2]);
});

it('wakes up for a scheduled message without polling', async () => {
  const got: { at: number; m: BrokerMessage }[] = [];
  start(async ([m]) => {
    got.push({ at: Date.now(), m: m! });
    broker.complete(m!.lockToken!);
  });
  const due = Date.now() + 150;
  broker.send('jobs', { body: 'later', scheduledEnqueueTime: due });
  await sleep(400);
  expect(got).toHaveLength(1);
  expect(got[0]!.at).toBeGreaterThanOrEqual(due);
});

it('keeps at most `concurrency` invocations in flight', async () => {
  let running = 0;
  let peak = 0;
  const p = start(
    async ([m]) => {
      peak = Math.max(peak, ++running);
      await sleep(30);
      running--;
      broker.complete(m!.lockToken!);
    },
    { concurrency: 2, maxLockRenewalMs: 10_000 },
  );
  broker.send(
    'jobs',
    [1, 2, 3, 4, 5].map((n) => ({ body: String(n) })),
  );
  await sleep(10);
  expect(p.activeInvocations).toBe(2);
  await sleep(250);
  expect(peak).toBe(2);
  expect(broker.peek('jobs')).toEqual([]);
});
