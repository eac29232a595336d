/** The OpenAI adapter's pure parts: Retry-After parsing and provider capabilities (HTTP paths: integration). */
import { OpenAIChatModel, parseRetryAfter } from '../../src/llm/openai';

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  const h = (headers: Record<string, string>) => new Headers(headers);

  it('prefers retry-after-ms, in milliseconds', () => {
    expect(parseRetryAfter(h({ 'retry-after-ms': '250', 'retry-after': '9' }), now)).toBe(250);
    expect(parseRetryAfter(h({ 'retry-after-ms': '12.5' }), now)).toBe(12.5);
  });

  it('reads retry-after as seconds or as an HTTP date', () => {
    expect(parseRetryAfter(h({ 'retry-after': '2' }), now)).toBe(2_000);
    expect(parseRetryAfter(h({ 'retry-after': 'Wed, 01 Jan 2025 00:00:03 GMT' }), now)).toBe(3_000);
    expect(parseRetryAfter(h({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }), now)).toBe(0);
  });

  it('is undefined without a usable header', () => {
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter(h({}))).toBeUndefined();
    expect(parseRetryAfter(h({ 'retry-after': 'soon' }))).toBeUndefined();
  });
});

it('json_schema support: on for OpenAI and Azure, off for compatible servers unless configured', () => {
  const make = (provider: 'openai' | 'azure-openai' | 'openai-compatible', supportsJsonSchema?: boolean) =>
    new OpenAIChatModel({
      provider,
      timeoutMs: 1_000,
      apiKey: 'k',
      baseUrl: 'http://127.0.0.1:9/v1',
      supportsJsonSchema,
    });
  expect(make('openai').supportsJsonSchema).toBe(true);
  expect(make('azure-openai').supportsJsonSchema).toBe(true);
  expect(make('openai-compatible').supportsJsonSchema).toBe(false);
  expect(make('openai-compatible', true).supportsJsonSchema).toBe(true);
});
