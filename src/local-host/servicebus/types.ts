/** The shapes of the embedded Service Bus broker, named after their Service Bus counterparts. */

/** A message to send (`ServiceBusMessage`). */
export interface SendMessage {
  body: Buffer | Uint8Array | string;
  contentType?: string;
  /** Generated (a UUID) when absent. */
  messageId?: string;
  correlationId?: string;
  sessionId?: string;
  replyTo?: string;
  replyToSessionId?: string;
  to?: string;
  subject?: string;
  partitionKey?: string;
  applicationProperties?: Record<string, unknown>;
  /** Falls back to the entity's default time to live; none means the message never expires. */
  timeToLiveMs?: number;
  /** The message is invisible to receivers (but visible to peek) until this time. */
  scheduledEnqueueTime?: Date | number;
}

export type MessageState = 'active' | 'scheduled' | 'deadLettered';

/** A stored message, as peek and receive return it (`ServiceBusReceivedMessage`). */
export interface BrokerMessage {
  /** The entity path it lives in: `queue` or `topic/Subscriptions/sub`. */
  entity: string;
  messageId: string;
  body: Buffer;
  contentType?: string;
  correlationId?: string;
  sessionId?: string;
  replyTo?: string;
  replyToSessionId?: string;
  to?: string;
  subject?: string;
  partitionKey?: string;
  applicationProperties: Record<string, unknown>;
  sequenceNumber: number;
  /** When it became (or becomes, for scheduled messages) available to receivers. */
  enqueuedTime: Date;
  timeToLiveMs?: number;
  expiresAt?: Date;
  scheduledEnqueueTime?: Date;
  deliveryCount: number;
  state: MessageState;
  /** Set while a receiver holds the message (peek-lock). */
  lockToken?: string;
  lockedUntil?: Date;
  deadLetterReason?: string;
  deadLetterErrorDescription?: string;
}

export type EntityKind = 'queue' | 'topic' | 'subscription';

export interface EntityProperties {
  /** Deliveries before a message is dead-lettered with reason `MaxDeliveryCountExceeded`. */
  maxDeliveryCount: number;
  lockDurationMs: number;
  defaultTimeToLiveMs?: number;
  /** Expired messages go to the dead-letter queue (reason `TTLExpiredException`) instead of being dropped. */
  deadLetteringOnMessageExpiration: boolean;
}

export interface EntityInfo extends EntityProperties {
  path: string;
  kind: EntityKind;
  /** For subscriptions: their topic. */
  topic?: string;
}

export interface EntityCounts {
  path: string;
  kind: EntityKind;
  /** Available to receivers now. */
  active: number;
  /** Scheduled for later. */
  scheduled: number;
  /** Held by a receiver (peek-lock). */
  locked: number;
  deadLettered: number;
}

export interface ReceiveOptions {
  /**
   * Session mode: only the head of sessions that have no locked message is received, and a batch
   * holds messages of one session only, so each session is processed one message at a time, in order.
   */
  sessions?: boolean;
}

export type ServiceBusErrorCode =
  | 'MessageLockLost'
  | 'MessagingEntityNotFound'
  | 'MessagingEntityAlreadyExists'
  | 'InvalidOperation'
  | 'InvalidEntityName';

/** Errors carry the Service Bus error code the SDK would report (`ServiceBusError.code`). */
export class ServiceBusError extends Error {
  constructor(
    readonly code: ServiceBusErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceBusError';
  }
}

export const DEAD_LETTER_SUFFIX = '/$DeadLetterQueue';
