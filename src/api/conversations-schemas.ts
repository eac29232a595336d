/**
 * The HTTP contract of conversations and agent messaging (schemas.ts adds them to NAMED_SCHEMAS): the
 * seed's shapes (`{messages: [{role, content}], conversation_id?}` → `{messages: [{role, content,
 * message_id}], status, conversation_id}`), snake_case on the wire.
 */
import { z } from 'zod';
import { CONVERSATION_ID_PATTERN, MEMORY_STRATEGIES, MESSAGE_ROLES } from '../store/conversations';

export const MESSAGE_MAX = 32_000;
export const MESSAGES_MAX = 100;

const conversationId = z
  .string('must be a string')
  .regex(
    CONVERSATION_ID_PATTERN,
    'must be 1-128 characters: a letter or digit, then letters, digits, `.`, `_`, `:` or `-`',
  )
  .meta({ description: 'The conversation to continue (made when new).', example: 'support-42' });

const tokens = z
  .object({ prompt: z.number().int(), completion: z.number().int(), total: z.number().int() })
  .meta({ description: 'Token consumption.' });

export const conversationRunRequestSchema = z
  .object({
    messages: z
      .array(
        z.object({
          role: z.enum(MESSAGE_ROLES, `must be one of: ${MESSAGE_ROLES.join(', ')}`),
          content: z
            .string('must be a string')
            .min(1, 'must not be empty')
            .max(MESSAGE_MAX, `must be at most ${MESSAGE_MAX} characters`),
        }),
        'must be a list of messages',
      )
      .min(1, 'must hold at least one message')
      .max(MESSAGES_MAX, `must hold at most ${MESSAGES_MAX} messages`)
      .refine((ms) => ms.length === 0 || ms[ms.length - 1]!.role === 'user', {
        message: 'the last message must be the user\u2019s: it is what the agent answers',
      })
      .meta({ description: 'The new messages of this turn, oldest first; the last one is the user\u2019s.' }),
    conversation_id: conversationId.optional(),
    agent_name: z
      .string()
      .optional()
      .meta({ description: 'Accepted for the seed clients; must name the agent of the path when sent.' }),
  })
  .meta({
    description: 'A turn of a conversation with an agent (the seed\u2019s AgentRunRequest).',
    example: {
      messages: [{ role: 'user', content: 'Hello! How are you?' }],
      conversation_id: 'test-conversation',
    },
  });
export type ConversationRunRequest = z.infer<typeof conversationRunRequestSchema>;

export const runMessageSchema = z.object({
  role: z.enum(MESSAGE_ROLES),
  content: z.string(),
  message_id: z.string(),
});

export const conversationRunResponseSchema = z
  .object({
    messages: z.array(runMessageSchema).meta({ description: 'The reply (empty while pending).' }),
    status: z.enum(['completed', 'pending']).meta({
      description:
        '`pending`: the turn is queued or running past the wait; the reply will show in the conversation.',
    }),
    conversation_id: z.string(),
    turn_id: z.string(),
    usage: tokens.optional(),
  })
  .meta({
    description: 'The agent\u2019s reply to the turn (the seed\u2019s AgentRunResponse).',
    example: {
      messages: [{ role: 'assistant', content: 'Hello! How are you?', message_id: '0b7c…' }],
      status: 'completed',
      conversation_id: 'test-conversation',
      turn_id: '5f0e…',
    },
  });

export const conversationSchema = z
  .object({
    conversation_id: z.string(),
    agent: z.string().meta({ description: 'The agent id' }),
    created_at: z.string().meta({ format: 'date-time' }),
    updated_at: z.string().meta({ format: 'date-time' }),
    last_active_at: z.string().meta({ format: 'date-time' }),
    expires_at: z
      .string()
      .optional()
      .meta({ format: 'date-time', description: 'When it expires if it stays idle (none without a TTL)' }),
    turns: z.number().int(),
    failed_turns: z.number().int(),
    tokens: tokens.meta({ description: 'Model usage of every turn, summaries included' }),
    memory: z.object({
      strategy: z.enum(MEMORY_STRATEGIES).optional(),
      summary: z
        .string()
        .optional()
        .meta({ description: 'What stands for the older turns in the agent\u2019s memory' }),
      summarized_through: z
        .number()
        .int()
        .meta({ description: 'Messages up to this seq left the working memory (0: none)' }),
    }),
    messages: z.array(
      z.object({
        message_id: z.string(),
        seq: z.number().int(),
        role: z.enum(MESSAGE_ROLES),
        content: z.string(),
        turn_id: z.string(),
        created_at: z.string().meta({ format: 'date-time' }),
        sender: z
          .string()
          .optional()
          .meta({ description: 'For messages delivered by another agent or system' }),
      }),
    ),
  })
  .meta({ description: 'A conversation: its transcript, token totals and memory.' });

const payloadFields = {
  content: z
    .string('must be a string')
    .min(1, 'must not be empty')
    .max(MESSAGE_MAX, `must be at most ${MESSAGE_MAX} characters`)
    .optional()
    .meta({ description: 'The message text.' }),
  payload: z.unknown().optional().meta({
    description: 'The seed\u2019s form: any JSON, delivered as its JSON text (strings as they are).',
  }),
  sender: z
    .string('must be a string')
    .min(1, 'must not be empty')
    .max(128, 'must be at most 128 characters')
    .optional()
    .meta({ description: 'Who sends it (an agent id, a system)', example: 'planner' }),
};

const oneOfContentOrPayload = {
  message: 'send `content` or `payload`',
  path: ['content'],
};

export const agentMessageRequestSchema = z
  .object({ ...payloadFields, conversation_id: conversationId.optional() })
  .refine((b) => b.content !== undefined || b.payload !== undefined, oneOfContentOrPayload)
  .meta({
    description:
      'A message for an agent. It goes to the named conversation, else the agent\u2019s inbox conversation ' +
      '(`inbox-<agent id>`), as a user turn; the agent\u2019s reply shows in that conversation.',
    example: { content: 'The build is green: please write the release notes.', sender: 'builder' },
  });

export const broadcastRequestSchema = z
  .object({
    ...payloadFields,
    filter: z
      .object({
        capability: z.string().optional().meta({ example: 'documentation' }),
        role: z.string().optional(),
        agents: z.array(z.string()).optional().meta({ description: 'Agent ids or names' }),
        built_in: z.boolean().optional(),
      })
      .optional()
      .meta({ description: 'Which agents get it (every condition must hold); none: every agent.' }),
  })
  .refine((b) => b.content !== undefined || b.payload !== undefined, oneOfContentOrPayload)
  .meta({ description: 'A message for every agent the filter matches, each into its inbox conversation.' });

export const messageAcceptedSchema = z
  .object({
    message_id: z.string().meta({ description: 'The delivery id' }),
    status: z.literal('sent'),
    timestamp: z.string().meta({ format: 'date-time' }),
    agent: z.string(),
    conversation_id: z.string(),
    turn_id: z.string(),
    sender: z.string().optional(),
    broadcast_id: z.string().optional(),
  })
  .meta({ description: 'A recorded delivery (the seed\u2019s MessageResponse, with where it went).' });

export const broadcastAcceptedSchema = z
  .object({
    broadcast_id: z.string(),
    status: z.literal('sent'),
    timestamp: z.string().meta({ format: 'date-time' }),
    deliveries: z.array(messageAcceptedSchema),
  })
  .meta({ description: 'One delivery per matching agent (none when no agent matches).' });

export const messageListSchema = z
  .object({ items: z.array(messageAcceptedSchema) })
  .meta({ description: 'An agent\u2019s recorded deliveries, newest first.' });

export const CONVERSATION_SCHEMAS = {
  ConversationRunRequest: conversationRunRequestSchema,
  ConversationRunResponse: conversationRunResponseSchema,
  Conversation: conversationSchema,
  AgentMessageRequest: agentMessageRequestSchema,
  BroadcastRequest: broadcastRequestSchema,
  MessageAccepted: messageAcceptedSchema,
  BroadcastAccepted: broadcastAcceptedSchema,
  MessageList: messageListSchema,
} satisfies Record<string, z.ZodType>;
