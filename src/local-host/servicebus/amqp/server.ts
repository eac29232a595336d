/**
 * The local host's Service Bus AMQP 1.0 endpoint, on loopback only, in front of the embedded
 * broker: what the real @azure/service-bus SDK needs with
 * `Endpoint=sb://127.0.0.1:PORT;SharedAccessKeyName=local;SharedAccessKey=local;UseDevelopmentEmulator=true`
 * (plain TCP; SASL ANONYMOUS or PLAIN, any credentials). Send links take single messages and
 * batches into queues and topics; receive links deliver from queues, subscriptions and dead-letter
 * queues in peek-lock or receive-and-delete mode; `$cbs` and `<entity>/$management` answer requests.
 * It shares the broker with the host's triggers, so either side sees the other's messages.
 */
import type Database from 'better-sqlite3';
import type { AddressInfo, Server, Socket } from 'node:net';
import { create_container } from 'rhea';
import type { AmqpError, Connection, Container, EventContext, Message, Receiver, Sender } from 'rhea';
import type { HostLogger } from '../../log';
import type { ServiceBusBroker } from '../broker';
import { parsePath } from '../store';
import {
  AmqpFailure,
  MAX_MESSAGE_SIZE,
  messagesOf,
  notImplemented,
  textOf,
  toAmqpError,
  toSendMessage,
} from './codec';
import { Consumers, type Disposition } from './consumers';
import { CBS, ManagementNode, managementEntity, notFound, type Reply } from './management';
import { localAttach, remoteAttach } from './rhea-internals';

export interface AmqpEndpointOptions {
  broker: ServiceBusBroker;
  /** The host's database, which holds the broker's tables. */
  db: Database.Database;
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port: number;
  log: HostLogger;
}

/** The port is taken: the message names it and the flags that change it. */
export class AmqpPortInUseError extends Error {
  constructor(readonly port: number) {
    super(
      `The Service Bus AMQP port ${port} is in use: choose another with --amqp-port N (0 picks a free one), ` +
        'or turn the AMQP endpoint off with --no-amqp.',
    );
    this.name = 'AmqpPortInUseError';
  }
}

const HOST = '127.0.0.1';
const SESSION_FILTER = 'com.microsoft:session-filter';
const SHUTDOWN: AmqpError = {
  condition: 'amqp:connection:forced',
  description: 'The local host is shutting down.',
};
/** How long peers get to answer our close before their sockets are destroyed. */
const CLOSE_GRACE_MS = 250;

export class AmqpEndpoint {
  private readonly container: Container;
  private readonly consumers: Consumers;
  private readonly management: ManagementNode;
  private readonly connections = new Set<Connection>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: AmqpEndpointOptions) {
    this.consumers = new Consumers(options.broker, options.log);
    this.management = new ManagementNode(options.broker, options.db);
    this.container = create_container({
      id: 'local-host-servicebus',
      // Incoming messages are accepted (or rejected) once the broker took them.
      autoaccept: false,
      // An abandon (modified) and a release are told apart.
      treat_modified_as_released: false,
    });
    const mechanisms = this.container.sasl_server_mechanisms as {
      enable_anonymous(): void;
      enable_plain(check: () => boolean): void;
    };
    mechanisms.enable_anonymous();
    mechanisms.enable_plain(() => true);
    this.wire();
  }

  /** The bound port (after listen). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? this.options.port;
  }

  get connectionString(): string {
    return `Endpoint=sb://${HOST}:${this.port};SharedAccessKeyName=local;SharedAccessKey=local;UseDevelopmentEmulator=true`;
  }

  /** Open connections and receive links, for diagnostics and tests. */
  stats(): { connections: number; receivers: number } {
    return { connections: this.connections.size, receivers: this.consumers.size };
  }

  async listen(): Promise<void> {
    const server = this.container.listen({ port: this.options.port, host: HOST });
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EADDRINUSE' ? new AmqpPortInUseError(this.options.port) : err),
      );
    });
    server.on('error', (err) => this.options.log.warn(`Service Bus AMQP endpoint: ${err.message}`));
    this.server = server;
  }

  /** Closes every connection (amqp:connection:forced) and stops listening. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.consumers.close();
    for (const c of this.connections) {
      try {
        c.close(SHUTDOWN);
      } catch {
        // already gone
      }
    }
    const server = this.server;
    if (!server) return;
    const grace = setTimeout(() => this.sockets.forEach((s) => s.destroy()), CLOSE_GRACE_MS);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    clearTimeout(grace);
  }

  private wire(): void {
    const c = this.container;
    const debug = (what: string) => (ctx: EventContext) => {
      const err: unknown =
        ctx.sender?.error ?? ctx.receiver?.error ?? ctx.session?.error ?? ctx.connection.error;
      if (err) this.options.log.debug(`Service Bus AMQP ${what}: ${errorText(err)}`);
    };
    c.on('connection_open', (ctx: EventContext) => this.connections.add(ctx.connection));
    c.on('connection_close', (ctx: EventContext) => this.dropConnection(ctx.connection));
    c.on('disconnected', (ctx: EventContext) => this.dropConnection(ctx.connection));
    c.on('connection_error', debug('connection error'));
    c.on('session_error', debug('session error'));
    c.on('sender_error', debug('link error'));
    c.on('receiver_error', debug('link error'));
    c.on('error', (err: Error) => this.options.log.debug(`Service Bus AMQP: ${err.message}`));
    c.on('receiver_open', (ctx: EventContext) => this.onSendLink(ctx.receiver!));
    c.on('sender_open', (ctx: EventContext) => this.onReceiveLink(ctx.sender!));
    c.on('sender_close', (ctx: EventContext) => this.consumers.remove(ctx.sender!));
    c.on('message', (ctx: EventContext) => this.onMessage(ctx));
    c.on('sender_flow', (ctx: EventContext) => this.consumers.kick(ctx.sender!));
    c.on('sendable', (ctx: EventContext) => this.consumers.kick(ctx.sender!));
    for (const d of ['accepted', 'released', 'modified', 'rejected'] as Disposition[]) {
      c.on(d, (ctx: EventContext) => this.consumers.settle(ctx.delivery!, d));
    }
  }

  private dropConnection(connection: Connection): void {
    this.connections.delete(connection);
    this.consumers.removeAll((s) => s.connection === connection);
  }

  /** The peer's sender: into a queue or topic, or requests to `$cbs` / a management node. */
  private onSendLink(receiver: Receiver): void {
    const address = addressOf(remoteAttach(receiver).target?.address);
    try {
      if (!isRequestNode(address)) {
        const p = parsePath(address);
        if (p.deadLetter || p.subscription) {
          throw new AmqpFailure(
            'amqp:not-allowed',
            `Cannot send to '${address}': send to its queue or topic.`,
          );
        }
      }
      receiver.set_target({ address });
      localAttach(receiver).max_message_size = MAX_MESSAGE_SIZE;
    } catch (err) {
      receiver.close(linkError(err));
    }
  }

  /** The peer's receiver: from a queue, subscription or dead-letter queue, or replies of a request node. */
  private onReceiveLink(sender: Sender): void {
    const remote = remoteAttach(sender);
    const address = addressOf(remote.source?.address);
    const local = localAttach(sender);
    local.snd_settle_mode = remote.snd_settle_mode;
    local.rcv_settle_mode = remote.rcv_settle_mode;
    try {
      if (!isRequestNode(address)) this.checkReceivable(address, remote.source?.filter);
      sender.set_source({ address });
      if (!isRequestNode(address)) this.consumers.add(sender, address, remote.snd_settle_mode === 1);
    } catch (err) {
      sender.close(linkError(err));
    }
  }

  private checkReceivable(address: string, filter: Record<string, unknown> | null | undefined): void {
    if (filter && SESSION_FILTER in filter) throw notImplemented('Message sessions (session receivers)');
    const { broker } = this.options;
    const p = parsePath(address);
    const entity = broker.getEntity(p.entity);
    if (!entity) {
      // Queues come into being on first use (as when sending); subscriptions must exist.
      if (p.subscription) throw notFound(p.deadLetter ? p.entity + '/$DeadLetterQueue' : p.entity);
      broker.ensureQueue(p.entity);
    } else if (entity.kind === 'topic') {
      throw new AmqpFailure(
        'amqp:not-allowed',
        `Cannot receive from topic '${address}': receive from a subscription.`,
      );
    }
  }

  private onMessage(ctx: EventContext): void {
    const receiver = ctx.receiver!;
    const delivery = ctx.delivery!;
    const address = addressOf(remoteAttach(receiver).target?.address);
    if (isRequestNode(address)) {
      delivery.accept();
      const req = ctx.message!;
      this.reply(receiver, req, this.management.handle(address, req));
      return;
    }
    try {
      const messages = messagesOf(ctx.message!, delivery.format).map(toSendMessage);
      this.options.broker.send(address, messages);
      delivery.accept();
    } catch (err) {
      delivery.reject(linkError(err));
    }
  }

  /** Answers on the link the request's reply-to address names (the peer's receiver of the same node). */
  private reply(receiver: Receiver, req: Message, reply: Reply): void {
    const node = addressOf(remoteAttach(receiver).target?.address);
    const isOpen = (s: Sender) => s.is_open() && !s.is_closed();
    const out =
      receiver.connection.find_sender(
        (s: Sender) =>
          isOpen(s) && req.reply_to !== undefined && remoteAttach(s).target?.address === req.reply_to,
      ) ?? receiver.session.find_sender((s: Sender) => isOpen(s) && remoteAttach(s).source?.address === node);
    if (!out) {
      this.options.log.debug(`Service Bus AMQP: no link to reply to '${String(req.reply_to)}' on ${node}`);
      return;
    }
    out.send({ ...reply, correlation_id: req.message_id ?? req.correlation_id, body: reply.body });
  }
}

function isRequestNode(address: string): boolean {
  return address === CBS || managementEntity(address) !== undefined;
}

/** An entity address without a scheme and host (`amqps://ns.servicebus.windows.net/queue` → `queue`). */
function addressOf(address: string | undefined): string {
  return (address ?? '').replace(/^amqps?:\/\/[^/]+\//i, '');
}

function errorText(err: unknown): string {
  const e = err as { description?: unknown; message?: unknown };
  return textOf(e.description) ?? textOf(e.message) ?? 'unknown error';
}

function linkError(err: unknown): AmqpError {
  const { condition, description } = toAmqpError(err);
  return { condition, description };
}
