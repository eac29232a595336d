/**
 * Conversation memory: when the working memory (summary + recent messages + the new turn) outgrows the
 * budget, the oldest whole turns leave it, so that the turns that stay (with the new one) take at most
 * KEEP_SHARE of the budget; with the `summarize` strategy they are folded into a summary written by the
 * agent's model (at most SUMMARY_SHARE of the budget), with `trim` they are dropped (the transcript in
 * the store keeps everything either way). What is left after a compaction is about half the budget, so
 * a conversation goes several turns before the next one. The plan is pure; the summary call goes through
 * the MemoryModel port.
 */
import type { AgentService } from '../agents/types';
import type { ModelResolver } from '../llm/factory';
import { contextWindow, countTextTokens, TOKENS_PER_MESSAGE } from '../llm/tokens';
import type { TokenUsage } from '../llm/types';
import type { MemoryStrategy } from '../store/conversations';
import type { Memory, MemoryMessage, TurnMessage } from './types';

/** The share of the budget the kept turns and the new one may take after a compaction. */
export const KEEP_SHARE = 0.4;
/** The share of the budget a summary may take. */
export const SUMMARY_SHARE = 0.15;
/** The smallest summary the model is asked for. */
export const MIN_SUMMARY_TOKENS = 32;

/** Tokens a message takes in a prompt (content, role and separators, as tokens.ts counts them). */
export function messageTokens(content: string): number {
  return TOKENS_PER_MESSAGE + countTextTokens(content) + 1;
}

/** Tokens of the memory plus the incoming messages. */
export function memoryTokens(memory: Memory, incoming: TurnMessage[] = []): number {
  let total = memory.summary === undefined ? 0 : messageTokens(memory.summary);
  for (const m of memory.messages) total += messageTokens(m.content);
  for (const m of incoming) total += messageTokens(m.content);
  return total;
}

export interface CompactionPlan {
  /** Messages leaving the working memory, oldest first (whole turns). */
  fold: MemoryMessage[];
  /** Messages that stay, oldest first. */
  keep: MemoryMessage[];
  /** The seq of the last folded message. */
  through: number;
  /** Tokens before the compaction (memory + incoming). */
  tokens: number;
}

/**
 * The compaction needed before a turn, or undefined when memory and turn fit the budget (exactly at
 * the budget still fits). Whole turns stay together: the newest turns are kept while they and the
 * incoming messages take at most KEEP_SHARE of the budget; everything older is folded. Undefined too when there
 * is nothing to fold (the incoming messages alone are over budget: the runner's window budget decides).
 */
export function planCompaction(
  memory: Memory,
  incoming: TurnMessage[],
  budget: number,
): CompactionPlan | undefined {
  const tokens = memoryTokens(memory, incoming);
  if (tokens <= budget) return undefined;
  const room = Math.floor(budget * KEEP_SHARE) - incoming.reduce((n, m) => n + messageTokens(m.content), 0);
  const turns: MemoryMessage[][] = [];
  for (const m of memory.messages) {
    const last = turns[turns.length - 1];
    if (last && last[0]!.turnId === m.turnId) last.push(m);
    else turns.push([m]);
  }
  let kept = 0;
  let from = turns.length;
  while (from > 0) {
    const size = turns[from - 1]!.reduce((n, m) => n + messageTokens(m.content), 0);
    if (kept + size > room) break;
    kept += size;
    from--;
  }
  const fold = turns.slice(0, from).flat();
  if (fold.length === 0) return undefined;
  return { fold, keep: turns.slice(from).flat(), through: fold[fold.length - 1]!.seq, tokens };
}

/** The most tokens a summary may take under `budget`. */
export const summaryTokens = (budget: number): number =>
  Math.max(MIN_SUMMARY_TOKENS, Math.floor(budget * SUMMARY_SHARE));

export const SUMMARY_PROMPT =
  'You maintain the memory of a conversation between a user and an assistant. Write a concise summary ' +
  'of the conversation so far: the facts, decisions, open questions and anything the assistant will need ' +
  'to answer well later. Write it in the third person, as plain prose, with nothing else.';

/** The transcript a summary is written from: the previous summary, then the folded messages. */
export function summaryInput(previous: string | undefined, messages: TurnMessage[]): string {
  const lines = messages.map((m) => `${m.role === 'user' ? 'User' : 'Assistant'}: ${m.content}`);
  return [
    ...(previous ? [`Summary so far:\n${previous}`, ''] : []),
    'Conversation to add to the summary:',
    ...lines,
  ].join('\n');
}

/** What memory needs of models: the budget of an agent's memory, and summaries in the agent's model. */
export interface MemoryModel {
  /** The memory budget of an agent, in tokens. */
  budget(agentId: string): Promise<number>;
  summarize(
    agentId: string,
    previous: string | undefined,
    messages: TurnMessage[],
    maxTokens: number,
  ): Promise<{ summary: string; usage: TokenUsage; model: string }>;
}

export interface MemorySettings {
  strategy: MemoryStrategy;
  /** The budget in tokens; 0: half the context window of the agent's model. */
  maxTokens: number;
}

export interface MemoryModelDeps {
  agents: Pick<AgentService, 'resolve'>;
  resolveModel: ModelResolver;
  settings: MemorySettings;
  /** Context windows by model name (LLM_CONTEXT_WINDOWS). */
  contextWindows?: Record<string, number>;
}

/** The MemoryModel over the agent catalog and the model resolver: the agent's own model summarizes. */
export function createMemoryModel(deps: MemoryModelDeps): MemoryModel {
  const modelOf = async (agentId: string) => {
    const def = await deps.agents.resolve(agentId);
    if (!def) throw new Error(`Agent '${agentId}' is gone: its conversation memory cannot be summarized.`);
    return deps.resolveModel(def);
  };
  return {
    async budget(agentId) {
      if (deps.settings.maxTokens > 0) return deps.settings.maxTokens;
      const { modelName } = await modelOf(agentId);
      return Math.floor(contextWindow(modelName, deps.contextWindows) / 2);
    },
    async summarize(agentId, previous, messages, maxTokens) {
      const { model, modelName } = await modelOf(agentId);
      const result = await model.complete({
        model: modelName,
        messages: [
          { role: 'system', content: SUMMARY_PROMPT },
          { role: 'user', content: summaryInput(previous, messages) },
        ],
        maxTokens,
        temperature: 0,
        agentRole: 'summarizer',
      });
      return { summary: result.content.trim(), usage: result.usage, model: result.model };
    },
  };
}
