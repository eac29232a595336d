/**
 * Timer triggers, as the Functions host's timer listener runs them: a real-clock timer per function
 * (chunked for delays beyond setTimeout's 2^31-1 ms), one invocation at a time (the next occurrence
 * is armed when the current run ends), `runOnStartup`, and with `useMonitor` the schedule status in
 * SQLite so that an occurrence missed while the host was down runs once at start-up with
 * `isPastDue: true`. Errors are logged and the schedule goes on; `retry` options are honoured.
 *
 * `useMonitor` defaults like in Azure: on, unless occurrences are less than a minute apart. An
 * explicit `useMonitor: true` is honoured even then (Azure turns it off), which lets the past-due
 * behaviour be tried without waiting minutes.
 */
import type { HostComponent, HostContext } from '../context';
import { resolveSettingRefs } from '../host-json';
import type { Registration, RpcInvocationResponse, RpcTypedData } from '../worker/core';
import { toError, type InvocationRequest } from '../worker/invoker';
import { intervalAfter, parseSchedule, type Schedule } from './ncrontab';
import { maxRetryCount, retryDelayMs } from './retry';
import { ScheduleStatusStore, type ScheduleStatus } from './status-store';

export interface TimerTriggersOptions {
  /** Delivers output binding values (e.g. a Service Bus message sent by a timer function). */
  dispatchOutputs?: (reg: Registration, outputs: { name: string; data: RpcTypedData }[]) => Promise<void>;
}

interface TimerState {
  reg: Registration;
  schedule: Schedule;
  useMonitor: boolean;
  status: ScheduleStatus;
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
}

interface Occasion {
  isPastDue?: boolean;
  runOnStartup?: boolean;
}

const MAX_TIMEOUT = 2 ** 31 - 1;
/** What the host shows for a status time it does not know (`default(DateTime)`). */
const NO_TIME = '0001-01-01T00:00:00.000Z';

export class TimerTriggers implements HostComponent {
  readonly name = 'timer';
  private readonly store: ScheduleStatusStore;
  private readonly timers: TimerState[] = [];
  private stopping = false;
  private readonly wakers = new Set<() => void>();

  constructor(
    private readonly ctx: HostContext,
    private readonly opts: TimerTriggersOptions = {},
  ) {
    this.store = new ScheduleStatusStore(ctx.db);
  }

  describe(reg: Registration): string | undefined {
    if (reg.trigger.type.toLowerCase() !== 'timertrigger') return undefined;
    try {
      return `timerTrigger (${resolveSettingRefs(String(reg.trigger.schedule), this.ctx.env)})`;
    } catch {
      return `timerTrigger (${String(reg.trigger.schedule)})`;
    }
  }

  start(): void {
    this.stopping = false;
    for (const reg of this.ctx.registry.byTrigger('timerTrigger')) {
      try {
        this.timers.push(this.startTimer(reg, Date.now()));
      } catch (err) {
        this.ctx.log.error(`${reg.name}: ${(err as Error).message} The function will not run.`);
      }
    }
  }

  private startTimer(reg: Registration, now: number): TimerState {
    const expression = reg.trigger.schedule;
    if (typeof expression !== 'string') throw new Error('A timerTrigger needs a schedule.');
    const schedule = parseSchedule(resolveSettingRefs(expression, this.ctx.env));
    const explicit = reg.trigger.useMonitor;
    const useMonitor =
      typeof explicit === 'boolean' ? explicit : intervalAfter(schedule, new Date(now)) >= 60_000;
    let status: ScheduleStatus = {
      last: null,
      next: schedule.next(new Date(now)).getTime(),
      lastUpdated: null,
    };
    let pastDue = false;
    if (useMonitor) ({ status, pastDue } = this.store.checkPastDue(reg.name, schedule, now));
    const state: TimerState = { reg, schedule, useMonitor, status };
    if (pastDue) this.arm(state, now, { isPastDue: true });
    else if (reg.trigger.runOnStartup === true) this.arm(state, now, { runOnStartup: true });
    else this.arm(state, status.next);
    return state;
  }

  /** Cancels the timers and waits for running invocations until `deadline`. */
  async stop(deadline: number): Promise<void> {
    this.stopping = true;
    for (const wake of [...this.wakers]) wake();
    for (const t of this.timers) clearTimeout(t.timer);
    const running = this.timers.map((t) => t.running).filter((r): r is Promise<void> => r !== undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(running),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now())))),
    ]);
    clearTimeout(timer);
    this.timers.length = 0;
  }

  private arm(state: TimerState, at: number, occasion: Occasion = {}): void {
    if (this.stopping) return;
    const delay = at - Date.now();
    if (delay > MAX_TIMEOUT) {
      state.timer = setTimeout(() => this.arm(state, at, occasion), MAX_TIMEOUT);
    } else {
      state.timer = setTimeout(() => void this.fire(state, occasion), Math.max(0, delay));
    }
  }

  private async fire(state: TimerState, occasion: Occasion): Promise<void> {
    if (this.stopping) return;
    let failed = false;
    state.running = this.run(state, occasion).catch((err: unknown) => {
      failed = true;
      this.ctx.log.error(`${state.reg.name}: ${toError(err).message} The timer stops.`);
    });
    await state.running;
    state.running = undefined;
    if (!failed) this.arm(state, state.status.next);
  }

  /** One occurrence: invoke (with retries), then record Last/Next like the host's TimerListener. */
  private async run(state: TimerState, occasion: Occasion): Promise<void> {
    const { reg, schedule } = state;
    const invocationTime = Date.now();
    const s = state.status;
    const timerInfo = {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: state.useMonitor
        ? { Last: iso(s.last), Next: iso(s.next), LastUpdated: iso(s.lastUpdated) }
        : null,
      IsPastDue: occasion.isPastDue === true,
    };
    if (occasion.isPastDue)
      this.ctx.log.info(`${reg.name}: the timer is past due (an occurrence was missed); running it now.`);
    await this.invokeWithRetries(reg, { trigger: { json: JSON.stringify(timerInfo) } });
    // A run that fired a little early counts as the scheduled occurrence, so Next is not repeated.
    const adjusted =
      !occasion.isPastDue && !occasion.runOnStartup && s.next > invocationTime ? s.next : invocationTime;
    state.status = {
      last: adjusted,
      next: schedule.next(new Date(adjusted)).getTime(),
      lastUpdated: adjusted,
    };
    if (state.useMonitor && this.ctx.db.open) {
      try {
        this.store.set(reg.name, state.status);
      } catch (err) {
        this.ctx.log.warn(`${reg.name}: could not record the timer status: ${(err as Error).message}`);
      }
    }
  }

  private async invokeWithRetries(reg: Registration, req: InvocationRequest): Promise<void> {
    for (let retryCount = 0; ; retryCount++) {
      let error: Error | undefined;
      try {
        const result = await this.ctx.invoker.invoke(reg, req);
        error = result.error;
        if (!error) await this.dispatch(reg, result.response);
      } catch (err) {
        error = toError(err);
      }
      if (!error) return;
      this.ctx.log.fn('error', 'system', reg.name, `Timer invocation failed: ${error.message}`);
      const delay = this.stopping ? undefined : retryDelayMs(reg.retryOptions, retryCount);
      if (delay === undefined) return;
      await this.sleep(delay);
      if (this.stopping) return;
      const maxRetries = maxRetryCount(reg.retryOptions);
      req = {
        ...req,
        retryContext: {
          retryCount: retryCount + 1,
          maxRetryCount: maxRetries,
          exception: { message: error.message },
        },
      };
    }
  }

  /** Output bindings of a timer function, when the host gave a way to deliver them. */
  private async dispatch(reg: Registration, response: RpcInvocationResponse | undefined): Promise<void> {
    const outputs = (response?.outputData ?? []).flatMap((o) =>
      o.name && o.data ? [{ name: o.name, data: o.data }] : [],
    );
    if (response?.returnValue && reg.bindings.$return)
      outputs.push({ name: '$return', data: response.returnValue });
    if (outputs.length === 0) return;
    if (this.opts.dispatchOutputs) await this.opts.dispatchOutputs(reg, outputs);
    else this.ctx.log.warn(`${reg.name}: output bindings of timer functions are not delivered by this host.`);
  }

  /** A wait that stop() cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(t);
        this.wakers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }
}

function iso(ms: number | null): string {
  return ms === null ? NO_TIME : new Date(ms).toISOString();
}
