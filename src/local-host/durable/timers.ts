/** Durable timers on the real clock: a min-heap of fire times and one Node timer for the earliest. */
export interface DueTimer {
  instanceId: string;
  executionId: string;
  timerId: number;
  fireAt: string;
  fireAtMs: number;
}

const MAX_DELAY = 2 ** 31 - 1;

export class TimerWheel {
  private heap: DueTimer[] = [];
  /** Live timers by key → fire time; heap entries that do not match (cancelled, re-added) are skipped. */
  private readonly active = new Map<string, number>();
  private handle: NodeJS.Timeout | undefined;
  private armedFor = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(private readonly onDue: (timers: DueTimer[]) => void) {}

  static key(t: Pick<DueTimer, 'instanceId' | 'executionId' | 'timerId'>): string {
    return `${t.instanceId}\u0000${t.executionId}\u0000${t.timerId}`;
  }

  get size(): number {
    return this.active.size;
  }

  add(t: Omit<DueTimer, 'fireAtMs'>): void {
    const timer = { ...t, fireAtMs: Date.parse(t.fireAt) };
    this.active.set(TimerWheel.key(timer), timer.fireAtMs);
    this.push(timer);
    this.arm();
  }

  cancel(t: Pick<DueTimer, 'instanceId' | 'executionId' | 'timerId'>): boolean {
    return this.active.delete(TimerWheel.key(t));
  }

  cancelInstance(instanceId: string): void {
    for (const k of [...this.active.keys()]) if (k.startsWith(instanceId + '\u0000')) this.active.delete(k);
  }

  stop(): void {
    this.stopped = true;
    if (this.handle) clearTimeout(this.handle);
    this.handle = undefined;
  }

  private arm(): void {
    if (this.stopped) return;
    const next = this.heap[0];
    if (!next || next.fireAtMs >= this.armedFor) return;
    if (this.handle) clearTimeout(this.handle);
    this.armedFor = next.fireAtMs;
    const delay = Math.max(0, Math.min(next.fireAtMs - Date.now(), MAX_DELAY));
    this.handle = setTimeout(() => this.fire(), delay);
    this.handle.unref?.();
  }

  private fire(): void {
    this.handle = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = Date.now();
    const due: DueTimer[] = [];
    while (this.heap.length && this.heap[0]!.fireAtMs <= now) {
      const t = this.pop()!;
      const key = TimerWheel.key(t);
      if (this.active.get(key) === t.fireAtMs) {
        this.active.delete(key);
        due.push(t);
      }
    }
    if (due.length) this.onDue(due);
    this.arm();
  }

  private push(t: DueTimer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.fireAtMs <= h[i]!.fireAtMs) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  private pop(): DueTimer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.fireAtMs < h[m]!.fireAtMs) m = l;
        if (r < h.length && h[r]!.fireAtMs < h[m]!.fireAtMs) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}
