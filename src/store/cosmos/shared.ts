/**
 * What the Cosmos adapters share: SDK status checks, point operations that answer "missing" instead of
 * throwing, item ids safe for Cosmos, process-wide per-key queues and jittered backoff.
 */
import { createHash } from 'node:crypto';
import type {
  Container,
  ItemDefinition,
  JSONObject,
  OperationInput,
  OperationResponse,
  Resource,
} from '@azure/cosmos';

/** The HTTP status of a Cosmos SDK error (ErrorResponse.code); undefined for any other error. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

export const hasStatus = (err: unknown, ...codes: number[]): boolean => codes.includes(statusOf(err) ?? 0);

/** A document as read back: the body plus the system properties (`_etag`, `_ts`, ...). */
export type Stored<T> = T & Resource;

/** Point read; undefined when the item does not exist. */
export async function readItem<T extends ItemDefinition>(
  container: Container,
  id: string,
  pk: string,
): Promise<Stored<T> | undefined> {
  const { resource } = await container.item(id, pk).read<T>();
  return resource;
}

/** Create; undefined when an item with that id already exists in the partition (409). */
export async function createItem<T extends ItemDefinition>(
  container: Container,
  body: T,
): Promise<Stored<T> | undefined> {
  try {
    return (await container.items.create(body)).resource;
  } catch (err) {
    if (hasStatus(err, 409)) return undefined;
    throw err;
  }
}

/** Delete; false when the item was not there (404) or, with `ifMatch`, had changed (412). */
export async function deleteItem(
  container: Container,
  id: string,
  pk: string,
  ifMatch?: string,
): Promise<boolean> {
  try {
    const options = ifMatch === undefined ? {} : { accessCondition: { type: 'IfMatch', condition: ifMatch } };
    await container.item(id, pk).delete(options);
    return true;
  } catch (err) {
    if (hasStatus(err, 404, 412)) return false;
    throw err;
  }
}

/**
 * All results of a query. One that names `@pk` reads that partition only: the key is in its WHERE
 * (what local stand-ins honour; they ignore the option) and in the options (which route it to one
 * partition on Azure, without a fan-out).
 */
export async function queryAll<T>(
  container: Container,
  query: string,
  params: Record<string, string | number> = {},
): Promise<T[]> {
  const parameters = Object.entries(params).map(([name, value]) => ({ name, value }));
  const pk = params['@pk'];
  const options = typeof pk === 'string' ? { partitionKey: pk } : {};
  const { resources } = await container.items.query<T>({ query, parameters }, options).fetchAll();
  return resources;
}

/**
 * A transactional batch in one partition: all of it or nothing on Azure. Each operation also names the
 * partition (the wire format bulk uses; stand-ins need it). The first operation should be the
 * conditional one: local stand-ins apply operations in order and stop at the first failure without
 * rolling back, so a failing first operation leaves nothing behind there either.
 */
export async function transact(
  container: Container,
  pk: string,
  operations: OperationInput[],
): Promise<OperationResponse[]> {
  const response = await container.items.batch(
    operations.map((op) => ({ ...op, partitionKey: pk })),
    pk,
  );
  return response.result ?? [];
}

/** A document as a batch operation's body (the SDK types bodies as JSON values). */
export const asJson = (body: object): JSONObject => body as unknown as JSONObject;

/** Whether every operation of a batch succeeded. */
export const committed = (results: OperationResponse[], count: number): boolean =>
  results.length === count && results.every((r) => r.statusCode < 400);

/**
 * The Cosmos item id for one of our ids. Ids are caller data, and Cosmos refuses `/ \ ? #` in them
 * (and more than 255 characters): anything outside a conservative alphabet is replaced by `~` and its
 * SHA-256, which no plain id can look like. Documents keep the real id in their body.
 */
export function itemId(value: string): string {
  return /^[A-Za-z0-9][\w.:=@-]{0,199}$/.test(value)
    ? value
    : `~${createHash('sha256').update(value, 'utf8').digest('hex')}`;
}

/** The body of a stored document without its system properties (to write it back). */
export function withoutSystem<T extends object>(doc: T): T {
  const out = { ...doc } as Record<string, unknown>;
  for (const key of ['_etag', '_rid', '_self', '_ts', '_attachments', '_lsn']) delete out[key];
  return out as T;
}

const queues = new Map<string, Promise<void>>();

/**
 * Runs `fn` after every earlier call with the same key in this process has settled. Callers on one
 * run queue here instead of racing each other into etag conflicts; across processes the etag checks
 * still decide, so the queue is a throughput measure, never what correctness rests on.
 */
export async function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const before = queues.get(key) ?? Promise.resolve();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const tail = before.then(() => gate);
  queues.set(key, tail);
  await before;
  try {
    return await fn();
  } finally {
    release();
    if (queues.get(key) === tail) queues.delete(key);
  }
}

/** The pause before retry `attempt` (0, 1, ...): random, up to 10 ms × 2^attempt and at most 1 s. */
export function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(1000, 10 * 2 ** attempt)));
}

/** Maps with at most `limit` calls in flight. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
