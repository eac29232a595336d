/**
 * Messaging between agents (the seed's POST /api/v1/agents/{id}/message and its broadcast): a message
 * becomes a user turn queued at the actor of the agent's conversation (its inbox unless one is named),
 * answered at once, and recorded as a delivery.
 */
import { ValidationError } from '../errors';
import type { Delivery } from '../store/conversations';
import { conversationUrl, type ConversationsApiDeps } from './conversations';
import { agentMessageRequestSchema, broadcastRequestSchema, MESSAGE_MAX } from './conversations-schemas';
import type { ApiResponse } from './http';
import { parseBody } from './validate';

/** A message's text: `content`, or the seed's `payload` as JSON text (a string as it is). */
function contentOf(body: { content?: string; payload?: unknown }): string {
  const text =
    body.content ?? (typeof body.payload === 'string' ? body.payload : JSON.stringify(body.payload ?? null));
  if (text.length > MESSAGE_MAX) {
    throw new ValidationError([
      { path: 'payload', message: `must be at most ${MESSAGE_MAX} characters as text` },
    ]);
  }
  if (text.trim() === '') throw new ValidationError([{ path: 'content', message: 'must not be empty' }]);
  return text;
}

export function deliveryView(d: Delivery): Record<string, unknown> {
  return {
    message_id: d.id,
    status: 'sent',
    timestamp: d.at,
    agent: d.agentId,
    conversation_id: d.conversationId,
    turn_id: d.turnId,
    ...(d.sender !== undefined && { sender: d.sender }),
    ...(d.broadcastId !== undefined && { broadcast_id: d.broadcastId }),
  };
}

/** POST /api/v1/agents/{id}/message */
export async function sendAgentMessage(
  deps: ConversationsApiDeps,
  agent: string,
  body: unknown,
): Promise<ApiResponse> {
  const request = parseBody(agentMessageRequestSchema, body);
  const delivery = await deps.service.deliver(agent, {
    content: contentOf(request),
    ...(request.sender !== undefined && { sender: request.sender }),
    ...(request.conversation_id !== undefined && { conversationId: request.conversation_id }),
  });
  return {
    status: 202,
    headers: { location: conversationUrl(delivery.conversationId) },
    json: deliveryView(delivery),
  };
}

/** POST /api/v1/agents/broadcast */
export async function broadcastAgentMessage(deps: ConversationsApiDeps, body: unknown): Promise<ApiResponse> {
  const request = parseBody(broadcastRequestSchema, body);
  const filter = request.filter ?? {};
  const { broadcastId, deliveries } = await deps.service.broadcast(
    {
      ...(filter.capability !== undefined && { capability: filter.capability }),
      ...(filter.role !== undefined && { role: filter.role }),
      ...(filter.agents !== undefined && { agents: filter.agents }),
      ...(filter.built_in !== undefined && { builtIn: filter.built_in }),
    },
    { content: contentOf(request), ...(request.sender !== undefined && { sender: request.sender }) },
  );
  return {
    status: 202,
    json: {
      broadcast_id: broadcastId,
      status: 'sent',
      timestamp: new Date().toISOString(),
      deliveries: deliveries.map(deliveryView),
    },
  };
}

/** GET /api/v1/agents/{id}/messages */
export async function listAgentMessages(
  deps: ConversationsApiDeps,
  agent: string,
  query: URLSearchParams,
): Promise<ApiResponse> {
  const def = await deps.service.agent(agent);
  const raw = query.get('limit');
  const limit = raw === null ? 100 : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
    throw new ValidationError([{ path: 'limit', message: 'must be an integer from 1 to 500' }]);
  }
  const items = await deps.service.deliveries(def.id, limit);
  return { status: 200, json: { items: items.map(deliveryView) } };
}
