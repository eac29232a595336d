/**
 * The contracts between the parts of a conversation: the HTTP side that submits turns, the durable
 * entity (the actor: queue, lease and working memory), the turn orchestration and the reply activity.
 * Everything here crosses a durable boundary as JSON: plain data only.
 */
import type { TokenUsage } from '../llm/types';
import type { MemoryCompaction, MessageRole, TurnError } from '../store/conversations';

/** Which conversation, and which life of it (the store's epoch). */
export interface ConversationRef {
  agentId: string;
  conversationId: string;
  epoch: string;
}

export interface TurnMessage {
  id: string;
  role: MessageRole;
  content: string;
}

/** One request's messages, waiting for (or getting) the agent's reply. */
export interface Turn {
  /** Also the instance id of the orchestration that submitted it. */
  id: string;
  /** The request's messages, oldest first; the last one is the user's, the one the agent answers. */
  messages: TurnMessage[];
  /** The id the reply will have (fixed up front, so a repeated activity cannot mint another). */
  replyId: string;
  /** Stream the reply's deltas to the turn's event log (POST /agents/{name}/run/stream). */
  stream?: boolean;
  /** A message delivered by another agent or system: who sent it, and the delivery. */
  sender?: string;
  deliveryId?: string;
  /** ISO 8601: when the request arrived. */
  at: string;
}

/** A message of the working memory, with its seq in the transcript. */
export interface MemoryMessage extends TurnMessage {
  seq: number;
  turnId: string;
}

/** What the agent remembers: a summary of older turns and the recent messages, oldest first. */
export interface Memory {
  summary?: string;
  messages: MemoryMessage[];
}

/** A turn to run, as the actor hands it to the lease holder. */
export interface Work {
  ref: ConversationRef;
  turn: Turn;
  memory: Memory;
}

/** How a turn ended, as the reply activity reports it to the actor. */
export type Outcome =
  | {
      status: 'completed';
      /** The turn's messages as recorded (with their seqs), the reply last. */
      messages: MemoryMessage[];
      compaction?: MemoryCompaction;
      usage: TokenUsage;
    }
  | { status: 'failed'; error: TurnError }
  /** The conversation was deleted (or made again) while the turn waited: nothing was recorded. */
  | { status: 'gone' };

/** The reply activity's input: the work, or (after the activity failed for good) the failure to record. */
export interface ReplyInput extends Work {
  failure?: TurnError;
}

/** The turn orchestration's input: a new turn to submit, or the queue to go on with after continueAsNew. */
export type TurnOrchestrationInput =
  { kind: 'turn'; ref: ConversationRef; turn: Turn } | { kind: 'resume'; work: Work; processed: number };

export interface TurnOrchestrationOutput {
  turnId?: string;
  /** `lease`: this orchestration ran the queue; else its turn was queued for the holder (or refused). */
  role: 'lease' | 'queued' | 'duplicate' | 'stale';
  /** Turns this orchestration ran, over all its executions. */
  processed: number;
}
