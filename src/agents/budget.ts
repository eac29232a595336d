/**
 * Context-window budgeting. What is kept, in order of priority: the system prompt(s) and the latest
 * input (never dropped), the context message, room for the requested reply, then history (newest
 * first). So history goes first, oldest turn first, to leave the reply its requested max tokens; after
 * that the reply is capped rather than the context dropped, and the context is dropped only when
 * even a minimal reply would not fit. A request the model would reject is never sent.
 */
import { LlmError } from '../llm/errors';
import { REPLY_PRIMING_TOKENS, contextWindow, countMessageTokens } from '../llm/tokens';
import type { ChatMessage } from '../llm/types';

export const MIN_COMPLETION_TOKENS = 64;

export interface BudgetInput {
  /** The agent's system prompt(s) (and any output-format instruction). */
  system: ChatMessage[];
  /** The `Project Context:` message, if any. */
  context?: ChatMessage;
  /** Earlier turns, oldest first. */
  history: ChatMessage[];
  /** The latest user input. */
  input: ChatMessage;
  /** Messages after the input that must stay too (a rejected reply and the request to fix it). */
  trailing?: ChatMessage[];
  /** Model (or deployment) name, for its context window. */
  model: string;
  /** Requested max completion tokens. */
  maxTokens: number;
  /** Context windows by model name, over the known table (settings: LLM_CONTEXT_WINDOWS). */
  contextWindows?: Record<string, number>;
  minCompletionTokens?: number;
}

export interface Budget {
  messages: ChatMessage[];
  /** Max completion tokens, capped to what the window leaves. */
  maxTokens: number;
  promptTokens: number;
  contextWindow: number;
  dropped: { history: number; context: boolean };
}

/** Tokens one message adds to a prompt (the reply priming is counted once per prompt). */
const cost = (m: ChatMessage): number => countMessageTokens([m]) - REPLY_PRIMING_TOKENS;
const sum = (ms: ChatMessage[]): number => ms.reduce((n, m) => n + cost(m), 0);
const fmt = (n: number): string => n.toLocaleString('en-US');

export function fitToWindow(input: BudgetInput): Budget {
  const window = contextWindow(input.model, input.contextWindows);
  const minReply = Math.min(input.minCompletionTokens ?? MIN_COMPLETION_TOKENS, input.maxTokens);
  const trailing = input.trailing ?? [];
  const essential = REPLY_PRIMING_TOKENS + sum(input.system) + cost(input.input) + sum(trailing);
  const contextCost = input.context ? cost(input.context) : 0;

  if (window - essential < minReply) {
    throw new LlmError(
      'LLM.CONTEXT_OVERFLOW',
      `The prompt does not fit the ${fmt(window)}-token context window of '${input.model}': the system ` +
        `prompt and the latest input alone take ${fmt(essential)} tokens, leaving ${fmt(window - essential)} ` +
        `for the reply (at least ${fmt(minReply)} needed, ${fmt(input.maxTokens)} requested). Shorten the ` +
        `input or the system prompt, or use a model with a larger context window.`,
    );
  }

  let context = input.context;
  if (context && window - essential - contextCost < minReply) context = undefined;
  const kept = essential + (context ? contextCost : 0);

  // Keep the newest turns that fit beside the full reply (none when even the context had to go).
  const history = context || !input.context ? [...input.history] : [];
  let historyCost = sum(history);
  while (history.length && kept + historyCost + input.maxTokens > window)
    historyCost -= cost(history.shift()!);

  const messages = [...input.system, ...(context ? [context] : []), ...history, input.input, ...trailing];
  const promptTokens = kept + historyCost;
  return {
    messages,
    maxTokens: Math.min(input.maxTokens, window - promptTokens),
    promptTokens,
    contextWindow: window,
    dropped: { history: input.history.length - history.length, context: !!input.context && !context },
  };
}
