/**
 * The durable function names of conversations, in one import-free module (functions/ registers them,
 * src/ calls them). Names follow the Functions rules: a letter, then letters, digits, `_` and `-`.
 */

/** The durable entity: one instance per (agent, conversation), key `<agent id>@<conversation id>`. */
export const CONVERSATION_ENTITY = 'conversation';
/** The orchestration started for every turn (instance id = turn id); the lease holder runs the queue. */
export const CONVERSATION_ORCHESTRATOR = 'conversation_turn';
/** The activity that runs one turn: memory compaction, the agent, the transcript. */
export const CONVERSATION_REPLY_ACTIVITY = 'conversation_reply';
/** The timer trigger that deletes idle conversations. */
export const CONVERSATION_EXPIRY_TIMER = 'conversationsExpire';

/** The entity key of a conversation. Agent ids are slugs (no `@`), so the key splits back unambiguously. */
export function entityKey(agentId: string, conversationId: string): string {
  return `${agentId}@${conversationId}`;
}

/** The event log (src/store/runs.ts EventLog) a streamed turn writes its deltas to. */
export function turnLogId(turnId: string): string {
  return `conversation-turn:${turnId}`;
}
