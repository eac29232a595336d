/**
 * Service Bus over AMQP 1.0, the message side: AMQP messages (as the @azure/service-bus SDK sends
 * them, batches included) to broker messages and back with the broker's annotations, lock tokens
 * carried in delivery tags, and broker errors as AMQP errors the SDK maps to its error codes.
 */
import { message as amqp, types } from 'rhea';
import type { AmqpError, Message } from 'rhea';
import { ServiceBusError } from '../types';
import type { BrokerMessage, SendMessage } from '../types';

/** The message format of a batch: one AMQP message whose data sections are encoded messages. */
export const BATCH_FORMAT = 0x80013700;
/** The largest message (or batch) a sender may send, as on the Standard tier. */
export const MAX_MESSAGE_SIZE = 256 * 1024;

const DATA = 0x75;
const SEQUENCE_NUMBER = 'x-opt-sequence-number';
const ENQUEUED_TIME = 'x-opt-enqueued-time';
const LOCKED_UNTIL = 'x-opt-locked-until';
const SCHEDULED_TIME = 'x-opt-scheduled-enqueue-time';
const PARTITION_KEY = 'x-opt-partition-key';
const MESSAGE_STATE = 'x-opt-message-state';
const MAX_UINT = 0xffffffff;

interface Section {
  typecode: number;
  content: unknown;
  multiple?: boolean;
}

/** The messages of one transfer: itself, or the messages of a batch. */
export function messagesOf(payload: Message | Buffer, format: number | undefined): Message[] {
  if (format !== BATCH_FORMAT) return [payload as Message];
  const outer = decodeMessage(payload as Buffer);
  const body = outer.body as Section | undefined;
  if (body?.typecode !== DATA) return [];
  const parts = body.multiple ? (body.content as Buffer[]) : [body.content as Buffer];
  return parts.map(decodeMessage);
}

/** A received AMQP message as the broker takes it (message id, properties, TTL, schedule, partition key). */
export function toSendMessage(m: Message): SendMessage {
  const annotations = (m.message_annotations ?? {}) as Record<string, unknown>;
  const out: SendMessage = { body: bodyBytes(m.body) };
  const set = <K extends keyof SendMessage>(key: K, value: SendMessage[K] | undefined | null): void => {
    if (value !== undefined && value !== null) out[key] = value;
  };
  set('messageId', textOf(m.message_id));
  set('correlationId', textOf(m.correlation_id));
  set('contentType', m.content_type);
  set('sessionId', m.group_id);
  set('replyToSessionId', m.reply_to_group_id);
  set('replyTo', m.reply_to);
  set('to', m.to);
  set('subject', m.subject);
  if (typeof annotations[PARTITION_KEY] === 'string') set('partitionKey', annotations[PARTITION_KEY]);
  if (m.application_properties) set('applicationProperties', plainProperties(m.application_properties));
  if (typeof m.ttl === 'number' && m.ttl > 0) set('timeToLiveMs', m.ttl);
  const scheduled = annotations[SCHEDULED_TIME];
  if (scheduled instanceof Date || typeof scheduled === 'number') set('scheduledEnqueueTime', scheduled);
  return out;
}

export interface EncodeOptions {
  /** Delivered on a receive link (not peeked): the header's delivery count excludes this delivery. */
  received: boolean;
  /** Add the lock annotation (peek-lock deliveries). */
  locked: boolean;
}

/** A broker message as Service Bus delivers it, with its broker annotations. */
export function toAmqpMessage(m: BrokerMessage, options: EncodeOptions): Message {
  const annotations: Record<string, unknown> = {
    [SEQUENCE_NUMBER]: types.wrap_long(m.sequenceNumber),
    [ENQUEUED_TIME]: m.enqueuedTime,
    [MESSAGE_STATE]: types.wrap_long(m.state === 'scheduled' ? 2 : 0),
  };
  if (options.locked && m.lockedUntil) annotations[LOCKED_UNTIL] = m.lockedUntil;
  if (m.scheduledEnqueueTime) annotations[SCHEDULED_TIME] = m.scheduledEnqueueTime;
  if (m.partitionKey !== undefined) annotations[PARTITION_KEY] = m.partitionKey;
  const props: Record<string, unknown> = { ...m.applicationProperties };
  if (m.state === 'deadLettered') {
    if (m.deadLetterReason !== undefined) props.DeadLetterReason = m.deadLetterReason;
    if (m.deadLetterErrorDescription !== undefined)
      props.DeadLetterErrorDescription = m.deadLetterErrorDescription;
  }
  const out: Message = {
    body: amqp.data_section(m.body) as unknown,
    message_id: m.messageId,
    // The wire count is the number of earlier deliveries; the SDK shows it as it is.
    delivery_count: Math.max(0, options.received ? m.deliveryCount - 1 : m.deliveryCount),
    message_annotations: annotations,
    application_properties: props,
  };
  if (m.timeToLiveMs !== undefined) out.ttl = Math.min(m.timeToLiveMs, MAX_UINT);
  if (m.expiresAt) out.absolute_expiry_time = m.expiresAt;
  if (m.contentType !== undefined) out.content_type = m.contentType;
  if (m.correlationId !== undefined) out.correlation_id = m.correlationId;
  if (m.sessionId !== undefined) out.group_id = m.sessionId;
  if (m.replyToSessionId !== undefined) out.reply_to_group_id = m.replyToSessionId;
  if (m.replyTo !== undefined) out.reply_to = m.replyTo;
  if (m.to !== undefined) out.to = m.to;
  if (m.subject !== undefined) out.subject = m.subject;
  return out;
}

export function encodeMessage(m: Message): Buffer {
  return amqp.encode(m);
}

export function decodeMessage(b: Buffer): Message {
  return amqp.decode(b) as unknown as Message;
}

/** The delivery tag for a lock token: the GUID in .NET byte order, as Service Bus sends it. */
export function lockTokenToTag(lockToken: string): Buffer {
  return dotNetOrder(uuidBytes(lockToken));
}

export function tagToLockToken(tag: Buffer | string): string {
  return uuidText(dotNetOrder(typeof tag === 'string' ? Buffer.from(tag) : Buffer.from(tag)));
}

/** A lock token of a management request: a UUID (16 bytes, network order) or its text. */
export function lockTokenText(value: unknown): string {
  if (typeof value === 'string') return value.toLowerCase();
  if (Buffer.isBuffer(value) && value.length === 16) return uuidText(value);
  throw new ServiceBusError('InvalidOperation', 'A lock token must be a UUID.');
}

export function uuidText(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function uuidBytes(text: string): Buffer {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`'${text}' is not a UUID`);
  return Buffer.from(hex, 'hex');
}

function dotNetOrder(b: Buffer): Buffer {
  if (b.length !== 16) return b;
  return Buffer.from([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8)]);
}

/**
 * The bytes of a body. The SDK sends one data section; value and sequence bodies (from
 * AmqpAnnotatedMessage) are kept as text (a string value) or JSON, and come back as data.
 */
function bodyBytes(body: unknown): Buffer {
  if (body === undefined || body === null) return Buffer.alloc(0);
  const section = body as Partial<Section>;
  if (typeof section.typecode === 'number' && 'content' in section) {
    if (section.typecode === DATA) {
      return section.multiple
        ? Buffer.concat((section.content as Uint8Array[]).map((c) => Buffer.from(c)))
        : Buffer.from(section.content as Uint8Array);
    }
    return Buffer.from(JSON.stringify(section.content), 'utf8');
  }
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body);
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** A decoded AMQP value as text: absent stays absent, a UUID becomes its usual text form. */
export function textOf(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (Buffer.isBuffer(value)) return value.length === 16 ? uuidText(value) : value.toString('hex');
  return JSON.stringify(value);
}

/** Application properties the broker can keep as JSON: timestamps become epoch milliseconds (as the SDK shows them). */
function plainProperties(props: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) out[k] = v instanceof Date ? v.getTime() : v;
  return out;
}

const CONDITIONS: Record<ServiceBusError['code'], string> = {
  MessageLockLost: 'com.microsoft:message-lock-lost',
  MessagingEntityNotFound: 'amqp:not-found',
  MessagingEntityAlreadyExists: 'com.microsoft:entity-already-exists',
  InvalidOperation: 'amqp:not-allowed',
  InvalidEntityName: 'com.microsoft:argument-error',
};

/** An error condition with its AMQP status code, for dispositions, detaches and management replies. */
export class AmqpFailure extends Error {
  constructor(
    readonly condition: string,
    message: string,
    readonly status = 500,
  ) {
    super(message);
    this.name = 'AmqpFailure';
  }
}

export const notImplemented = (what: string): AmqpFailure =>
  new AmqpFailure('amqp:not-implemented', `${what} is not supported by the local host's AMQP endpoint.`, 501);

const STATUS: Record<string, number> = {
  'com.microsoft:message-lock-lost': 410,
  'amqp:not-found': 404,
  'com.microsoft:entity-already-exists': 409,
  'amqp:not-allowed': 400,
  'com.microsoft:argument-error': 400,
};

export function toAmqpError(err: unknown): AmqpError & { status: number } {
  if (err instanceof AmqpFailure) {
    return { condition: err.condition, description: err.message, status: err.status };
  }
  if (err instanceof ServiceBusError) {
    const condition = CONDITIONS[err.code];
    return { condition, description: err.message, status: STATUS[condition] ?? 400 };
  }
  const description = err instanceof Error ? err.message : String(err);
  return { condition: 'amqp:internal-error', description, status: 500 };
}
