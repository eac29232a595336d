/**
 * Response cache: CachingChatModel answers a request it has seen (same provider, model, messages,
 * role and parameters) from memory, for LLM_CACHE_TTL_SECONDS, keeping at most LLM_CACHE_MAX_ENTRIES
 * (least recently used goes first). Off when the TTL is 0. Only successful results are stored.
 * A hit comes back with `cached: true` and no `attempts` (no call was made); its usage is the
 * original call's, so callers that bill should price a cached result at zero.
 * Streaming a hit replays the whole content as one delta: there is nothing to wait for.
 */
import { createHash } from 'node:crypto';
import { systemClock, type Clock } from './limiter';
import type { ChatChunk, ChatModel, ChatRequest, ChatResult } from './types';

/** The exact-match key: sha256 over everything that changes the answer. */
export function cacheKey(provider: string, req: ChatRequest): string {
  const { model, messages, maxTokens, temperature, responseFormat, agentRole } = req;
  const parts = [
    provider,
    model,
    messages.map((m) => [m.role, m.content]),
    maxTokens,
    temperature,
    responseFormat,
  ];
  // The role changes what the offline model writes.
  parts.push(agentRole);
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export class ResponseCache {
  private readonly entries = new Map<string, { result: ChatResult; expires: number }>();
  private readonly clock: Clock;

  constructor(private readonly options: { ttlMs: number; maxEntries: number; clock?: Clock }) {
    this.clock = options.clock ?? systemClock;
  }

  get enabled(): boolean {
    return this.options.ttlMs > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): ChatResult | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expires <= this.clock.now()) return undefined;
    this.entries.set(key, entry); // most recently used goes last
    return entry.result;
  }

  set(key: string, result: ChatResult): void {
    if (!this.enabled) return;
    const { cached: _cached, attempts: _attempts, ...stored } = result;
    this.entries.delete(key);
    this.entries.set(key, { result: stored, expires: this.clock.now() + this.options.ttlMs });
    while (this.entries.size > this.options.maxEntries) {
      this.entries.delete(this.entries.keys().next().value!);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}

export class CachingChatModel implements ChatModel {
  constructor(
    private readonly inner: ChatModel,
    private readonly cache: ResponseCache,
  ) {}

  get provider() {
    return this.inner.provider;
  }

  get supportsJsonSchema(): boolean {
    return this.inner.supportsJsonSchema;
  }

  async complete(req: ChatRequest): Promise<ChatResult> {
    if (!this.cache.enabled) return this.inner.complete(req);
    const key = cacheKey(this.provider, req);
    const hit = this.cache.get(key);
    if (hit) return { ...hit, cached: true };
    const result = await this.inner.complete(req);
    this.cache.set(key, result);
    return result;
  }

  async *stream(req: ChatRequest): AsyncGenerator<ChatChunk, ChatResult, void> {
    if (!this.cache.enabled) return yield* this.inner.stream(req);
    const key = cacheKey(this.provider, req);
    const hit = this.cache.get(key);
    if (hit) {
      if (hit.content) yield { delta: hit.content };
      return { ...hit, cached: true };
    }
    const result = yield* this.inner.stream(req);
    this.cache.set(key, result);
    return result;
  }
}
