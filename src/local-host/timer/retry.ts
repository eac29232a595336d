/**
 * Function retry policies (`retry` in the function options, sent as `retryOptions`), which the host
 * applies to timer triggers: `fixedDelay` waits `delayInterval` between attempts, `exponentialBackoff`
 * doubles from `minimumInterval` up to `maximumInterval`; `maxRetryCount` -1 retries forever.
 */
interface RetryOptionsLike {
  strategy?: unknown;
  retryStrategy?: unknown;
  maxRetryCount?: unknown;
  delayInterval?: unknown;
  minimumInterval?: unknown;
  maximumInterval?: unknown;
}

/** The wait before retry number `retryCount + 1`, or undefined when the policy allows no more. */
export function retryDelayMs(options: unknown, retryCount: number): number | undefined {
  if (typeof options !== 'object' || options === null) return undefined;
  const o = options as RetryOptionsLike;
  const max = typeof o.maxRetryCount === 'number' ? o.maxRetryCount : 0;
  if (max !== -1 && retryCount >= max) return undefined;
  const raw = o.retryStrategy ?? o.strategy;
  const strategy = typeof raw === 'string' || typeof raw === 'number' ? String(raw).toLowerCase() : '';
  if (strategy === 'exponentialbackoff' || strategy === '0') {
    const min = durationMs(o.minimumInterval) ?? 1000;
    const cap = durationMs(o.maximumInterval) ?? Number.MAX_SAFE_INTEGER;
    return Math.min(cap, min * 2 ** retryCount);
  }
  return durationMs(o.delayInterval) ?? 0;
}

export function maxRetryCount(options: unknown): number {
  const n = (options as RetryOptionsLike | null | undefined)?.maxRetryCount;
  return typeof n === 'number' ? n : 0;
}

/** A duration as the library sends it (`{ seconds, nanos }`) or milliseconds. */
function durationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'object' || value === null) return undefined;
  const d = value as { seconds?: unknown; nanos?: unknown };
  return Number(d.seconds ?? 0) * 1000 + Number(d.nanos ?? 0) / 1e6;
}
