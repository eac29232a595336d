/**
 * Conversions between broker messages and what functions see, following the Functions host with the
 * Service Bus extension: the trigger value and `triggerMetadata` (the extension's binding data, turned
 * into RPC typed data the way the host does for the Node worker), output binding values → messages,
 * and message bodies as JSON for the admin API.
 */
import type { RpcTypedData } from '../worker/core';
import type { BrokerMessage, SendMessage } from './types';

/** What `ServiceBusReceivedMessage.ExpiresAt` is when a message never expires (DateTimeOffset.MaxValue). */
const NEVER = '9999-12-31T23:59:59.999Z';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Whether a body reaches the function as text. The host hands Node functions the body as a string
 * (which the library JSON-parses when it can) unless the binding asks for `dataType: 'binary'`; the
 * local host keeps explicitly binary content (a non-text content type, or bytes that are not UTF-8)
 * as bytes rather than garbling it.
 */
export function isTextBody(m: Pick<BrokerMessage, 'body' | 'contentType'>): boolean {
  const type = m.contentType?.toLowerCase();
  if (type && /^text\/|json|xml|javascript|x-www-form-urlencoded/.test(type)) return true;
  if (type) return false;
  try {
    utf8.decode(m.body);
    return true;
  } catch {
    return false;
  }
}

function wantsText(m: BrokerMessage, dataType: string | undefined): boolean {
  if (dataType === 'binary' || dataType === 'stream') return false;
  return dataType === 'string' || isTextBody(m);
}

export interface TriggerInput {
  trigger: RpcTypedData;
  triggerMetadata: Record<string, RpcTypedData>;
}

/** The trigger value and metadata for one message (cardinality one) or a batch (cardinality many). */
export function toTriggerInput(messages: BrokerMessage[], many: boolean, dataType?: string): TriggerInput {
  if (!many) {
    const m = messages[0]!;
    return {
      trigger: wantsText(m, dataType) ? { string: m.body.toString('utf8') } : { bytes: m.body },
      triggerMetadata: singleMetadata(m),
    };
  }
  const text = messages.every((m) => wantsText(m, dataType));
  return {
    trigger: text
      ? { collectionString: { string: messages.map((m) => m.body.toString('utf8')) } }
      : { collectionBytes: { bytes: messages.map((m) => m.body) } },
    triggerMetadata: batchMetadata(messages),
  };
}

/** The extension's binding data for one message (`ServiceBusTriggerBindingStrategy`), absent values left out. */
function singleMetadata(m: BrokerMessage): Record<string, RpcTypedData> {
  const enqueued = m.enqueuedTime.toISOString();
  const expires = m.expiresAt?.toISOString() ?? NEVER;
  const out: Record<string, RpcTypedData> = {
    DeliveryCount: { json: String(m.deliveryCount) },
    ExpiresAtUtc: { string: expires },
    ExpiresAt: { string: expires },
    EnqueuedTimeUtc: { string: enqueued },
    EnqueuedTime: { string: enqueued },
    MessageId: { string: m.messageId },
    SequenceNumber: { json: String(m.sequenceNumber) },
    ApplicationProperties: { json: JSON.stringify(m.applicationProperties) },
    UserProperties: { json: JSON.stringify(m.applicationProperties) },
  };
  const strings: [string, string | undefined][] = [
    ['LockToken', m.lockToken],
    ['ContentType', m.contentType],
    ['ReplyTo', m.replyTo],
    ['To', m.to],
    ['Subject', m.subject],
    ['Label', m.subject],
    ['CorrelationId', m.correlationId],
    ['SessionId', m.sessionId],
    ['ReplyToSessionId', m.replyToSessionId],
    ['PartitionKey', m.partitionKey],
  ];
  for (const [key, value] of strings) if (value !== undefined) out[key] = { string: value };
  return out;
}

/** The `...Array` binding data of a batch: string arrays as string collections, like the host sends them. */
function batchMetadata(messages: BrokerMessage[]): Record<string, RpcTypedData> {
  const strings = (pick: (m: BrokerMessage) => string | undefined): RpcTypedData => ({
    collectionString: { string: messages.map((m) => pick(m) ?? '') },
  });
  const json = (pick: (m: BrokerMessage) => unknown): RpcTypedData => ({
    json: JSON.stringify(messages.map(pick)),
  });
  const props = json((m) => m.applicationProperties);
  const expires = json((m) => m.expiresAt?.toISOString() ?? NEVER);
  const enqueued = json((m) => m.enqueuedTime.toISOString());
  return {
    DeliveryCountArray: json((m) => m.deliveryCount),
    LockTokenArray: strings((m) => m.lockToken),
    ExpiresAtUtcArray: expires,
    ExpiresAtArray: expires,
    EnqueuedTimeUtcArray: enqueued,
    EnqueuedTimeArray: enqueued,
    MessageIdArray: strings((m) => m.messageId),
    ContentTypeArray: strings((m) => m.contentType),
    ReplyToArray: strings((m) => m.replyTo),
    SequenceNumberArray: { collectionSint64: { sint64: messages.map((m) => m.sequenceNumber) } },
    ToArray: strings((m) => m.to),
    SubjectArray: strings((m) => m.subject),
    LabelArray: strings((m) => m.subject),
    CorrelationIdArray: strings((m) => m.correlationId),
    ApplicationPropertiesArray: props,
    UserPropertiesArray: props,
    SessionIdArray: strings((m) => m.sessionId),
    ReplyToSessionIdArray: strings((m) => m.replyToSessionId),
    PartitionKeyArray: strings((m) => m.partitionKey),
  };
}

/**
 * The messages an output binding value stands for: an array is several messages; objects (and
 * numbers, booleans) become JSON bodies with content type application/json, strings text, Buffers bytes.
 */
export function outputToMessages(data: RpcTypedData): SendMessage[] {
  if (typeof data.string === 'string') return [{ body: data.string, contentType: 'text/plain' }];
  if (data.bytes) return [{ body: Buffer.from(data.bytes), contentType: 'application/octet-stream' }];
  if (typeof data.int === 'number' || typeof data.double === 'number') {
    return [{ body: String(data.int ?? data.double), contentType: 'application/json' }];
  }
  if (typeof data.json === 'string') {
    const value = JSON.parse(data.json) as unknown;
    return Array.isArray(value) ? valuesToMessages(value) : valuesToMessages([value]);
  }
  return [];
}

/** Messages for plain values (null and undefined are skipped). */
export function valuesToMessages(values: unknown[]): SendMessage[] {
  const out: SendMessage[] = [];
  for (const v of values) {
    if (v === null || v === undefined) continue;
    if (typeof v === 'string') out.push({ body: v, contentType: 'text/plain' });
    else if (Buffer.isBuffer(v)) out.push({ body: v, contentType: 'application/octet-stream' });
    else if (isSerializedBuffer(v))
      out.push({ body: Buffer.from(v.data), contentType: 'application/octet-stream' });
    else out.push({ body: JSON.stringify(v), contentType: 'application/json' });
  }
  return out;
}

/** A Buffer that went through JSON.stringify (a Buffer inside an array output value). */
function isSerializedBuffer(v: unknown): v is { type: 'Buffer'; data: number[] } {
  const o = v as { type?: unknown; data?: unknown };
  return (
    typeof v === 'object' &&
    o.type === 'Buffer' &&
    Array.isArray(o.data) &&
    Object.keys(v as object).length === 2
  );
}

/** A message as the admin API shows it: the body as JSON or text when it is, base64 otherwise. */
export function messageToJson(m: BrokerMessage): Record<string, unknown> {
  const { body, ...rest } = m;
  let shown: unknown;
  let bodyEncoding: 'json' | 'text' | 'base64';
  if (isTextBody(m)) {
    shown = body.toString('utf8');
    bodyEncoding = 'text';
    if (!m.contentType || /json/i.test(m.contentType)) {
      try {
        shown = JSON.parse(shown as string);
        bodyEncoding = 'json';
      } catch {
        // plain text
      }
    }
  } else {
    shown = body.toString('base64');
    bodyEncoding = 'base64';
  }
  return { ...rest, body: shown, bodyEncoding };
}
