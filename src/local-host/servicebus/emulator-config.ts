/**
 * Entity declarations in the official Service Bus emulator's `Config.json` format, read from the app's
 * `servicebus-emulator.config.json` when present: the queues, topics and subscriptions an app expects
 * exist before its first message, with their properties (MaxDeliveryCount, LockDuration,
 * DefaultMessageTimeToLive, DeadLetteringOnMessageExpiration). The same file works with the emulator.
 *
 *   {"UserConfig": {"Namespaces": [{"Name": "sbemulatorns",
 *     "Queues": [{"Name": "agent-jobs", "Properties": {"MaxDeliveryCount": 5, "LockDuration": "PT1M"}}],
 *     "Topics": [{"Name": "agent-results", "Subscriptions": [{"Name": "default"}]}]}]}}
 *
 * Properties the embedded broker does not model (sessions, duplicate detection, forwarding, rules)
 * are accepted and ignored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ServiceBusBroker } from './broker';
import type { EntityProperties } from './types';

export const EMULATOR_CONFIG_FILE = 'servicebus-emulator.config.json';

interface Entity {
  Name?: unknown;
  Properties?: Record<string, unknown>;
}
interface Topic extends Entity {
  Subscriptions?: Entity[];
}

const DURATION =
  /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** ISO 8601 days/hours/minutes/seconds (`PT1M`, `P14D`) in ms. */
export function isoDurationMs(value: string, where: string): number {
  const m = DURATION.exec(value);
  if (!m || value === 'P' || value.endsWith('T')) {
    throw new Error(`${where}: '${value}' is not an ISO 8601 duration such as PT1M`);
  }
  const [d, h, min, s] = m.slice(1).map((x) => Number(x ?? 0));
  return Math.round((((d! * 24 + h!) * 60 + min!) * 60 + s!) * 1000);
}

function propertiesOf(entity: Entity, where: string): Partial<EntityProperties> {
  const p = entity.Properties ?? {};
  const props: Partial<EntityProperties> = {};
  if (p.MaxDeliveryCount !== undefined) {
    if (!Number.isInteger(p.MaxDeliveryCount) || (p.MaxDeliveryCount as number) < 1) {
      throw new Error(`${where}.MaxDeliveryCount must be a positive integer`);
    }
    props.maxDeliveryCount = p.MaxDeliveryCount as number;
  }
  if (typeof p.LockDuration === 'string')
    props.lockDurationMs = isoDurationMs(p.LockDuration, `${where}.LockDuration`);
  if (typeof p.DefaultMessageTimeToLive === 'string') {
    props.defaultTimeToLiveMs = isoDurationMs(
      p.DefaultMessageTimeToLive,
      `${where}.DefaultMessageTimeToLive`,
    );
  }
  if (typeof p.DeadLetteringOnMessageExpiration === 'boolean') {
    props.deadLetteringOnMessageExpiration = p.DeadLetteringOnMessageExpiration;
  }
  return props;
}

const nameOf = (e: Entity, where: string): string => {
  if (typeof e.Name !== 'string' || e.Name === '')
    throw new Error(`${where}.Name must be a non-empty string`);
  return e.Name;
};

/** Creates (or updates) every declared entity; returns how many. Throws naming the bad field. */
export function applyEmulatorConfig(
  broker: ServiceBusBroker,
  config: unknown,
  file = EMULATOR_CONFIG_FILE,
): number {
  const namespaces = (config as { UserConfig?: { Namespaces?: unknown } } | null)?.UserConfig?.Namespaces;
  if (!Array.isArray(namespaces)) throw new Error(`${file}: UserConfig.Namespaces must be a list`);
  let count = 0;
  namespaces.forEach((ns: { Queues?: Entity[]; Topics?: Topic[] }, n) => {
    (ns.Queues ?? []).forEach((q, i) => {
      const where = `${file}: Namespaces[${n}].Queues[${i}]`;
      const name = nameOf(q, where);
      broker.ensureQueue(name);
      const props = propertiesOf(q, where);
      if (Object.keys(props).length) broker.updateEntity(name, props);
      count++;
    });
    (ns.Topics ?? []).forEach((t, i) => {
      const where = `${file}: Namespaces[${n}].Topics[${i}]`;
      const topic = nameOf(t, where);
      broker.ensureTopic(topic);
      count++;
      (t.Subscriptions ?? []).forEach((s, j) => {
        const at = `${where}.Subscriptions[${j}]`;
        const name = nameOf(s, at);
        const info = broker.ensureSubscription(topic, name);
        const props = propertiesOf(s, at);
        if (Object.keys(props).length) broker.updateEntity(info.path, props);
        count++;
      });
    });
  });
  return count;
}

/** Reads and applies `<appDir>/servicebus-emulator.config.json` when it exists; the entity count. */
export function loadEmulatorConfig(broker: ServiceBusBroker, appDir: string): number {
  const file = path.join(appDir, EMULATOR_CONFIG_FILE);
  if (!fs.existsSync(file)) return 0;
  let config: unknown;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    throw new Error(`${EMULATOR_CONFIG_FILE} is not valid JSON: ${(err as Error).message}`);
  }
  return applyEmulatorConfig(broker, config);
}
