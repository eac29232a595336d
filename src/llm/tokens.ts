/**
 * Token counting with a real tokenizer (o200k_base, the GPT-4o family's encoding) and the context
 * windows of known models. Counts for other models' tokenizers are estimates of the same order.
 */
import { countTokens as count } from 'gpt-tokenizer'; // default encoding: o200k_base
import type { ChatMessage } from './types';

/** Tokens a chat message costs beyond its content (role and separators), as OpenAI documents. */
export const TOKENS_PER_MESSAGE = 3;
/** Tokens that prime the assistant's reply. */
export const REPLY_PRIMING_TOKENS = 3;

/** Counts of recent texts: system prompts and answers repeat across calls, and BPE is the costly part. */
const memo = new Map<string, number>();
const MEMO_ENTRIES = 2000;
const MEMO_MAX_CHARS = 64_000;

export function countTextTokens(text: string): number {
  if (!text) return 0;
  if (text.length > MEMO_MAX_CHARS) return count(text);
  const known = memo.get(text);
  if (known !== undefined) return known;
  const n = count(text);
  if (memo.size >= MEMO_ENTRIES) memo.delete(memo.keys().next().value!);
  memo.set(text, n);
  return n;
}

export function countMessageTokens(messages: ChatMessage[]): number {
  let total = REPLY_PRIMING_TOKENS;
  for (const m of messages) total += TOKENS_PER_MESSAGE + countTextTokens(m.content) + 1;
  return total;
}

const KNOWN_WINDOWS: [RegExp, number][] = [
  [/^offline/, 128_000],
  [/^gpt-4\.1/, 1_047_576],
  [/^gpt-4o/, 128_000],
  [/^gpt-4-turbo/, 128_000],
  [/^gpt-4-32k/, 32_768],
  [/^gpt-4/, 8_192],
  [/^gpt-35-turbo|^gpt-3\.5-turbo/, 16_385],
  [/^o[134]/, 200_000],
  [/^gpt-5/, 400_000],
];

/** The context window of a model: from settings first, then the known table, else 8,192. */
export function contextWindow(model: string, overrides: Record<string, number> = {}): number {
  const exact = overrides[model];
  if (exact) return exact;
  const lower = model.toLowerCase();
  return KNOWN_WINDOWS.find(([re]) => re.test(lower))?.[1] ?? 8_192;
}
