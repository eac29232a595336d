/**
 * The receive loop of one Service Bus trigger: keeps up to `concurrency` invocations in flight,
 * wakes at once when the broker reports new messages (no polling when idle), and arms a timer for
 * the next scheduled message or lock expiry. Locks are renewed while a function runs, up to
 * `maxLockRenewalMs` (host.json `maxAutoLockRenewalDuration`).
 */
import type { ServiceBusBroker } from './broker';
import type { BrokerMessage } from './types';

export interface PumpOptions {
  broker: ServiceBusBroker;
  /** Entity path: a queue or `topic/Subscriptions/sub`. */
  entity: string;
  /** Messages per invocation (1 for cardinality one). */
  batchSize: number;
  concurrency: number;
  sessions: boolean;
  maxLockRenewalMs: number;
  /** Runs the function for the messages and settles them. */
  process: (messages: BrokerMessage[]) => Promise<void>;
  onError: (err: Error) => void;
}

const MAX_TIMEOUT = 2 ** 31 - 1;

export class TriggerPump {
  private running = false;
  private kickPending = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly renewals = new Set<NodeJS.Timeout>();

  constructor(private readonly options: PumpOptions) {}

  get activeInvocations(): number {
    return this.inFlight.size;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const key = this.options.entity.toLowerCase();
    this.unsubscribe = this.options.broker.subscribe((path) => {
      if (path.toLowerCase() === key) this.kick();
    });
    this.kick();
  }

  /** Stops receiving and waits for in-flight invocations until `deadline`; unfinished ones keep their locks. */
  async stop(deadline: number): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    clearTimeout(this.wakeTimer);
    const pending = Promise.allSettled([...this.inFlight]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>(
      (resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))),
    );
    await Promise.race([pending, timeout]);
    clearTimeout(timer);
    for (const t of this.renewals) clearInterval(t);
    this.renewals.clear();
  }

  /** Schedules a fill on the next turn of the event loop (coalesced). */
  kick(): void {
    if (!this.running || this.kickPending) return;
    this.kickPending = true;
    setImmediate(() => {
      this.kickPending = false;
      this.fill();
    });
  }

  private fill(): void {
    if (!this.running) return;
    clearTimeout(this.wakeTimer);
    const { broker, entity, batchSize, concurrency, sessions } = this.options;
    try {
      while (this.running && this.inFlight.size < concurrency) {
        const messages = broker.receive(entity, batchSize, undefined, { sessions });
        if (messages.length === 0) break;
        this.launch(messages);
      }
    } catch (err) {
      this.options.onError(err as Error);
      this.arm(Date.now() + 1000);
      return;
    }
    if (this.inFlight.size < concurrency) this.arm(broker.nextWakeAt(entity));
  }

  private arm(at: number | undefined): void {
    if (at === undefined || !this.running) return;
    const delay = Math.min(MAX_TIMEOUT, Math.max(1, at - Date.now()));
    this.wakeTimer = setTimeout(() => this.kick(), delay);
    this.wakeTimer.unref();
  }

  private launch(messages: BrokerMessage[]): void {
    const renewal = this.renewLocks(messages);
    const run = this.options
      .process(messages)
      .catch((err: unknown) => this.options.onError(err as Error))
      .finally(() => {
        clearInterval(renewal);
        this.renewals.delete(renewal);
        this.inFlight.delete(run);
        this.kick();
      });
    this.inFlight.add(run);
  }

  private renewLocks(messages: BrokerMessage[]): NodeJS.Timeout {
    const started = Date.now();
    const lockMs = Math.max(100, (messages[0]?.lockedUntil?.getTime() ?? started + 60_000) - started);
    const timer = setInterval(() => {
      if (Date.now() - started >= this.options.maxLockRenewalMs) {
        clearInterval(timer);
        return;
      }
      for (const m of messages) {
        try {
          if (m.lockToken) this.options.broker.renewLock(m.lockToken);
        } catch {
          // settled meanwhile, or the lock was lost: nothing to renew
        }
      }
    }, lockMs / 2);
    timer.unref();
    this.renewals.add(timer);
    return timer;
  }
}
