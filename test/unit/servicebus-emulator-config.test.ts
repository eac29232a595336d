/** Entities declared in the Service Bus emulator's Config.json format (servicebus-emulator.config.json). */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ServiceBusBroker } from '../../src/local-host/servicebus/broker';
import {
  applyEmulatorConfig,
  EMULATOR_CONFIG_FILE,
  isoDurationMs,
  loadEmulatorConfig,
} from '../../src/local-host/servicebus/emulator-config';

let dir: string;
let db: Database.Database;
let broker: ServiceBusBroker;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-config-'));
  db = new Database(path.join(dir, 'sb.sqlite'));
  broker = new ServiceBusBroker(db, { defaults: { maxDeliveryCount: 10 } });
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('isoDurationMs', () => {
  it.each([
    ['PT1M', 60_000],
    ['PT5M30S', 330_000],
    ['P14D', 14 * 86_400_000],
    ['P1DT2H', 26 * 3_600_000],
    ['PT0.5S', 500],
  ])('%s is %i ms', (text, ms) => expect(isoDurationMs(text, 'x')).toBe(ms));

  it.each(['1 minute', 'P', 'PT', 'P1W', '00:01:00'])('refuses %s', (text) =>
    expect(() => isoDurationMs(text, 'Queues[0].LockDuration')).toThrow(
      /Queues\[0\]\.LockDuration: .* ISO 8601/,
    ),
  );
});

describe('the project file', () => {
  it('declares the queues, the results topic and its default subscription the app expects', () => {
    const root = path.resolve(__dirname, '../..');
    expect(loadEmulatorConfig(broker, root)).toBe(4);
    const byPath = Object.fromEntries(broker.listEntities().map((e) => [e.path, e]));
    expect(byPath['agent-jobs']).toMatchObject({
      kind: 'queue',
      maxDeliveryCount: 5,
      lockDurationMs: 60_000,
    });
    expect(byPath['agent-tasks']).toMatchObject({
      kind: 'queue',
      maxDeliveryCount: 3,
      lockDurationMs: 300_000,
    });
    expect(byPath['agent-results']).toMatchObject({ kind: 'topic' });
    expect(byPath['agent-results/Subscriptions/default']).toMatchObject({
      kind: 'subscription',
      topic: 'agent-results',
    });
  });
});

describe('applyEmulatorConfig', () => {
  const config = (ns: unknown) => ({ UserConfig: { Namespaces: [ns] } });

  it('applies properties, and again without duplicates', () => {
    const c = config({
      Queues: [
        {
          Name: 'q',
          Properties: {
            MaxDeliveryCount: 2,
            DefaultMessageTimeToLive: 'PT1H',
            DeadLetteringOnMessageExpiration: true,
            RequiresSession: false,
          },
        },
      ],
      Topics: [
        {
          Name: 't',
          Subscriptions: [{ Name: 's', Properties: { LockDuration: 'PT30S' } }, { Name: 'plain' }],
        },
      ],
    });
    expect(applyEmulatorConfig(broker, c)).toBe(4);
    expect(applyEmulatorConfig(broker, c)).toBe(4);
    expect(broker.listEntities().map((e) => e.path)).toEqual([
      'q',
      't',
      't/Subscriptions/plain',
      't/Subscriptions/s',
    ]);
    expect(broker.getEntity('q')).toMatchObject({
      maxDeliveryCount: 2,
      defaultTimeToLiveMs: 3_600_000,
      deadLetteringOnMessageExpiration: true,
    });
    expect(broker.getEntity('t/Subscriptions/s')).toMatchObject({ lockDurationMs: 30_000 });
  });

  it.each([
    [{}, 'UserConfig.Namespaces must be a list'],
    [config({ Queues: [{}] }), 'Namespaces[0].Queues[0].Name must be a non-empty string'],
    [
      config({ Queues: [{ Name: 'q', Properties: { MaxDeliveryCount: 0 } }] }),
      'Queues[0].MaxDeliveryCount must be a positive integer',
    ],
    [config({ Topics: [{ Name: 't', Subscriptions: [{ Name: '' }] }] }), 'Topics[0].Subscriptions[0].Name'],
  ])('names what is wrong', (c, message) => {
    expect(() => applyEmulatorConfig(broker, c)).toThrow(message);
  });

  it('reads nothing without a file, and says when the file is not JSON', () => {
    expect(loadEmulatorConfig(broker, dir)).toBe(0);
    fs.writeFileSync(path.join(dir, EMULATOR_CONFIG_FILE), '{ nope');
    expect(() => loadEmulatorConfig(broker, dir)).toThrow(`${EMULATOR_CONFIG_FILE} is not valid JSON`);
  });
});
