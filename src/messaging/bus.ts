/**
 * The app's own Service Bus client, for what bindings cannot do in Node: messages with properties
 * (message id, correlation id, session id) to a queue or topic chosen at run time (results honour
 * `replyTo`), and settling a trigger's message by its lock token (a job is dead-lettered with a reason).
 *
 * Settings follow the Functions convention for the `ServiceBusConnection` connection: a connection
 * string in `ServiceBusConnection` (locally: the embedded host's AMQP endpoint), or on Azure the
 * namespace in `ServiceBusConnection__fullyQualifiedNamespace`, signed in with the managed identity.
 */
import { DefaultAzureCredential } from '@azure/identity';
import {
  ServiceBusClient,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
  type ServiceBusSender,
} from '@azure/service-bus';
import type { Config } from '../config';

export interface OutgoingMessage {
  body: unknown;
  messageId?: string;
  correlationId?: string;
  sessionId?: string;
  subject?: string;
  contentType?: string;
  applicationProperties?: Record<string, string | number | boolean>;
}

export type Settlement =
  { kind: 'complete' } | { kind: 'deadLetter'; reason: string; description: string } | { kind: 'abandon' };

/** What the app needs from Service Bus beyond its triggers. */
export interface MessageBus {
  send(entity: string, message: OutgoingMessage): Promise<void>;
  /** Settles a message received by a trigger (autoCompleteMessages off) through its lock token. */
  settle(entity: string, lockToken: string, settlement: Settlement): Promise<void>;
  close(): Promise<void>;
}

/** The client the settings describe; undefined when neither setting is present. */
export function createServiceBusClient(settings: Config['serviceBus']): ServiceBusClient | undefined {
  if (settings.connectionString) return new ServiceBusClient(settings.connectionString);
  if (settings.fullyQualifiedNamespace) {
    return new ServiceBusClient(
      settings.fullyQualifiedNamespace,
      new DefaultAzureCredential(
        settings.clientId ? { managedIdentityClientId: settings.clientId } : undefined,
      ),
    );
  }
  return undefined;
}

/** A MessageBus over the SDK client: one sender and one (link-less) settling receiver per entity. */
export class ServiceBusMessageBus implements MessageBus {
  private readonly senders = new Map<string, ServiceBusSender>();
  private readonly receivers = new Map<string, ServiceBusReceiver>();

  constructor(private readonly client: ServiceBusClient) {}

  async send(entity: string, message: OutgoingMessage): Promise<void> {
    let sender = this.senders.get(entity);
    if (!sender) {
      sender = this.client.createSender(entity);
      this.senders.set(entity, sender);
    }
    await sender.sendMessages({ contentType: 'application/json', ...message });
  }

  async settle(entity: string, lockToken: string, settlement: Settlement): Promise<void> {
    let receiver = this.receivers.get(entity);
    if (!receiver) {
      receiver = this.client.createReceiver(entity);
      this.receivers.set(entity, receiver);
    }
    // A message this client did not receive: the SDK settles it by lock token over the management
    // link, as it does for deferred messages or when a receive link has gone.
    const message = { lockToken, delivery: {}, body: undefined } as unknown as ServiceBusReceivedMessage;
    if (settlement.kind === 'complete') await receiver.completeMessage(message);
    else if (settlement.kind === 'abandon') await receiver.abandonMessage(message);
    else {
      await receiver.deadLetterMessage(message, {
        deadLetterReason: settlement.reason,
        deadLetterErrorDescription: settlement.description,
      });
    }
  }

  async close(): Promise<void> {
    const links = [...this.senders.values(), ...this.receivers.values()];
    this.senders.clear();
    this.receivers.clear();
    await Promise.allSettled(links.map((l) => l.close()));
    await this.client.close();
  }
}

/** The app's MessageBus, or undefined when no Service Bus connection is configured. */
export function createMessageBus(settings: Config['serviceBus']): MessageBus | undefined {
  const client = createServiceBusClient(settings);
  return client && new ServiceBusMessageBus(client);
}
