/**
 * What a call cost, from its token usage and a price table in USD per 1M tokens: the defaults below
 * (list prices of common models; check them against your agreement) merged with LLM_PRICES, which
 * wins. Names match exactly, then by the longest known prefix, so dated versions such as
 * `gpt-4o-2024-08-06` price as `gpt-4o`. Unknown models (e.g. an Azure deployment with a custom
 * name and no LLM_PRICES entry) cost 0 with `priced: false`, never a guess.
 */
import type { Cost } from '../agents/types';
import type { TokenUsage } from './types';

export interface Price {
  /** USD per 1M input (prompt) tokens. */
  input: number;
  /** USD per 1M output (completion) tokens. */
  output: number;
}

export const DEFAULT_PRICES: Readonly<Record<string, Price>> = {
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4-turbo': { input: 10, output: 30 },
  'gpt-4': { input: 30, output: 60 },
  'gpt-35-turbo': { input: 0.5, output: 1.5 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
  o1: { input: 15, output: 60 },
  'o1-mini': { input: 1.1, output: 4.4 },
  o3: { input: 2, output: 8 },
  'o3-mini': { input: 1.1, output: 4.4 },
  'o4-mini': { input: 1.1, output: 4.4 },
  offline: { input: 0, output: 0 },
};

export type PricedCost = Cost & { priced: boolean };

const round6 = (n: number): number => Math.round(n * 1e6) / 1e6;

/**
 * The price of `model` in DEFAULT_PRICES merged with `prices` (settings win on the same name): the
 * exact name (case-insensitive), else the longest name it starts with (`<name>-…`); undefined if none.
 */
export function priceOf(model: string, prices: Record<string, Price> = {}): Price | undefined {
  const name = model.trim().toLowerCase();
  const merged = new Map<string, Price>();
  for (const [key, price] of [...Object.entries(DEFAULT_PRICES), ...Object.entries(prices)]) {
    merged.set(key.toLowerCase(), price);
  }
  const exact = merged.get(name);
  if (exact) return exact;
  let best: string | undefined;
  for (const key of merged.keys()) {
    const prefixes = name.startsWith(`${key}-`) || (key === 'offline' && name.startsWith(key));
    if (prefixes && (!best || key.length > best.length)) best = key;
  }
  return best === undefined ? undefined : merged.get(best);
}

export function costOf(model: string, usage: TokenUsage, prices: Record<string, Price> = {}): PricedCost {
  const price = priceOf(model, prices);
  if (!price) return { currency: 'USD', input: 0, output: 0, total: 0, priced: false };
  const input = round6((usage.prompt * price.input) / 1e6);
  const output = round6((usage.completion * price.output) / 1e6);
  return { currency: 'USD', input, output, total: round6(input + output), priced: true };
}
