/**
 * The request/response nodes: `$cbs` (put-token: any token is accepted, as by the emulator) and
 * `<entity>/$management` (peek, schedule and cancel, renew-lock, update-disposition). CBS replies
 * carry `status-code`; management replies `statusCode`, with `errorCondition` on failures so the SDK
 * raises its usual error codes.
 */
import type Database from 'better-sqlite3';
import { types } from 'rhea';
import type { Message } from 'rhea';
import type { ServiceBusBroker } from '../broker';
import { parsePath } from '../store';
import { ServiceBusError } from '../types';
import type { SendMessage } from '../types';
import {
  AmqpFailure,
  decodeMessage,
  encodeMessage,
  lockTokenText,
  notImplemented,
  textOf,
  toAmqpError,
  toAmqpMessage,
  toSendMessage,
} from './codec';
import { ScheduledMessages } from './scheduled';

export interface Reply {
  application_properties: Record<string, unknown>;
  body?: unknown;
}

export const CBS = '$cbs';
const MANAGEMENT = '$management';
const LONG = 0x81;
const TIMESTAMP = 0x83;

/** The entity a `$management` address belongs to (`queue/$management` → `queue`), or undefined. */
export function managementEntity(address: string): string | undefined {
  if (address === MANAGEMENT) return '';
  return address.endsWith(`/${MANAGEMENT}`) ? address.slice(0, -MANAGEMENT.length - 1) : undefined;
}

export class ManagementNode {
  private readonly scheduled: ScheduledMessages;

  constructor(
    private readonly broker: ServiceBusBroker,
    db: Database.Database,
  ) {
    this.scheduled = new ScheduledMessages(broker, db);
  }

  /** The reply to a request sent to `address` (`$cbs` or a management node). */
  handle(address: string, req: Message): Reply {
    if (address === CBS) {
      // put-token: the local host does not check credentials.
      return { application_properties: { 'status-code': 202, 'status-description': 'Accepted' } };
    }
    const entity = managementEntity(address) ?? '';
    const operation = String(req.application_properties?.operation ?? '');
    try {
      if (entity === '')
        throw new AmqpFailure('amqp:not-found', `Unknown management node '${address}'.`, 404);
      const body = (req.body ?? {}) as Record<string, unknown>;
      const result = this.operate(entity, operation, body);
      return ok(result.status ?? 200, result.body);
    } catch (err) {
      const { condition, description, status } = toAmqpError(err);
      return {
        application_properties: {
          statusCode: status,
          statusDescription: description,
          errorCondition: condition,
        },
      };
    }
  }

  private operate(
    entity: string,
    operation: string,
    body: Record<string, unknown>,
  ): { status?: number; body?: unknown } {
    switch (operation) {
      case 'com.microsoft:peek-message':
        return this.peek(entity, body);
      case 'com.microsoft:schedule-message':
        return this.schedule(entity, body);
      case 'com.microsoft:cancel-scheduled-message': {
        this.scheduled.cancel(entity, list(body['sequence-numbers']).map(Number));
        return {};
      }
      case 'com.microsoft:renew-lock': {
        const until = list(body['lock-tokens']).map((t) => this.broker.renewLock(lockTokenText(t)).getTime());
        return { body: { expirations: types.wrap_array(until, TIMESTAMP, undefined) } };
      }
      case 'com.microsoft:update-disposition':
        this.updateDisposition(body);
        return {};
      case 'com.microsoft:receive-by-sequence-number':
        throw notImplemented('Receiving deferred messages');
      case 'com.microsoft:renew-session-lock':
      case 'com.microsoft:set-session-state':
      case 'com.microsoft:get-session-state':
      case 'com.microsoft:get-message-sessions':
        throw notImplemented('Message sessions');
      default:
        throw notImplemented(`The management operation '${operation}'`);
    }
  }

  private peek(entity: string, body: Record<string, unknown>): { status?: number; body?: unknown } {
    if (body['session-id'] !== undefined && body['session-id'] !== null)
      throw notImplemented('Message sessions');
    const p = parsePath(entity);
    if (!this.broker.getEntity(p.entity)) {
      // Queues come into being on first use, as with send and receive; subscriptions must exist.
      if (p.subscription) throw notFound(entity);
      this.broker.ensureQueue(p.entity);
    }
    const from = Number(body['from-sequence-number'] ?? 0);
    const count = Math.max(1, Number(body['message-count'] ?? 1));
    const found = this.broker.peek(entity, count, from);
    if (found.length === 0) return { status: 204 };
    const messages = found.map((m) => ({
      message: encodeMessage(toAmqpMessage(m, { received: false, locked: false })),
    }));
    return { body: { messages } };
  }

  private schedule(entity: string, body: Record<string, unknown>): { body: unknown } {
    const messages: SendMessage[] = list(body.messages).map((entry) => {
      const e = entry as { message?: unknown; 'message-id'?: unknown };
      if (!Buffer.isBuffer(e.message))
        throw new ServiceBusError('InvalidOperation', 'A scheduled message is missing.');
      const m = toSendMessage(decodeMessage(e.message));
      if (m.messageId === undefined && e['message-id'] !== undefined) m.messageId = textOf(e['message-id']);
      return m;
    });
    const sent = this.broker.send(entity, messages);
    const target = this.broker.getEntity(entity);
    if (target?.kind === 'topic') {
      for (const s of sent) this.scheduled.remember(target.path, s.sequenceNumber, s.messageId);
    }
    const seqs = sent.map((s) => s.sequenceNumber);
    return { body: { 'sequence-numbers': types.wrap_array(seqs, LONG, undefined) } };
  }

  private updateDisposition(body: Record<string, unknown>): void {
    const status = textOf(body['disposition-status']) ?? '';
    const changes = body['properties-to-modify'] as Record<string, unknown> | undefined | null;
    for (const t of list(body['lock-tokens'])) {
      const token = lockTokenText(t);
      if (status === 'completed') this.broker.complete(token);
      else if (status === 'abandoned')
        this.broker.abandon(token, changes ? { propertiesToModify: changes } : {});
      else if (status === 'suspended') {
        this.broker.deadLetter(
          token,
          textOf(body['deadletter-reason']),
          textOf(body['deadletter-description']),
          changes ?? undefined,
        );
      } else if (status === 'defered') throw notImplemented('Deferring messages');
      else throw new ServiceBusError('InvalidOperation', `Unknown disposition status '${status}'.`);
    }
  }
}

function ok(status: number, body?: unknown): Reply {
  return {
    application_properties: { statusCode: status, statusDescription: status === 204 ? 'No Content' : 'OK' },
    ...(body !== undefined ? { body } : {}),
  };
}

export function notFound(entity: string): AmqpFailure {
  return new AmqpFailure('amqp:not-found', `The messaging entity '${entity}' could not be found.`, 404);
}

function list(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? (value as unknown[]) : [value];
}
