/**
 * Server-Sent Events framing for streamed agent output: `delta` events while the model writes, then
 * one `result` (or `error`) event. Every event has an `id:`, so a client can tell what it has seen.
 * `EventTail` reads an event log for the streams of runs and conversation turns.
 */
import type { EventLog, RunEvent, Unsubscribe } from '../store/runs';

export type SseEventName = 'delta' | 'result' | 'error';

export interface SseEvent {
  id: number;
  event: SseEventName;
  data: unknown;
}

export const SSE_HEADERS: Record<string, string> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  // Reverse proxies (nginx, some gateways) would otherwise buffer the stream.
  'x-accel-buffering': 'no',
};

/** One event as text. JSON never contains a raw newline, so `data` is always a single line. */
export function formatSse(e: SseEvent): string {
  return `id: ${e.id}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

/** Parses an event stream (tests, the benchmark, simple clients); comments and `retry:` are skipped. */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (block.trim() === '') continue;
    let id = NaN;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon === 0) continue;
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = Number(value);
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) continue;
    events.push({ id, event: event as SseEventName, data: JSON.parse(data.join('\n')) as unknown });
  }
  return events;
}

/**
 * Passes `source` through, giving the event loop a turn after the first item and then at least every
 * `sliceMs`. A producer that never waits (a cached or offline model) would otherwise run the whole
 * stream in microtasks: nothing reaches the client until the end, and other requests wait meanwhile.
 */
export async function* paced<T>(source: AsyncIterable<T>, sliceMs = 5): AsyncGenerator<T, void, void> {
  let lastTurn = -Infinity;
  for await (const item of source) {
    yield item;
    if (performance.now() - lastTurn >= sliceMs) {
      // Two hops: the first lands in this turn's check phase, the second after the next poll phase,
      // where sockets (the client's, the host's side of a proxy) get to move what was written.
      await new Promise<void>((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve) => setImmediate(resolve));
      lastTurn = performance.now();
    }
  }
}

/**
 * An event log subscription read as a pull queue, for streams that also send heartbeats: each event
 * once, in id order; `undefined` after `waitMs` without one; the subscription's failure is thrown once
 * the events before it are read. `close()` ends the subscription.
 */
export class EventTail {
  private readonly queue: RunEvent[] = [];
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly stop: Unsubscribe;

  constructor(log: EventLog, logId: string, afterId: number) {
    this.stop = log.subscribe(
      logId,
      afterId,
      (e) => {
        this.queue.push(e);
        this.poke();
      },
      (err) => {
        this.failure =
          err instanceof Error ? err : new Error(`The event subscription failed: ${String(err)}`);
        this.poke();
      },
    );
  }

  async next(waitMs: number): Promise<RunEvent | undefined> {
    for (;;) {
      const e = this.queue.shift();
      if (e) return e;
      if (this.failure) throw this.failure;
      const timedOut = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(true), waitMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve(false);
        };
      });
      if (timedOut && !this.queue.length) return undefined;
    }
  }

  close(): void {
    this.stop();
  }

  private poke(): void {
    this.wake?.();
    this.wake = undefined;
  }
}
