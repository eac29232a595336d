/** Cost from usage and prices per 1M tokens: defaults, settings, prefixes, unknown models. */
import { costOf, DEFAULT_PRICES, priceOf } from '../../src/llm/cost';

const usage = (prompt: number, completion: number) => ({ prompt, completion, total: prompt + completion });

it('prices per 1M tokens, input and output apart', () => {
  expect(costOf('gpt-4o', usage(1_000_000, 1_000_000))).toEqual({
    currency: 'USD',
    input: 2.5,
    output: 10,
    total: 12.5,
    priced: true,
  });
  expect(costOf('gpt-4o-mini', usage(2_000, 500))).toEqual({
    currency: 'USD',
    input: 0.0003,
    output: 0.0003,
    total: 0.0006,
    priced: true,
  });
});

it('rounds to 6 decimals', () => {
  const c = costOf('gpt-4o-mini', usage(1_234, 0)); // 0.0001851
  expect(c.input).toBe(0.000185);
  expect(c.total).toBe(0.000185);
  expect(costOf('gpt-4.1', usage(1, 1)).total).toBe(0.00001);
});

it('dated and differently-cased names price as their model; the longest prefix wins', () => {
  expect(priceOf('gpt-4o-2024-08-06')).toBe(DEFAULT_PRICES['gpt-4o']);
  expect(priceOf('gpt-4o-mini-2024-07-18')).toBe(DEFAULT_PRICES['gpt-4o-mini']);
  expect(priceOf('GPT-4.1-MINI')).toBe(DEFAULT_PRICES['gpt-4.1-mini']);
  expect(priceOf('o3-mini-2025-01-31')).toBe(DEFAULT_PRICES['o3-mini']);
  expect(priceOf('gpt-35-turbo')).toEqual({ input: 0.5, output: 1.5 });
});

it('the offline model is free (and priced)', () => {
  expect(costOf('offline-1', usage(5_000, 5_000))).toEqual({
    currency: 'USD',
    input: 0,
    output: 0,
    total: 0,
    priced: true,
  });
});

it('settings win over the defaults and add new names, without hijacking longer known names', () => {
  const prices = { 'gpt-4o': { input: 1, output: 2 }, 'my-deployment': { input: 3, output: 4 } };
  expect(costOf('gpt-4o', usage(1_000_000, 0), prices).total).toBe(1);
  expect(costOf('my-deployment', usage(0, 1_000_000), prices).total).toBe(4);
  expect(priceOf('gpt-4o-mini', prices)).toBe(DEFAULT_PRICES['gpt-4o-mini']);
});

it('unknown models cost 0 with priced: false', () => {
  expect(costOf('llama3.1:8b', usage(1_000, 1_000))).toEqual({
    currency: 'USD',
    input: 0,
    output: 0,
    total: 0,
    priced: false,
  });
  expect(priceOf('gpt-4oops')).toBeUndefined();
});
