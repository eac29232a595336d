/**
 * The conversation use cases behind the HTTP API and the expiry timer: submit a turn (open the
 * conversation in the store, start the turn orchestration), wait for its reply, read and delete
 * conversations, expire idle ones, and deliver messages from other agents (one agent, or every agent a
 * filter matches). The durable client is a port (ConversationEngine), so this is tested without a host.
 */
import { randomUUID } from 'node:crypto';
import type { AgentDefinition, AgentService } from '../agents/types';
import { NotFoundError } from '../errors';
import type {
  ConversationMessage,
  ConversationRecord,
  ConversationStore,
  Delivery,
  MessageRole,
  TurnRecord,
} from '../store/conversations';
import { entityKey } from './names';
import type { ConversationRef, Turn, TurnOrchestrationInput } from './types';

/** The durable client, as conversations use it. */
export interface ConversationEngine {
  /** Starts the turn's orchestration, with the turn id as its instance id. */
  startTurn(input: Extract<TurnOrchestrationInput, { kind: 'turn' }>): Promise<void>;
  /** Signals the conversation's entity (no answer). */
  signal(key: string, operation: 'delete', input: { epoch: string }): Promise<void>;
}

export interface ConversationServiceDeps {
  store: ConversationStore;
  agents: Pick<AgentService, 'resolve' | 'list'>;
  engine: ConversationEngine;
  ids?: () => string;
  now?: () => Date;
  /** The longest pause between two looks at the store while waiting for a reply. */
  maxPollMs?: number;
}

export interface TurnRequest {
  /** Agent id or name (case-insensitive). */
  agent: string;
  conversationId?: string;
  messages: { role: MessageRole; content: string }[];
  stream?: boolean;
  sender?: string;
  deliveryId?: string;
}

export interface Submitted {
  agent: AgentDefinition;
  conversation: ConversationRecord;
  turn: Turn;
}

export type TurnWait = { kind: 'done'; turn: TurnRecord } | { kind: 'pending' } | { kind: 'gone' };

export interface AgentFilter {
  /** Agents with this capability. */
  capability?: string;
  /** Agents with this role. */
  role?: string;
  /** Only these agents (ids or names). */
  agents?: string[];
  builtIn?: boolean;
}

export interface DeliveryRequest {
  content: string;
  sender?: string;
  conversationId?: string;
}

/** The conversation a message is delivered to when the sender names none: the agent's inbox. */
export const inboxOf = (agentId: string): string => `inbox-${agentId}`;

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export class ConversationService {
  private readonly ids: () => string;
  private readonly now: () => Date;

  constructor(private readonly deps: ConversationServiceDeps) {
    this.ids = deps.ids ?? randomUUID;
    this.now = deps.now ?? (() => new Date());
  }

  /** An agent's definition, or 404 AGENT.UNKNOWN. */
  async agent(name: string): Promise<AgentDefinition> {
    const def = await this.deps.agents.resolve(name);
    if (!def) throw new NotFoundError('AGENT.UNKNOWN', `Unknown agent '${name}'.`);
    return def;
  }

  /** Opens the conversation (made when new) and starts the turn's orchestration. */
  async submit(request: TurnRequest): Promise<Submitted> {
    const agent = await this.agent(request.agent);
    const { conversation } = await this.deps.store.open(request.conversationId ?? this.ids(), agent.id);
    const turn: Turn = {
      id: this.ids(),
      messages: request.messages.map((m) => ({ id: this.ids(), role: m.role, content: m.content })),
      replyId: this.ids(),
      at: this.now().toISOString(),
      ...(request.stream && { stream: true }),
      ...(request.sender !== undefined && { sender: request.sender }),
      ...(request.deliveryId !== undefined && { deliveryId: request.deliveryId }),
    };
    const ref: ConversationRef = {
      agentId: agent.id,
      conversationId: conversation.id,
      epoch: conversation.epoch,
    };
    await this.deps.engine.startTurn({ kind: 'turn', ref, turn });
    return { agent, conversation, turn };
  }

  /** Where the turn is now: recorded (`done`), `gone` with its conversation, or still `pending`. */
  async status(submitted: Submitted): Promise<TurnWait> {
    const { store } = this.deps;
    const turn = await store.getTurn(submitted.conversation.id, submitted.turn.id);
    if (turn) return { kind: 'done', turn };
    const conversation = await store.get(submitted.conversation.id);
    return conversation?.epoch === submitted.conversation.epoch ? { kind: 'pending' } : { kind: 'gone' };
  }

  /**
   * Waits for the turn's record: `done`, `gone` (the conversation was deleted or made again meanwhile)
   * or `pending` when `timeoutMs` passes (or `signal` aborts) first. Polls the store, quickly at first;
   * whether the conversation is still there is checked every tenth look.
   */
  async awaitTurn(submitted: Submitted, timeoutMs: number, signal?: AbortSignal): Promise<TurnWait> {
    const deadline = Date.now() + timeoutMs;
    let pause = 5;
    for (let look = 0; ; look++) {
      if (look % 10 === 9) {
        const now = await this.status(submitted);
        if (now.kind !== 'pending') return now;
      } else {
        const turn = await this.deps.store.getTurn(submitted.conversation.id, submitted.turn.id);
        if (turn) return { kind: 'done', turn };
      }
      if (Date.now() >= deadline || signal?.aborted) return this.status(submitted);
      await sleep(Math.min(pause, Math.max(0, deadline - Date.now())), signal);
      pause = Math.min(this.deps.maxPollMs ?? 100, Math.ceil(pause * 1.5));
    }
  }

  /** A conversation and its transcript; 404 CONVERSATION.NOT_FOUND. */
  async get(id: string): Promise<{ conversation: ConversationRecord; messages: ConversationMessage[] }> {
    const conversation = await this.deps.store.get(id);
    if (!conversation) throw notFound(id);
    const messages = (await this.deps.store.listMessages(id)).filter((m) => m.seq <= conversation.messages);
    return { conversation, messages };
  }

  /** Deletes the transcript and the actor (its memory and queue); 404 CONVERSATION.NOT_FOUND. */
  async delete(id: string): Promise<ConversationRecord> {
    const deleted = await this.deps.store.delete(id);
    if (!deleted) throw notFound(id);
    await this.purgeActor(deleted);
    return deleted;
  }

  private purgeActor(c: ConversationRecord): Promise<void> {
    return this.deps.engine.signal(entityKey(c.agentId, c.id), 'delete', { epoch: c.epoch });
  }

  /** Deletes conversations idle for `ttlSeconds` or longer; answers how many. 0 keeps them all. */
  async expireIdle(ttlSeconds: number, batch = 100): Promise<number> {
    if (ttlSeconds <= 0) return 0;
    const before = new Date(this.now().getTime() - ttlSeconds * 1000).toISOString();
    let expired = 0;
    for (;;) {
      const idle = await this.deps.store.listIdle(before, batch);
      let deleted = 0;
      for (const c of idle) {
        // Still idle when deleted: a turn recorded since the listing keeps the conversation.
        const gone = await this.deps.store.delete(c.id, { idleBefore: before });
        if (!gone) continue;
        await this.purgeActor(gone);
        deleted++;
      }
      expired += deleted;
      if (idle.length < batch || deleted === 0) return expired;
    }
  }

  /**
   * Delivers a message to an agent's conversation (its inbox unless one is named), like a signal: the
   * turn is queued at the actor and this answers without waiting for the reply. The delivery is recorded.
   */
  async deliver(agentName: string, request: DeliveryRequest, broadcastId?: string): Promise<Delivery> {
    const agent = await this.agent(agentName);
    const deliveryId = this.ids();
    const submitted = await this.submit({
      agent: agent.id,
      conversationId: request.conversationId ?? inboxOf(agent.id),
      messages: [{ role: 'user', content: request.content }],
      deliveryId,
      ...(request.sender !== undefined && { sender: request.sender }),
    });
    return this.deps.store.recordDelivery({
      id: deliveryId,
      agentId: agent.id,
      conversationId: submitted.conversation.id,
      turnId: submitted.turn.id,
      content: request.content,
      at: submitted.turn.at,
      ...(request.sender !== undefined && { sender: request.sender }),
      ...(broadcastId !== undefined && { broadcastId }),
    });
  }

  /** An agent's recorded deliveries, newest first. */
  deliveries(agentId: string, limit: number): Promise<Delivery[]> {
    return this.deps.store.listDeliveries(agentId, limit);
  }

  /** Every agent the filter matches (all of them for an empty filter), built-ins first. */
  async matching(filter: AgentFilter): Promise<AgentDefinition[]> {
    const named = filter.agents?.map((a) => a.trim().toLowerCase());
    return (await this.deps.agents.list()).filter(
      (a) =>
        (filter.capability === undefined || a.capabilities.includes(filter.capability)) &&
        (filter.role === undefined || a.role.toLowerCase() === filter.role.toLowerCase()) &&
        (filter.builtIn === undefined || a.builtIn === filter.builtIn) &&
        (named === undefined || named.includes(a.id) || named.includes(a.name.toLowerCase())),
    );
  }

  /** Delivers the message to the inbox of every agent the filter matches; one recorded delivery each. */
  async broadcast(
    filter: AgentFilter,
    request: Omit<DeliveryRequest, 'conversationId'>,
  ): Promise<{ broadcastId: string; deliveries: Delivery[] }> {
    const broadcastId = this.ids();
    const deliveries: Delivery[] = [];
    for (const agent of await this.matching(filter)) {
      deliveries.push(await this.deliver(agent.id, request, broadcastId));
    }
    return { broadcastId, deliveries };
  }
}

export const notFound = (id: string): NotFoundError =>
  new NotFoundError('CONVERSATION.NOT_FOUND', `No conversation with id '${id}'.`);
