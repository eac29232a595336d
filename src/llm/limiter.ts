/**
 * Admission control for model calls, shared by every call to one provider: an injectable clock, a
 * concurrency semaphore, a per-model requests/tokens-per-minute limiter that waits for capacity, and a
 * circuit breaker. Kept apart from the retry loop (resilience.ts) so each piece is tested alone.
 */
import { LlmError } from './errors';

/** Time, injectable so tests run backoffs, windows and cooldowns without real waiting. */
export interface Clock {
  now(): number;
  /** Runs `fn` after `ms`; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

export function cancelledError(provider?: string): LlmError {
  return new LlmError('LLM.CANCELLED', 'The model call was cancelled.', { provider });
}

/** Resolves after `ms` on `clock`; rejects with LLM.CANCELLED when `signal` aborts first. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal, provider?: string): Promise<void> {
  if (signal?.aborted) return Promise.reject(cancelledError(provider));
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      cancel();
      reject(cancelledError(provider));
    };
    const cancel = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A FIFO counting semaphore: at most `limit` calls in flight per provider. */
export class Semaphore {
  private active = 0;
  private readonly queue: { grant: () => void }[] = [];

  constructor(readonly limit: number) {}

  get inFlight(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Waits for a slot; returns its (idempotent) release. */
  async acquire(signal?: AbortSignal, provider?: string): Promise<() => void> {
    if (signal?.aborted) throw cancelledError(provider);
    if (this.active < this.limit) this.active++;
    else {
      await new Promise<void>((resolve, reject) => {
        const waiter = {
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        const onAbort = () => {
          this.queue.splice(this.queue.indexOf(waiter), 1);
          reject(cancelledError(provider));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.queue.push(waiter);
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next)
        next.grant(); // the slot passes straight to the next waiter
      else this.active--;
    };
  }
}

export interface RateLimit {
  rpm?: number;
  tpm?: number;
}

const WINDOW_MS = 60_000;

/** An admitted request's place in the window; `settle` corrects the token estimate to the actual. */
export interface RateTicket {
  settle(actualTokens: number): void;
}

/**
 * Sliding one-minute windows per model (deployment): a call waits until both its request and its
 * estimated tokens fit, and fails with LLM.RATE_LIMITED only when that wait exceeds `maxWaitMs`.
 * A limit of 0 or none means unlimited; an estimate above the tpm limit is clamped to it, so a big
 * request still runs once the window is empty rather than never.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { at: number; tokens: number }[]>();

  constructor(
    private readonly limits: Record<string, RateLimit>,
    private readonly clock: Clock = systemClock,
    private readonly provider?: string,
  ) {}

  limitFor(model: string): RateLimit | undefined {
    const limit = this.limits[model];
    return limit && (limit.rpm || limit.tpm) ? limit : undefined;
  }

  async acquire(
    model: string,
    tokens: number,
    opts: { maxWaitMs: number; signal?: AbortSignal },
  ): Promise<RateTicket> {
    const limit = this.limitFor(model);
    if (!limit) return { settle: () => undefined };
    const estimate = limit.tpm ? Math.min(tokens, limit.tpm) : tokens;
    const started = this.clock.now();
    for (;;) {
      const wait = this.waitFor(model, limit, estimate);
      if (wait <= 0) break;
      const waited = this.clock.now() - started;
      if (waited + wait > opts.maxWaitMs) {
        throw new LlmError(
          'LLM.RATE_LIMITED',
          `Rate limit for model '${model}' (${describe(limit)}) needs a wait of ${Math.ceil(wait)} ms, ` +
            `beyond the ${opts.maxWaitMs} ms budget (LLM_TIMEOUT_MS).`,
          { provider: this.provider, retryAfterMs: wait },
        );
      }
      await sleep(this.clock, wait, opts.signal, this.provider);
    }
    const entry = { at: this.clock.now(), tokens: estimate };
    this.window(model).push(entry);
    return {
      settle: (actual) => {
        entry.tokens = actual;
      },
    };
  }

  /** How long until `tokens` more fit in the model's window (0 = now). */
  private waitFor(model: string, limit: RateLimit, tokens: number): number {
    const entries = this.window(model);
    const now = this.clock.now();
    while (entries.length > 0 && entries[0]!.at <= now - WINDOW_MS) entries.shift();
    let wait = 0;
    if (limit.rpm && entries.length >= limit.rpm) {
      wait = entries[entries.length - limit.rpm]!.at + WINDOW_MS - now;
    }
    if (limit.tpm) {
      let used = entries.reduce((sum, e) => sum + e.tokens, 0);
      for (const e of entries) {
        if (used + tokens <= limit.tpm) break;
        used -= e.tokens;
        wait = Math.max(wait, e.at + WINDOW_MS - now);
      }
    }
    return wait;
  }

  private window(model: string): { at: number; tokens: number }[] {
    let entries = this.windows.get(model);
    if (!entries) this.windows.set(model, (entries = []));
    return entries;
  }
}

function describe(limit: RateLimit): string {
  return [limit.rpm ? `${limit.rpm} rpm` : '', limit.tpm ? `${limit.tpm} tpm` : '']
    .filter(Boolean)
    .join(', ');
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * Per-provider circuit breaker: `threshold` consecutive retryable failures open it for `cooldownMs`
 * (calls fail fast with LLM.CIRCUIT_OPEN); then one trial call goes through (half-open): success
 * closes it, failure opens it again. Non-retryable answers prove the provider is up and count as
 * success; cancellations count as nothing.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private current: BreakerState = 'closed';
  private trialInFlight = false;

  constructor(
    readonly provider: string,
    private readonly threshold: number,
    private readonly cooldownMs: number,
    private readonly clock: Clock = systemClock,
  ) {}

  get state(): BreakerState {
    return this.current;
  }

  /** Admits a call or throws LLM.CIRCUIT_OPEN. */
  enter(): void {
    if (this.current === 'closed') return;
    const remaining = this.openedAt + this.cooldownMs - this.clock.now();
    if (this.current === 'open' && remaining <= 0) this.current = 'half-open';
    if (this.current === 'half-open' && !this.trialInFlight) {
      this.trialInFlight = true;
      return;
    }
    const retryAfterMs = Math.max(0, remaining);
    throw new LlmError(
      'LLM.CIRCUIT_OPEN',
      `Circuit open for provider ${this.provider} after ${this.failures} consecutive failures; ` +
        `retry after ${new Date(this.clock.now() + retryAfterMs).toISOString()} (in ${retryAfterMs} ms).`,
      { provider: this.provider, retryAfterMs },
    );
  }

  success(): void {
    this.failures = 0;
    this.current = 'closed';
    this.trialInFlight = false;
  }

  failure(): void {
    this.failures++;
    this.trialInFlight = false;
    if (this.current === 'half-open' || this.failures >= this.threshold) {
      this.current = 'open';
      this.openedAt = this.clock.now();
    }
  }

  /** The call ended without telling anything about the provider (cancelled): free the trial slot. */
  release(): void {
    this.trialInFlight = false;
  }
}
