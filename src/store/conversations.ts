/**
 * The ConversationStore port: the durable transcript of every conversation (docs/conversations.md).
 * The conversation actor (a durable entity per conversation, src/conversations) holds the working
 * memory and decides the order of turns; the turn activity writes each finished turn here, once, in that
 * order. Adapters: memory (tests, the reference), SQLite (the local host), Cosmos DB; all pass
 * test/unit/store-conversations.test.ts.
 *
 * - A conversation belongs to one agent. Its `epoch` changes when it is deleted and made again under the
 *   same id, so a turn still in flight for the old one can never land in the new one.
 * - `recordTurn` is idempotent by turn id, first write wins: an activity that runs again after a crash
 *   gets the turn as first written (and must answer with it), never a second copy.
 * - Message `seq` is 1, 2, 3, ... per epoch, without gaps: the order in which the actor ran the turns.
 */
import { randomBytes } from 'node:crypto';
import type { MemoryStrategy } from '../config';
import { ConflictError } from '../errors';
import type { TokenUsage } from '../llm/types';

/** Conversation ids are caller data that also name a durable entity: a conservative alphabet. */
export const CONVERSATION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export const MESSAGE_ROLES = ['user', 'assistant'] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];

export { MEMORY_STRATEGIES, type MemoryStrategy } from '../config';

export interface ConversationMessage {
  /** The message id (`message_id` on the wire). */
  id: string;
  /** 1, 2, 3, ... within the conversation (its epoch), without gaps. */
  seq: number;
  turnId: string;
  role: MessageRole;
  content: string;
  /** ISO 8601: when the turn was recorded. */
  at: string;
  /** Who sent it, for a message delivered by another agent or system (`POST /v1/agents/{id}/message`). */
  sender?: string;
}

export interface TurnError {
  /** A stable code (`LLM.RATE_LIMITED`, `AGENT.UNKNOWN`, ...). */
  code: string;
  /** The HTTP status the error maps to. */
  status: number;
  message: string;
}

/** A compaction of the working memory: messages up to `through` (a seq) left it, folded into `summary`. */
export interface MemoryCompaction {
  strategy: MemoryStrategy;
  /** The summary that now stands for every message up to `through` (`summarize` only). */
  summary?: string;
  through: number;
}

export type TurnStatus = 'completed' | 'failed';

export interface NewTurn {
  turnId: string;
  status: TurnStatus;
  /** The request's messages (the last one is the user's); none are stored for a failed turn. */
  input: { id: string; role: MessageRole; content: string }[];
  reply?: { id: string; content: string };
  usage?: TokenUsage;
  model?: string;
  /** The compaction made before this turn ran, if any; `through` names the seq it reached. */
  memory?: MemoryCompaction;
  error?: TurnError;
  sender?: string;
  deliveryId?: string;
}

export interface TurnRecord {
  turnId: string;
  status: TurnStatus;
  /** Ids of the messages the turn added, in order (the reply last); empty for a failed turn. */
  messageIds: string[];
  reply?: ConversationMessage;
  usage: TokenUsage;
  model?: string;
  memory?: MemoryCompaction;
  error?: TurnError;
  sender?: string;
  deliveryId?: string;
  at: string;
}

export interface ConversationRecord {
  id: string;
  agentId: string;
  /** Changes when the conversation is made again under the same id; ordered by creation time. */
  epoch: string;
  createdAt: string;
  updatedAt: string;
  /** The last turn recorded (or the creation): idle expiry keys off it. */
  lastActiveAt: string;
  /** Completed turns. */
  turns: number;
  failedTurns: number;
  /** Messages in the transcript (the last seq). */
  messages: number;
  /** Model usage of every turn (summaries included). */
  tokens: TokenUsage;
  /** The latest compaction of the working memory. */
  memory?: MemoryCompaction;
}

/** A message delivered to an agent's conversation by another agent or system. */
export interface Delivery {
  id: string;
  agentId: string;
  conversationId: string;
  /** The turn that carries the message into the conversation. */
  turnId: string;
  sender?: string;
  content: string;
  /** Set when the delivery was one of a broadcast. */
  broadcastId?: string;
  at: string;
}

export interface ConversationStore {
  /**
   * The conversation, made (for `agentId`, with a new epoch) when there is none. Atomic: of concurrent
   * opens of one new id, one makes it and all get the same record. ConflictError
   * CONVERSATION.AGENT_MISMATCH when it exists for another agent.
   */
  open(id: string, agentId: string): Promise<{ conversation: ConversationRecord; created: boolean }>;
  get(id: string): Promise<ConversationRecord | undefined>;
  /**
   * Records a finished turn of the conversation's epoch `epoch`: its messages get the next seqs, the
   * totals and lastActiveAt move on. Idempotent by turn id, first write wins (a repeat answers the stored
   * turn). undefined when the conversation is gone or has another epoch (nothing is written).
   */
  recordTurn(id: string, epoch: string, turn: NewTurn): Promise<TurnRecord | undefined>;
  getTurn(id: string, turnId: string): Promise<TurnRecord | undefined>;
  /** Messages with seq > afterSeq (default 0), in order; all unless `limit`. */
  listMessages(id: string, options?: { afterSeq?: number; limit?: number }): Promise<ConversationMessage[]>;
  /**
   * Deletes the conversation, its messages, turns and deliveries; answers what was deleted. With
   * `idleBefore` only if it has been idle since before then (checked atomically with the delete).
   */
  delete(id: string, options?: { idleBefore?: string }): Promise<ConversationRecord | undefined>;
  /** Conversations idle since before `before` (lastActiveAt < before), oldest first, at most `limit`. */
  listIdle(before: string, limit?: number): Promise<ConversationRecord[]>;
  /** Records a delivery; idempotent by id (a repeat answers the stored one). */
  recordDelivery(delivery: Delivery): Promise<Delivery>;
  /** An agent's deliveries, newest first. */
  listDeliveries(agentId: string, limit?: number): Promise<Delivery[]>;
  close?(): void;
}

export const DEFAULT_IDLE_LIMIT = 100;
export const DEFAULT_DELIVERY_LIMIT = 100;

/** A new epoch: the creation time first, so epochs sort by creation; a random tail tells apart equal times. */
export function newEpoch(now: Date = new Date()): string {
  return `${now.toISOString()}#${randomBytes(4).toString('hex')}`;
}

export const zeroUsage = (): TokenUsage => ({ prompt: 0, completion: 0, total: 0 });

export function addUsage(a: TokenUsage, b: TokenUsage | undefined): TokenUsage {
  return b
    ? { prompt: a.prompt + b.prompt, completion: a.completion + b.completion, total: a.total + b.total }
    : { ...a };
}

/** A new conversation record. */
export function newConversation(id: string, agentId: string, now: Date = new Date()): ConversationRecord {
  const at = now.toISOString();
  return {
    id,
    agentId,
    epoch: newEpoch(now),
    createdAt: at,
    updatedAt: at,
    lastActiveAt: at,
    turns: 0,
    failedTurns: 0,
    messages: 0,
    tokens: zeroUsage(),
  };
}

/**
 * What recording `turn` does to the conversation: the messages with their seqs, the stored turn, and
 * the conversation after it. Pure: every adapter applies it inside its own atomic write.
 */
export function applyTurn(
  conversation: ConversationRecord,
  turn: NewTurn,
  now: Date = new Date(),
): { messages: ConversationMessage[]; record: TurnRecord; conversation: ConversationRecord } {
  const at = now.toISOString();
  const messages: ConversationMessage[] = [];
  let seq = conversation.messages;
  const add = (id: string, role: MessageRole, content: string, sender?: string): ConversationMessage => {
    const m: ConversationMessage = { id, seq: ++seq, turnId: turn.turnId, role, content, at };
    if (sender !== undefined) m.sender = sender;
    messages.push(m);
    return m;
  };
  let reply: ConversationMessage | undefined;
  if (turn.status === 'completed') {
    for (const m of turn.input) add(m.id, m.role, m.content, m.role === 'user' ? turn.sender : undefined);
    if (turn.reply) reply = add(turn.reply.id, 'assistant', turn.reply.content);
  }
  const record: TurnRecord = {
    turnId: turn.turnId,
    status: turn.status,
    messageIds: messages.map((m) => m.id),
    usage: turn.usage ? { ...turn.usage } : zeroUsage(),
    at,
  };
  if (reply) record.reply = reply;
  if (turn.model !== undefined) record.model = turn.model;
  if (turn.memory) record.memory = { ...turn.memory };
  if (turn.error) record.error = { ...turn.error };
  if (turn.sender !== undefined) record.sender = turn.sender;
  if (turn.deliveryId !== undefined) record.deliveryId = turn.deliveryId;
  const next: ConversationRecord = {
    ...conversation,
    updatedAt: at,
    lastActiveAt: at,
    turns: conversation.turns + (turn.status === 'completed' ? 1 : 0),
    failedTurns: conversation.failedTurns + (turn.status === 'failed' ? 1 : 0),
    messages: seq,
    tokens: addUsage(conversation.tokens, turn.usage),
  };
  if (turn.memory && turn.status === 'completed') next.memory = { ...turn.memory };
  return { messages, record, conversation: next };
}

export const agentMismatch = (id: string, agentId: string, asked: string): ConflictError =>
  new ConflictError(
    'CONVERSATION.AGENT_MISMATCH',
    `Conversation '${id}' belongs to agent '${agentId}', not '${asked}': use another conversation_id.`,
  );
