/** The conversation and agent messaging routes of the route table (routes.ts spreads them into ROUTES). */
import type { RouteSpec } from './routes';

const NAME = { name: 'Agent id or name (case-insensitive), e.g. `echo`' };
const CONVERSATION = { id: 'Conversation id' };
const MODEL_PROBLEMS = [422, 429, 500, 502, 503, 504];

export const CONVERSATION_ROUTES = {
  runConversation: {
    name: 'runConversation',
    method: 'POST',
    route: 'agents/{name}/run',
    summary: 'Run a turn of a conversation with an agent',
    description:
      'One durable actor per (agent, conversation) runs its turns strictly one at a time, in order, even ' +
      'under concurrent requests; the agent sees the conversation so far (older turns summarized or ' +
      'trimmed when the memory outgrows its budget). Without `conversation_id` a new conversation is made ' +
      'and its id returned. Waits for the reply up to CONVERSATION_TURN_TIMEOUT_MS, then answers 202 ' +
      '`pending` (the reply will show in GET /api/conversations/{id}).',
    tag: 'conversations',
    params: NAME,
    request: { schema: 'ConversationRunRequest', required: true },
    responses: {
      200: { description: 'The reply', schema: 'ConversationRunResponse' },
      202: {
        description: 'Still queued or running: the reply will show in the conversation',
        schema: 'ConversationRunResponse',
        headers: { location: 'The URL of the conversation' },
      },
    },
    problems: [400, 404, 409, ...MODEL_PROBLEMS],
  },
  streamConversation: {
    name: 'streamConversation',
    method: 'POST',
    route: 'agents/{name}/run/stream',
    summary: 'Run a turn of a conversation, streaming the reply (SSE)',
    description:
      'The same turn as POST /api/agents/{name}/run, as Server-Sent Events with an `id:` each: `event: ' +
      'turn` first (`{conversation_id, turn_id}`), `delta` events (`{delta}`) while the agent writes, then ' +
      'one `result` (the ConversationRunResponse) or `error` (a Problem). Heartbeat comments keep the ' +
      'connection open while the turn waits its turn. Bad requests and unknown agents are answered ' +
      'with their status and problem+json before the stream starts.',
    tag: 'conversations',
    params: NAME,
    request: { schema: 'ConversationRunRequest', required: true },
    responses: { 200: { description: 'An event stream', contentType: 'text/event-stream' } },
    problems: [400, 404, 409, 500],
  },
  getConversation: {
    name: 'getConversation',
    method: 'GET',
    route: 'conversations/{id}',
    summary: 'Read a conversation: transcript, token totals, memory',
    tag: 'conversations',
    params: CONVERSATION,
    responses: { 200: { description: 'The conversation', schema: 'Conversation' } },
    problems: [404, 500],
  },
  deleteConversation: {
    name: 'deleteConversation',
    method: 'DELETE',
    route: 'conversations/{id}',
    summary: 'Delete a conversation: its transcript and its actor (memory and queue)',
    description: 'Turns still queued are dropped; their requests answer 409 CONVERSATION.DELETED.',
    tag: 'conversations',
    params: CONVERSATION,
    responses: { 204: { description: 'Deleted' } },
    problems: [404, 500],
  },
  sendAgentMessage: {
    name: 'sendAgentMessage',
    method: 'POST',
    route: 'v1/agents/{id}/message',
    summary: 'Deliver a message to an agent',
    description:
      'Like a signal: the message is queued at the actor of the agent\u2019s conversation (the one named, ' +
      'else its inbox `inbox-<agent id>`) as a user turn, and this answers at once; the reply shows in the ' +
      'conversation. Every delivery is recorded (GET /api/v1/agents/{id}/messages).',
    tag: 'messaging',
    params: { id: 'Agent id or name' },
    request: { schema: 'AgentMessageRequest', required: true },
    responses: { 202: { description: 'Delivered', schema: 'MessageAccepted' } },
    problems: [400, 404, 409, 500],
  },
  listAgentMessages: {
    name: 'listAgentMessages',
    method: 'GET',
    route: 'v1/agents/{id}/messages',
    summary: 'The messages delivered to an agent, newest first',
    description: 'Query: limit (1-500, default 100).',
    tag: 'messaging',
    params: { id: 'Agent id or name' },
    responses: { 200: { description: 'Its deliveries', schema: 'MessageList' } },
    problems: [404, 500],
  },
  broadcastAgentMessage: {
    name: 'broadcastAgentMessage',
    method: 'POST',
    route: 'v1/agents/broadcast',
    summary: 'Deliver a message to every agent a filter matches',
    description: 'One delivery per matching agent, each into its inbox conversation, sharing a broadcast id.',
    tag: 'messaging',
    request: { schema: 'BroadcastRequest', required: true },
    responses: { 202: { description: 'Delivered', schema: 'BroadcastAccepted' } },
    problems: [400, 500],
  },
} satisfies Record<string, RouteSpec>;
