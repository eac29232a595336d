/** SQLite tables of the Service Bus broker (prefix `sb_`), entity paths and row mapping. */
import type Database from 'better-sqlite3';
import {
  DEAD_LETTER_SUFFIX,
  ServiceBusError,
  type BrokerMessage,
  type EntityInfo,
  type EntityKind,
  type SendMessage,
} from './types';

export function createSchema(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS sb_entities (
      path TEXT PRIMARY KEY COLLATE NOCASE,
      kind TEXT NOT NULL,
      topic TEXT COLLATE NOCASE,
      max_delivery_count INTEGER NOT NULL,
      lock_duration_ms INTEGER NOT NULL,
      default_ttl_ms INTEGER,
      dead_letter_on_expiration INTEGER NOT NULL DEFAULT 0,
      last_seq INTEGER NOT NULL DEFAULT 0,
      created_at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS sb_entities_topic ON sb_entities (topic);
    CREATE TABLE IF NOT EXISTS sb_messages (
      entity TEXT NOT NULL COLLATE NOCASE,
      seq INTEGER NOT NULL,
      message_id TEXT NOT NULL,
      body BLOB NOT NULL,
      content_type TEXT,
      correlation_id TEXT,
      session_id TEXT,
      reply_to TEXT,
      reply_to_session_id TEXT,
      to_address TEXT,
      subject TEXT,
      partition_key TEXT,
      app_props TEXT NOT NULL DEFAULT '{}',
      ttl_ms INTEGER,
      -- when the message is (or becomes, if scheduled) available; later than the send time when scheduled
      enqueued_at INTEGER NOT NULL,
      scheduled_at INTEGER,
      expires_at INTEGER,
      delivery_count INTEGER NOT NULL DEFAULT 0,
      lock_token TEXT UNIQUE,
      lock_ms INTEGER,
      locked_until INTEGER,
      dead_lettered INTEGER NOT NULL DEFAULT 0,
      dead_letter_reason TEXT,
      dead_letter_description TEXT,
      last_error TEXT,
      PRIMARY KEY (entity, seq)
    );
    CREATE INDEX IF NOT EXISTS sb_messages_ready ON sb_messages (entity, dead_lettered, enqueued_at);
  `);
}

export interface EntityRow {
  path: string;
  kind: EntityKind;
  topic: string | null;
  max_delivery_count: number;
  lock_duration_ms: number;
  default_ttl_ms: number | null;
  dead_letter_on_expiration: number;
  last_seq: number;
}

export interface MessageRow {
  entity: string;
  seq: number;
  message_id: string;
  body: Buffer;
  content_type: string | null;
  correlation_id: string | null;
  session_id: string | null;
  reply_to: string | null;
  reply_to_session_id: string | null;
  to_address: string | null;
  subject: string | null;
  partition_key: string | null;
  app_props: string;
  ttl_ms: number | null;
  enqueued_at: number;
  scheduled_at: number | null;
  expires_at: number | null;
  delivery_count: number;
  lock_token: string | null;
  lock_ms: number | null;
  locked_until: number | null;
  dead_lettered: number;
  dead_letter_reason: string | null;
  dead_letter_description: string | null;
  last_error: string | null;
}

export function toEntityInfo(row: EntityRow): EntityInfo {
  return {
    path: row.path,
    kind: row.kind,
    ...(row.topic ? { topic: row.topic } : {}),
    maxDeliveryCount: row.max_delivery_count,
    lockDurationMs: row.lock_duration_ms,
    ...(row.default_ttl_ms !== null ? { defaultTimeToLiveMs: row.default_ttl_ms } : {}),
    deadLetteringOnMessageExpiration: row.dead_letter_on_expiration === 1,
  };
}

export function toBrokerMessage(row: MessageRow, now: number): BrokerMessage {
  const opt = <K extends string, V>(key: K, value: V | null): { [P in K]?: V } =>
    (value === null ? {} : { [key]: value }) as { [P in K]?: V };
  const locked = row.locked_until !== null && row.locked_until > now;
  return {
    entity: row.entity,
    messageId: row.message_id,
    body: Buffer.from(row.body),
    ...opt('contentType', row.content_type),
    ...opt('correlationId', row.correlation_id),
    ...opt('sessionId', row.session_id),
    ...opt('replyTo', row.reply_to),
    ...opt('replyToSessionId', row.reply_to_session_id),
    ...opt('to', row.to_address),
    ...opt('subject', row.subject),
    ...opt('partitionKey', row.partition_key),
    applicationProperties: JSON.parse(row.app_props) as Record<string, unknown>,
    sequenceNumber: row.seq,
    enqueuedTime: new Date(row.enqueued_at),
    ...opt('timeToLiveMs', row.ttl_ms),
    ...opt('expiresAt', row.expires_at === null ? null : new Date(row.expires_at)),
    ...opt('scheduledEnqueueTime', row.scheduled_at === null ? null : new Date(row.scheduled_at)),
    deliveryCount: row.delivery_count,
    state: row.dead_lettered ? 'deadLettered' : row.enqueued_at > now ? 'scheduled' : 'active',
    ...(locked ? { lockToken: row.lock_token!, lockedUntil: new Date(row.locked_until!) } : {}),
    ...opt('deadLetterReason', row.dead_letter_reason),
    ...opt('deadLetterErrorDescription', row.dead_letter_description),
  };
}

export const INSERT_MESSAGE = `INSERT INTO sb_messages (entity, seq, message_id, body, content_type, correlation_id,
    session_id, reply_to, reply_to_session_id, to_address, subject, partition_key, app_props, ttl_ms, enqueued_at,
    scheduled_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/** The values of INSERT_MESSAGE: a scheduled message is enqueued at its time, and expires a TTL after. */
export function messageColumns(
  target: EntityRow,
  seq: number,
  messageId: string,
  m: SendMessage,
  now: number,
): unknown[] {
  const scheduled = m.scheduledEnqueueTime === undefined ? null : +new Date(m.scheduledEnqueueTime);
  const enqueuedAt = scheduled !== null && scheduled > now ? scheduled : now;
  const ttl = m.timeToLiveMs ?? target.default_ttl_ms ?? null;
  const body = typeof m.body === 'string' ? Buffer.from(m.body, 'utf8') : Buffer.from(m.body);
  return [
    target.path,
    seq,
    messageId,
    body,
    m.contentType ?? null,
    m.correlationId ?? null,
    m.sessionId ?? null,
    m.replyTo ?? null,
    m.replyToSessionId ?? null,
    m.to ?? null,
    m.subject ?? null,
    m.partitionKey ?? null,
    JSON.stringify(m.applicationProperties ?? {}),
    ttl,
    enqueuedAt,
    scheduled,
    ttl === null ? null : enqueuedAt + ttl,
  ];
}

/** An entity path split into the entity and whether it names its dead-letter sub-queue. */
export interface ParsedPath {
  entity: string;
  deadLetter: boolean;
  /** Set for `topic/Subscriptions/sub` paths. */
  topic?: string;
  subscription?: string;
}

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._\-/]{0,258}[A-Za-z0-9_])?$/;
const SUBSCRIPTION = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,48}[A-Za-z0-9_])?$/;

export function parsePath(path: string): ParsedPath {
  let entity = path.trim();
  let deadLetter = false;
  if (entity.toLowerCase().endsWith(DEAD_LETTER_SUFFIX.toLowerCase())) {
    entity = entity.slice(0, -DEAD_LETTER_SUFFIX.length);
    deadLetter = true;
  }
  const sub = /^(.+)\/subscriptions\/([^/]+)$/i.exec(entity);
  if (sub) {
    const [, topic, subscription] = sub as unknown as [string, string, string];
    checkName(topic, NAME, 'topic');
    checkName(subscription, SUBSCRIPTION, 'subscription');
    return { entity: subscriptionPath(topic, subscription), deadLetter, topic, subscription };
  }
  checkName(entity, NAME, 'entity');
  return { entity, deadLetter };
}

export function subscriptionPath(topic: string, subscription: string): string {
  return `${topic}/Subscriptions/${subscription}`;
}

function checkName(name: string, re: RegExp, what: string): void {
  if (!re.test(name) || name.includes('//')) {
    throw new ServiceBusError(
      'InvalidEntityName',
      `Invalid ${what} name '${name}': use letters, digits, '.', '-', '_'${what === 'subscription' ? '' : " and '/'"}, starting and ending with a letter or digit.`,
    );
  }
}
