/**
 * HTTP use cases of conversations: validate → ConversationService → the wire shape. A turn's reply is
 * awaited in the store (the reply activity records it). The streamed turn is in conversations-stream.ts,
 * messaging between agents in conversations-messaging.ts.
 */
import type { ConversationService, Submitted } from '../conversations/service';
import { AppError, ConflictError, ValidationError } from '../errors';
import type { ConversationMessage, ConversationRecord, TurnError, TurnRecord } from '../store/conversations';
import type { EventLog } from '../store/runs';
import { conversationRunRequestSchema } from './conversations-schemas';
import type { ApiResponse } from './http';
import { parseBody } from './validate';

export interface ConversationsApiDeps {
  service: ConversationService;
  /** Streamed turns' event logs. */
  events: EventLog;
  /** How long a run request waits for the reply before answering 202. */
  turnTimeoutMs: number;
  /** Idle expiry (0: none), to show when a conversation expires. */
  ttlSeconds: number;
  /** SSE heartbeat interval. */
  heartbeatMs: number;
}

export const conversationUrl = (id: string): string => `/api/conversations/${encodeURIComponent(id)}`;

/** The body and the agent of a run request; 400 for a bad body, 404 for an unknown agent. */
export async function validateRun(
  deps: ConversationsApiDeps,
  name: string,
  body: unknown,
): Promise<{
  agentId: string;
  conversationId?: string;
  messages: { role: 'user' | 'assistant'; content: string }[];
}> {
  const request = parseBody(conversationRunRequestSchema, body);
  const agent = await deps.service.agent(name);
  if (request.agent_name !== undefined) {
    const named = await deps.service.agent(request.agent_name).catch(() => undefined);
    if (named?.id !== agent.id) {
      throw new ValidationError([
        { path: 'agent_name', message: `names another agent than the path ('${agent.id}')` },
      ]);
    }
  }
  return { agentId: agent.id, conversationId: request.conversation_id, messages: request.messages };
}

/** The failure of a turn, as the error it stands for (problem+json with its status and code). */
const turnFailure = (error: TurnError | undefined): AppError =>
  new AppError(error?.code ?? 'INTERNAL', error?.message ?? 'The turn failed.', {
    status: error?.status ?? 500,
  });

export const deleted = (id: string): ConflictError =>
  new ConflictError('CONVERSATION.DELETED', `Conversation '${id}' was deleted while the turn waited.`);

/** The run response for a finished turn (a failed one throws its error). */
export function runResponse(submitted: Submitted, turn: TurnRecord): Record<string, unknown> {
  if (turn.status === 'failed' || !turn.reply) throw turnFailure(turn.error);
  return {
    messages: [{ role: 'assistant', content: turn.reply.content, message_id: turn.reply.id }],
    status: 'completed',
    conversation_id: submitted.conversation.id,
    turn_id: submitted.turn.id,
    usage: turn.usage,
  };
}

/** POST /api/agents/{name}/run */
export async function runConversation(
  deps: ConversationsApiDeps,
  name: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<ApiResponse> {
  const request = await validateRun(deps, name, body);
  const submitted = await deps.service.submit({ agent: request.agentId, ...request });
  const wait = await deps.service.awaitTurn(submitted, deps.turnTimeoutMs, signal);
  if (wait.kind === 'gone') throw deleted(submitted.conversation.id);
  if (wait.kind === 'pending') {
    return {
      status: 202,
      headers: { location: conversationUrl(submitted.conversation.id) },
      json: {
        messages: [],
        status: 'pending',
        conversation_id: submitted.conversation.id,
        turn_id: submitted.turn.id,
      },
    };
  }
  return { status: 200, json: runResponse(submitted, wait.turn) };
}

export function conversationView(
  conversation: ConversationRecord,
  messages: ConversationMessage[],
  ttlSeconds: number,
): Record<string, unknown> {
  const memory = conversation.memory;
  return {
    conversation_id: conversation.id,
    agent: conversation.agentId,
    created_at: conversation.createdAt,
    updated_at: conversation.updatedAt,
    last_active_at: conversation.lastActiveAt,
    ...(ttlSeconds > 0 && {
      expires_at: new Date(Date.parse(conversation.lastActiveAt) + ttlSeconds * 1000).toISOString(),
    }),
    turns: conversation.turns,
    failed_turns: conversation.failedTurns,
    tokens: conversation.tokens,
    memory: {
      ...(memory && { strategy: memory.strategy }),
      ...(memory?.summary !== undefined && { summary: memory.summary }),
      summarized_through: memory?.through ?? 0,
    },
    messages: messages.map((m) => ({
      message_id: m.id,
      seq: m.seq,
      role: m.role,
      content: m.content,
      turn_id: m.turnId,
      created_at: m.at,
      ...(m.sender !== undefined && { sender: m.sender }),
    })),
  };
}

/** GET /api/conversations/{id} */
export async function getConversation(deps: ConversationsApiDeps, id: string): Promise<ApiResponse> {
  const { conversation, messages } = await deps.service.get(id);
  return { status: 200, json: conversationView(conversation, messages, deps.ttlSeconds) };
}

/** DELETE /api/conversations/{id} */
export async function deleteConversation(deps: ConversationsApiDeps, id: string): Promise<ApiResponse> {
  await deps.service.delete(id);
  return { status: 204 };
}
