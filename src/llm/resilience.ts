/**
 * ResilientChatModel: the decorator every model call goes through. Per attempt: circuit breaker,
 * per-model rate limit (waits), per-provider concurrency slot, and a timeout that aborts the call.
 * Between attempts: exponential backoff with full jitter, never shorter than the provider's
 * Retry-After. Only retryable LlmErrors are retried, and a stream only before its first delta.
 */
import type { Config } from '../config';
import { LlmGenerationSpan } from '../telemetry';
import { isLlmError, LlmError } from './errors';
import {
  cancelledError,
  CircuitBreaker,
  RateLimiter,
  Semaphore,
  sleep,
  systemClock,
  type Clock,
  type RateTicket,
} from './limiter';
import { countMessageTokens } from './tokens';
import type { ChatChunk, ChatModel, ChatRequest, ChatResult } from './types';

export interface ResiliencePolicy {
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Per attempt: the whole call for `complete`, the wait for each delta for `stream`. */
  timeoutMs: number;
}

/** The admission state shared by every model of one provider. */
export interface ProviderGuards {
  breaker: CircuitBreaker;
  concurrency: Semaphore;
  rateLimiter: RateLimiter;
}

/** Tokens assumed for the completion when a rate-limited request sets no maxTokens. */
export const DEFAULT_COMPLETION_ESTIMATE = 1_024;

export function createProviderGuards(
  provider: string,
  llm: Config['llm'],
  clock: Clock = systemClock,
): ProviderGuards {
  return {
    breaker: new CircuitBreaker(provider, llm.breakerFailures, llm.breakerCooldownMs, clock),
    concurrency: new Semaphore(llm.maxConcurrency),
    rateLimiter: new RateLimiter(llm.rateLimits, clock, provider),
  };
}

/** Full-jitter exponential backoff: uniform in [0, min(maxMs, baseMs * 2^(attempt-1))]. */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * The wait before retrying after `err` on `attempt`, or undefined to give up: not retryable, out of
 * retries, or a Retry-After longer than the whole budget (we never wait less than the provider asks).
 */
export function retryDelay(
  err: unknown,
  attempt: number,
  policy: ResiliencePolicy,
  random?: () => number,
): number | undefined {
  if (!isLlmError(err) || !err.retryable || attempt > policy.maxRetries) return undefined;
  const retryAfter = err.retryAfterMs ?? 0;
  if (retryAfter > Math.max(policy.retryMaxMs, policy.timeoutMs)) return undefined;
  return Math.max(backoffDelay(attempt, policy.retryBaseMs, policy.retryMaxMs, random), retryAfter);
}

export class ResilientChatModel implements ChatModel {
  private readonly clock: Clock;
  private readonly random: () => number;

  constructor(
    private readonly inner: ChatModel,
    private readonly policy: ResiliencePolicy,
    private readonly guards: ProviderGuards,
    opts: { clock?: Clock; random?: () => number } = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
  }

  get provider() {
    return this.inner.provider;
  }

  get supportsJsonSchema(): boolean {
    return this.inner.supportsJsonSchema;
  }

  /** One model call, retries included; traced as an `llm.generation` span (src/telemetry). */
  complete(req: ChatRequest): Promise<ChatResult> {
    const span = LlmGenerationSpan.start(this.provider, req);
    return span.track(() => this.completeWithRetries(req));
  }

  async *stream(req: ChatRequest): AsyncGenerator<ChatChunk, ChatResult, void> {
    const span = LlmGenerationSpan.start(this.provider, req);
    return yield* span.trackStream(this.streamWithRetries(req));
  }

  private async completeWithRetries(req: ChatRequest): Promise<ChatResult> {
    for (let attempt = 1; ; attempt++) {
      const admission = await this.admit(req);
      const guard = new AttemptGuard(this.provider, req, this.policy.timeoutMs, this.clock, 'did not answer');
      let error: unknown;
      try {
        const result = await guard.race(this.inner.complete({ ...req, signal: guard.signal }));
        admission.succeed(result.usage.total);
        return { ...result, attempts: attempt };
      } catch (err) {
        error = err;
        admission.fail(err);
      } finally {
        guard.dispose();
      }
      await this.pause(error, attempt, req.signal);
    }
  }

  private async *streamWithRetries(req: ChatRequest): AsyncGenerator<ChatChunk, ChatResult, void> {
    for (let attempt = 1; ; attempt++) {
      const admission = await this.admit(req);
      const guard = new AttemptGuard(this.provider, req, this.policy.timeoutMs, this.clock, 'sent nothing');
      const inner = this.inner.stream({ ...req, signal: guard.signal });
      let yielded = false;
      let settled = false;
      let error: unknown;
      try {
        for (;;) {
          const step = await guard.race(inner.next());
          if (step.done) {
            settled = true;
            admission.succeed(step.value.usage.total);
            return { ...step.value, attempts: attempt };
          }
          yielded = true;
          yield step.value;
        }
      } catch (err) {
        settled = true;
        error = err;
        admission.fail(err);
      } finally {
        if (!settled) {
          // The consumer stopped early: stop the inner call too.
          admission.abandon();
          guard.abort();
          void inner.return(undefined as unknown as ChatResult).catch(() => undefined);
        }
        guard.dispose();
      }
      if (yielded) throw error; // deltas already went out: a retry would repeat them
      await this.pause(error, attempt, req.signal);
    }
  }

  /** Breaker, then rate limit (waits), then a concurrency slot. Local refusals are not retried. */
  private async admit(req: ChatRequest): Promise<Admission> {
    const { breaker, rateLimiter, concurrency } = this.guards;
    breaker.enter();
    let ticket: RateTicket | undefined;
    try {
      const limit = rateLimiter.limitFor(req.model);
      if (limit) {
        const estimate = limit.tpm
          ? countMessageTokens(req.messages) + (req.maxTokens ?? DEFAULT_COMPLETION_ESTIMATE)
          : 0;
        ticket = await rateLimiter.acquire(req.model, estimate, {
          maxWaitMs: this.policy.timeoutMs,
          signal: req.signal,
        });
      }
      const release = await concurrency.acquire(req.signal, this.provider);
      return new Admission(breaker, release, ticket);
    } catch (err) {
      breaker.release();
      ticket?.settle(0);
      throw err;
    }
  }

  /** Sleeps before the next attempt, or rethrows `error` when it should not be retried. */
  private async pause(error: unknown, attempt: number, signal?: AbortSignal): Promise<void> {
    const delay = retryDelay(error, attempt, this.policy, this.random);
    if (delay === undefined) throw error;
    await sleep(this.clock, delay, signal, this.provider);
  }
}

/** One admitted attempt: reports its outcome to the breaker and limiter and frees its slot, once. */
class Admission {
  private done = false;

  constructor(
    private readonly breaker: CircuitBreaker,
    private readonly release: () => void,
    private readonly ticket?: RateTicket,
  ) {}

  succeed(totalTokens: number): void {
    if (this.end()) return;
    this.ticket?.settle(totalTokens);
    this.breaker.success();
  }

  fail(err: unknown): void {
    if (this.end()) return;
    if (isLlmError(err) && err.code === 'LLM.CANCELLED') this.breaker.release();
    else if (isLlmError(err) && err.retryable) this.breaker.failure();
    else this.breaker.success(); // the provider answered (e.g. 400): it is up
  }

  abandon(): void {
    if (!this.end()) this.breaker.release();
  }

  private end(): boolean {
    const already = this.done;
    this.done = true;
    if (!already) this.release();
    return already;
  }
}

/**
 * One attempt's cancellation: the caller's signal plus the timeout, as one AbortSignal handed to the
 * inner model. `race` also settles on its own when the inner model ignores the signal.
 */
class AttemptGuard {
  private readonly controller = new AbortController();
  private failure?: LlmError;
  private rejectPending?: (err: LlmError) => void;
  private readonly onOuterAbort = () => this.fail(cancelledError(this.provider));

  constructor(
    private readonly provider: string,
    private readonly req: ChatRequest,
    private readonly timeoutMs: number,
    private readonly clock: Clock,
    private readonly verb: string,
  ) {
    if (req.signal?.aborted) this.onOuterAbort();
    else req.signal?.addEventListener('abort', this.onOuterAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Awaits `promise`, failing with LLM.TIMEOUT after timeoutMs or LLM.CANCELLED on abort. */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.failure) {
      promise.catch(() => undefined);
      return Promise.reject(this.failure);
    }
    return new Promise<T>((resolve, reject) => {
      const stop = this.clock.setTimer(() => this.fail(this.timeoutError()), this.timeoutMs);
      this.rejectPending = reject;
      promise.then(
        (value) => {
          stop();
          resolve(value);
        },
        (err: unknown) => {
          stop();
          reject(this.failure ?? (err as Error));
        },
      );
    });
  }

  abort(): void {
    this.controller.abort();
  }

  dispose(): void {
    this.req.signal?.removeEventListener('abort', this.onOuterAbort);
  }

  private fail(err: LlmError): void {
    this.failure ??= err;
    this.controller.abort(err);
    this.rejectPending?.(err);
  }

  private timeoutError(): LlmError {
    const message = `Model '${this.req.model}' (${this.provider}) ${this.verb} within ${this.timeoutMs} ms.`;
    return new LlmError('LLM.TIMEOUT', message, { provider: this.provider });
  }
}
