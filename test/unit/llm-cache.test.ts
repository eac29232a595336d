/** The response cache decorator: hits, misses, TTL, LRU eviction, key sensitivity, streaming. */
import { CachingChatModel, cacheKey, ResponseCache } from '../../src/llm/cache';
import { LlmError } from '../../src/llm/errors';
import type { Clock } from '../../src/llm/limiter';
import type { ChatChunk, ChatModel, ChatRequest, ChatResult } from '../../src/llm/types';

class Counting implements ChatModel {
  readonly provider = 'offline' as const;
  readonly supportsJsonSchema = true;
  calls = 0;
  failNext = false;

  async complete(req: ChatRequest): Promise<ChatResult> {
    this.calls++;
    if (this.failNext) {
      this.failNext = false;
      throw new LlmError('LLM.SERVER_ERROR', 'boom');
    }
    const content = `answer ${this.calls} to ${req.messages.at(-1)!.content}`;
    return {
      content,
      model: req.model,
      usage: { prompt: 5, completion: 4, total: 9 },
      finishReason: 'stop',
      provider: 'offline',
      attempts: 2,
    };
  }

  async *stream(req: ChatRequest): AsyncGenerator<ChatChunk, ChatResult, void> {
    const r = await this.complete(req);
    for (const word of r.content.split(/(?= )/)) yield { delta: word };
    return r;
  }
}

const clock = { t: 0, now: () => clock.t, setTimer: () => () => undefined } as Clock & { t: number };
const req = (content = 'hi', extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'offline-1',
  messages: [{ role: 'user', content }],
  ...extra,
});

function setup(ttlMs = 60_000, maxEntries = 10) {
  const inner = new Counting();
  const cache = new ResponseCache({ ttlMs, maxEntries, clock });
  return { inner, cache, model: new CachingChatModel(inner, cache) };
}

beforeEach(() => {
  clock.t = 0;
});

it('is off when the TTL is 0', async () => {
  const { inner, model, cache } = setup(0);
  await model.complete(req());
  const second = await model.complete(req());
  expect(inner.calls).toBe(2);
  expect(second.cached).toBeUndefined();
  expect(cache.size).toBe(0);
});

it('a miss calls the model; a hit returns the stored result with cached: true and no attempts', async () => {
  const { inner, model } = setup();
  const first = await model.complete(req());
  expect(first).toMatchObject({ content: 'answer 1 to hi', attempts: 2 });
  expect(first.cached).toBeUndefined();
  const hit = await model.complete(req());
  expect(inner.calls).toBe(1);
  expect(hit).toEqual({ ...first, attempts: undefined, cached: true });
  expect(hit).not.toHaveProperty('attempts');
});

it('entries expire after the TTL', async () => {
  const { inner, model } = setup(1_000);
  await model.complete(req());
  clock.t = 999;
  expect((await model.complete(req())).cached).toBe(true);
  clock.t = 1_000;
  expect((await model.complete(req())).cached).toBeUndefined();
  expect(inner.calls).toBe(2);
});

it('keeps at most maxEntries, evicting the least recently used', async () => {
  const { inner, model, cache } = setup(60_000, 2);
  await model.complete(req('a'));
  await model.complete(req('b'));
  await model.complete(req('a')); // a is now the most recent
  await model.complete(req('c')); // evicts b
  expect(cache.size).toBe(2);
  expect((await model.complete(req('a'))).cached).toBe(true);
  expect((await model.complete(req('b'))).cached).toBeUndefined();
  expect(inner.calls).toBe(4);
});

it('the key covers provider, model, messages, parameters and role, but not the signal', () => {
  const base = cacheKey('offline', req());
  expect(cacheKey('offline', req('hi', { signal: new AbortController().signal }))).toBe(base);
  expect(base).toMatch(/^[0-9a-f]{64}$/);
  const variants = [
    cacheKey('openai', req()),
    cacheKey('offline', req('hi', { model: 'offline-2' })),
    cacheKey('offline', req('hi!')),
    cacheKey('offline', { ...req(), messages: [{ role: 'system', content: 'hi' }] }),
    cacheKey('offline', req('hi', { maxTokens: 10 })),
    cacheKey('offline', req('hi', { temperature: 0.1 })),
    cacheKey('offline', req('hi', { responseFormat: { type: 'json_object' } })),
    cacheKey('offline', req('hi', { agentRole: 'architect' })),
  ];
  expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
});

it('failures are not cached', async () => {
  const { inner, model } = setup();
  inner.failNext = true;
  await expect(model.complete(req())).rejects.toMatchObject({ code: 'LLM.SERVER_ERROR' });
  expect((await model.complete(req())).cached).toBeUndefined();
  expect((await model.complete(req())).cached).toBe(true);
});

it('streams a miss through (and stores it); replays a hit as one delta', async () => {
  const { inner, model } = setup();
  const drain = async (gen: AsyncGenerator<ChatChunk, ChatResult, void>) => {
    const deltas: string[] = [];
    for (;;) {
      const s = await gen.next();
      if (s.done) return { deltas, result: s.value };
      deltas.push(s.value.delta);
    }
  };
  const miss = await drain(model.stream(req()));
  expect(miss.deltas).toEqual(['answer', ' 1', ' to', ' hi']);
  const hit = await drain(model.stream(req()));
  expect(hit.deltas).toEqual(['answer 1 to hi']);
  expect(hit.result.cached).toBe(true);
  expect(inner.calls).toBe(1);
  expect((await model.complete(req())).cached).toBe(true);
});
