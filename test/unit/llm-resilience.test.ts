/**
 * ResilientChatModel and its parts (limiter.ts) on a manual clock: backoff math, Retry-After,
 * timeouts, the rate limiter, the concurrency limit, the circuit breaker, and stream retries.
 */
import { LlmError, type LlmErrorCode } from '../../src/llm/errors';
import { CircuitBreaker, RateLimiter, Semaphore, type Clock } from '../../src/llm/limiter';
import {
  backoffDelay,
  ResilientChatModel,
  retryDelay,
  type ProviderGuards,
  type ResiliencePolicy,
} from '../../src/llm/resilience';
import type { ChatChunk, ChatModel, ChatRequest, ChatResult } from '../../src/llm/types';

const flush = () => new Promise((r) => setImmediate(r));

/** Time that moves only when the test says so; due timers run in order, promises settle in between. */
class ManualClock implements Clock {
  private t = 1_000_000;
  private timers: { at: number; fn: () => void }[] = [];

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }

  get pending(): number {
    return this.timers.length;
  }

  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await flush();
    for (;;) {
      const due = [...this.timers].sort((a, b) => a.at - b.at).find((x) => x.at <= end);
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

type Step = (req: ChatRequest) => Promise<ChatResult>;
const result = (content = 'ok', total = 10): ChatResult => ({
  content,
  model: 'm',
  usage: { prompt: total - 2, completion: 2, total },
  finishReason: 'stop',
  provider: 'openai',
});
const ok =
  (content = 'ok', total = 10): Step =>
  async () =>
    result(content, total);
const fail =
  (code: LlmErrorCode, retryAfterMs?: number): Step =>
  async () => {
    throw new LlmError(code, `scripted ${code}`, { retryAfterMs });
  };
/** Never answers, but honours the signal as a real adapter does (or not, with `ignoreSignal`). */
const hang =
  (ignoreSignal = false): Step =>
  (req) =>
    new Promise((_, reject) => {
      if (!ignoreSignal)
        req.signal?.addEventListener('abort', () => reject(new LlmError('LLM.CANCELLED', 'aborted')));
    });

/** An inner model following a script; streams yield `deltas` then fail or finish. */
class Scripted implements ChatModel {
  readonly provider = 'openai' as const;
  readonly supportsJsonSchema = true;
  calls: ChatRequest[] = [];
  streams: { deltas: string[]; error?: LlmError }[] = [];
  closed = 0;

  constructor(private readonly steps: Step[] = []) {}

  complete(req: ChatRequest): Promise<ChatResult> {
    this.calls.push(req);
    const step = this.steps.shift();
    if (!step) throw new Error('script exhausted');
    return step(req);
  }

  async *stream(req: ChatRequest): AsyncGenerator<ChatChunk, ChatResult, void> {
    this.calls.push(req);
    const s = this.streams.shift();
    if (!s) throw new Error('stream script exhausted');
    try {
      for (const delta of s.deltas) yield { delta };
      if (s.error) throw s.error;
      return result(s.deltas.join(''));
    } finally {
      this.closed++;
    }
  }
}

const policy: ResiliencePolicy = { maxRetries: 3, retryBaseMs: 100, retryMaxMs: 1_000, timeoutMs: 5_000 };
const request = (extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'gpt-4o',
  messages: [{ role: 'user', content: 'hello there' }],
  ...extra,
});

function setup(
  inner: Scripted,
  opts: {
    policy?: Partial<ResiliencePolicy>;
    limits?: Record<string, { rpm?: number; tpm?: number }>;
    concurrency?: number;
    breakerFailures?: number;
  } = {},
) {
  const clock = new ManualClock();
  const guards: ProviderGuards = {
    breaker: new CircuitBreaker('openai', opts.breakerFailures ?? 5, 30_000, clock),
    concurrency: new Semaphore(opts.concurrency ?? 16),
    rateLimiter: new RateLimiter(opts.limits ?? {}, clock, 'openai'),
  };
  const model = new ResilientChatModel(inner, { ...policy, ...opts.policy }, guards, {
    clock,
    random: () => 0,
  });
  return { clock, guards, model };
}

/** Tracks a promise's state without awaiting it. */
function track<T>(p: Promise<T>) {
  const state: { done: boolean; value?: T; error?: unknown } = { done: false };
  p.then(
    (value) => Object.assign(state, { done: true, value }),
    (error: unknown) => Object.assign(state, { done: true, error }),
  );
  return state;
}

describe('backoff', () => {
  it('full jitter: uniform below min(max, base * 2^(attempt-1))', () => {
    expect(backoffDelay(1, 100, 1_000, () => 0.5)).toBe(50);
    expect(backoffDelay(2, 100, 1_000, () => 0.5)).toBe(100);
    expect(backoffDelay(3, 100, 1_000, () => 0.5)).toBe(200);
    expect(backoffDelay(10, 100, 1_000, () => 0.5)).toBe(500);
    expect(backoffDelay(3, 100, 1_000, () => 0)).toBe(0);
    for (let attempt = 1; attempt <= 8; attempt++) {
      const ceiling = Math.min(1_000, 100 * 2 ** (attempt - 1));
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(attempt, 100, 1_000);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(ceiling);
      }
    }
  });

  it('retryDelay: never less than Retry-After; undefined when not retryable, out of retries or too long', () => {
    const limited = new LlmError('LLM.RATE_LIMITED', 'x', { retryAfterMs: 700 });
    expect(retryDelay(limited, 1, policy, () => 0)).toBe(700);
    const short = new LlmError('LLM.RATE_LIMITED', 'x', { retryAfterMs: 100 });
    expect(retryDelay(short, 3, policy, () => 0.99)).toBe(396); // a longer backoff wins over Retry-After
    expect(retryDelay(new LlmError('LLM.SERVER_ERROR', 'x'), 2, policy, () => 0.5)).toBe(100);
    expect(retryDelay(new LlmError('LLM.BAD_REQUEST', 'x'), 1, policy)).toBeUndefined();
    expect(retryDelay(new Error('plain'), 1, policy)).toBeUndefined();
    expect(retryDelay(limited, 4, { ...policy, maxRetries: 3 })).toBeUndefined();
    expect(
      retryDelay(new LlmError('LLM.RATE_LIMITED', 'x', { retryAfterMs: 60_000 }), 1, policy),
    ).toBeUndefined();
  });
});

describe('retries', () => {
  it('retries a 429 after exactly its Retry-After and records the attempts', async () => {
    const inner = new Scripted([fail('LLM.RATE_LIMITED', 300), ok('done')]);
    const { clock, model } = setup(inner);
    const call = track(model.complete(request()));
    await clock.advance(299);
    expect(call.done).toBe(false);
    expect(inner.calls).toHaveLength(1);
    await clock.advance(1);
    expect(call.value).toMatchObject({ content: 'done', attempts: 2 });
  });

  it('gives up after maxRetries with the last error; never retries non-retryable errors', async () => {
    const inner = new Scripted([
      fail('LLM.SERVER_ERROR'),
      fail('LLM.TIMEOUT'),
      fail('LLM.CONNECTION'),
      fail('LLM.SERVER_ERROR'),
    ]);
    const { clock, model } = setup(inner);
    const call = track(model.complete(request()));
    await clock.advance(10_000);
    expect((call.error as LlmError).code).toBe('LLM.SERVER_ERROR');
    expect(inner.calls).toHaveLength(4);

    const bad = new Scripted([fail('LLM.BAD_REQUEST')]);
    await expect(setup(bad).model.complete(request())).rejects.toMatchObject({ code: 'LLM.BAD_REQUEST' });
    expect(bad.calls).toHaveLength(1);
  });

  it('times out an attempt (aborting its signal), retries, and reports LLM.TIMEOUT at the end', async () => {
    const inner = new Scripted([hang(), hang(true)]);
    const { clock, model } = setup(inner, { policy: { maxRetries: 1, timeoutMs: 1_000 } });
    const call = track(model.complete(request()));
    await clock.advance(1_000);
    expect(inner.calls[0]!.signal!.aborted).toBe(true);
    expect(call.done).toBe(false);
    await clock.advance(1_000); // the second attempt ignores its signal: the race still ends it
    expect((call.error as LlmError).code).toBe('LLM.TIMEOUT');
    expect((call.error as LlmError).message).toMatch(/did not answer within 1000 ms/);
  });

  it("the caller's abort cancels at once and is not retried", async () => {
    const inner = new Scripted([hang()]);
    const { clock, model } = setup(inner);
    const controller = new AbortController();
    const call = track(model.complete(request({ signal: controller.signal })));
    await clock.advance(10);
    controller.abort();
    await clock.advance(0);
    expect((call.error as LlmError).code).toBe('LLM.CANCELLED');
    expect(inner.calls).toHaveLength(1);
  });
});

describe('rate limiter', () => {
  it('waits for requests-per-minute capacity instead of failing', async () => {
    const inner = new Scripted([ok(), ok(), ok()]);
    const { clock, model } = setup(inner, {
      limits: { 'gpt-4o': { rpm: 2 } },
      policy: { timeoutMs: 120_000 },
    });
    await model.complete(request());
    await clock.advance(10_000);
    await model.complete(request());
    const third = track(model.complete(request()));
    await clock.advance(49_999);
    expect(third.done).toBe(false);
    await clock.advance(1);
    expect(third.value).toMatchObject({ attempts: 1 });
  });

  it('counts prompt tokens + maxTokens before the call, then the actual usage', async () => {
    const inner = new Scripted([ok('a', 30), ok('b', 30), ok('c', 30)]);
    const { clock, model } = setup(inner, {
      limits: { 'gpt-4o': { tpm: 1_000 } },
      policy: { timeoutMs: 120_000 },
    });
    // Estimate 950 + ~9 prompt tokens: fits alone; corrected to 30 after the call.
    await model.complete(request({ maxTokens: 950 }));
    const second = track(model.complete(request({ maxTokens: 950 })));
    await clock.advance(0);
    expect(second.done).toBe(true); // 30 used + ~959 estimated <= 1000
    const third = track(model.complete(request({ maxTokens: 950 })));
    await clock.advance(59_999);
    expect(third.done).toBe(false); // 60 used + ~959 > 1000 until the first call leaves the window
    await clock.advance(1);
    expect(third.done).toBe(true);
  });

  it('fails with LLM.RATE_LIMITED when the wait would exceed timeoutMs', async () => {
    const inner = new Scripted([ok(), ok()]);
    const { model } = setup(inner, { limits: { 'gpt-4o': { rpm: 1 } }, policy: { timeoutMs: 5_000 } });
    await model.complete(request());
    const err = await model.complete(request()).catch((e: unknown) => e as LlmError);
    expect(err).toMatchObject({ code: 'LLM.RATE_LIMITED' });
    expect((err as LlmError).message).toMatch(
      /Rate limit for model 'gpt-4o' \(1 rpm\) needs a wait of 60000 ms/,
    );
    expect(inner.calls).toHaveLength(1);
    // Other models are not limited.
    await expect(model.complete(request({ model: 'other' }))).resolves.toMatchObject({ attempts: 1 });
  });
});

describe('concurrency limit', () => {
  it('keeps at most maxConcurrency calls in flight; the rest queue in order', async () => {
    const releases: (() => void)[] = [];
    const gate: Step = () => new Promise((resolve) => releases.push(() => resolve(result())));
    const inner = new Scripted([gate, gate, gate, gate]);
    const { clock, guards, model } = setup(inner, { concurrency: 2 });
    const calls = [1, 2, 3, 4].map(() => track(model.complete(request())));
    await clock.advance(0);
    expect(inner.calls).toHaveLength(2);
    expect(guards.concurrency.waiting).toBe(2);
    releases[0]!();
    await clock.advance(0);
    expect(inner.calls).toHaveLength(3);
    releases[1]!();
    releases[2]!();
    await clock.advance(0);
    releases[3]!();
    await clock.advance(0);
    expect(calls.every((c) => c.done)).toBe(true);
    expect(guards.concurrency.inFlight).toBe(0);
  });
});

describe('circuit breaker', () => {
  it('opens after N consecutive retryable failures, fails fast, half-opens for one trial after the cooldown', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker('azure-openai', 3, 10_000, clock);
    for (let i = 0; i < 3; i++) {
      breaker.enter();
      breaker.failure();
    }
    expect(breaker.state).toBe('open');
    expect(() => breaker.enter()).toThrow(
      /^Circuit open for provider azure-openai after 3 consecutive failures; retry after .+ \(in 10000 ms\)\.$/,
    );
    await clock.advance(10_000);
    breaker.enter(); // the trial
    expect(breaker.state).toBe('half-open');
    expect(() => breaker.enter()).toThrow(LlmError); // only one trial at a time
    breaker.failure(); // trial failed: open again
    expect(breaker.state).toBe('open');
    await clock.advance(10_000);
    breaker.enter();
    breaker.release(); // cancelled trial: another may try
    breaker.enter();
    breaker.success();
    expect(breaker.state).toBe('closed');
    breaker.enter();
  });

  it('through the model: retryable failures count, answers reset, open circuits skip the inner model', async () => {
    const inner = new Scripted([
      fail('LLM.SERVER_ERROR'),
      fail('LLM.BAD_REQUEST'),
      fail('LLM.SERVER_ERROR'),
      fail('LLM.SERVER_ERROR'),
    ]);
    const { guards, model } = setup(inner, { breakerFailures: 2, policy: { maxRetries: 0 } });
    await expect(model.complete(request())).rejects.toMatchObject({ code: 'LLM.SERVER_ERROR' });
    await expect(model.complete(request())).rejects.toMatchObject({ code: 'LLM.BAD_REQUEST' }); // resets the count
    await expect(model.complete(request())).rejects.toMatchObject({ code: 'LLM.SERVER_ERROR' });
    expect(guards.breaker.state).toBe('closed');
    await expect(model.complete(request())).rejects.toMatchObject({ code: 'LLM.SERVER_ERROR' });
    expect(guards.breaker.state).toBe('open');
    const err = await model.complete(request()).catch((e: unknown) => e as LlmError);
    expect(err).toMatchObject({ code: 'LLM.CIRCUIT_OPEN', retryable: false, status: 503 });
    expect(inner.calls).toHaveLength(4);
  });
});

describe('streams', () => {
  async function drain(gen: AsyncGenerator<ChatChunk, ChatResult, void>) {
    const deltas: string[] = [];
    for (;;) {
      const s = await gen.next();
      if (s.done) return { deltas, result: s.value };
      deltas.push(s.value.delta);
    }
  }

  it('retries a stream that fails before its first delta', async () => {
    const inner = new Scripted();
    inner.streams.push(
      { deltas: [], error: new LlmError('LLM.SERVER_ERROR', 'boom') },
      { deltas: ['a', 'b'] },
    );
    const { model } = setup(inner, { policy: { retryBaseMs: 0 } });
    const { deltas, result: r } = await drain(model.stream(request()));
    expect(deltas).toEqual(['a', 'b']);
    expect(r).toMatchObject({ content: 'ab', attempts: 2 });
  });

  it('never retries once a delta went out', async () => {
    const inner = new Scripted();
    inner.streams.push({ deltas: ['a'], error: new LlmError('LLM.SERVER_ERROR', 'boom') }, { deltas: ['x'] });
    const { model } = setup(inner, { policy: { retryBaseMs: 0 } });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const c of model.stream(request())) seen.push(c.delta);
      })(),
    ).rejects.toMatchObject({ code: 'LLM.SERVER_ERROR' });
    expect(seen).toEqual(['a']);
    expect(inner.calls).toHaveLength(1);
  });

  it('a consumer that stops early closes the inner stream and frees its slot', async () => {
    const inner = new Scripted();
    inner.streams.push({ deltas: ['a', 'b', 'c'] });
    const { clock, guards, model } = setup(inner, { concurrency: 1 });
    for await (const c of model.stream(request())) if (c.delta === 'a') break;
    await clock.advance(0);
    expect(inner.closed).toBe(1);
    expect(guards.concurrency.inFlight).toBe(0);
    expect(inner.calls[0]!.signal!.aborted).toBe(true);
  });

  it('times out a stream that goes quiet', async () => {
    const inner = new Scripted();
    const { clock, model } = setup(inner, { policy: { timeoutMs: 500, maxRetries: 0 } });
    inner.stream = async function* (req: ChatRequest) {
      yield { delta: 'a' };
      await new Promise((_, reject) =>
        req.signal?.addEventListener('abort', () => reject(new LlmError('LLM.CANCELLED', 'x'))),
      );
      return result();
    };
    const gen = model.stream(request());
    await gen.next();
    const next = track(gen.next());
    await clock.advance(500);
    expect((next.error as LlmError).code).toBe('LLM.TIMEOUT');
  });
});
