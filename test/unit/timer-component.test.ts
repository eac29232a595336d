/** TimerTriggers with a stand-in invoker: retries, output delivery, bad schedules and shutdown. */
import Database from 'better-sqlite3';
import type { HostContext } from '../../src/local-host/context';
import { silentLogger } from '../../src/local-host/log';
import { TimerTriggers } from '../../src/local-host/timer/component';
import type { Registration, RpcTypedData } from '../../src/local-host/worker/core';
import type { InvocationRequest, InvocationResult } from '../../src/local-host/worker/invoker';

type Invoke = (reg: Registration, req: InvocationRequest) => Promise<InvocationResult>;

const reg = (
  name: string,
  trigger: Record<string, unknown>,
  extra: Partial<Registration> = {},
): Registration => ({
  name,
  triggerName: 'timer',
  trigger: { type: 'timerTrigger', direction: 'in', ...trigger },
  bindings: { timer: { type: 'timerTrigger', direction: 'in', ...trigger } },
  callback: () => undefined,
  ...extra,
});

let db: Database.Database;
let timers: TimerTriggers;
const errors: string[] = [];
const requests: InvocationRequest[] = [];
const dispatched: { name: string; data: RpcTypedData }[][] = [];

function setup(regs: Registration[], invoke: Invoke, withDispatch = true): TimerTriggers {
  const ctx = {
    db,
    registry: { byTrigger: (t: string) => (t === 'timerTrigger' ? regs : []) },
    invoker: {
      invoke: (r: Registration, req: InvocationRequest) => {
        requests.push(req);
        return invoke(r, req);
      },
    },
    log: { ...silentLogger, error: (m: string) => errors.push(m), warn: (m: string) => errors.push(m) },
    env: {},
  } as unknown as HostContext;
  const dispatchOutputs = async (_r: Registration, outputs: { name: string; data: RpcTypedData }[]) => {
    dispatched.push(outputs);
  };
  timers = new TimerTriggers(ctx, withDispatch ? { dispatchOutputs } : {});
  timers.start();
  return timers;
}

const result = (error?: Error, response: InvocationResult['response'] = {}): Promise<InvocationResult> =>
  Promise.resolve({ invocationId: 'i', result: undefined, ...(error ? { error } : { response }) });
const until = async (probe: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};
const yearly = { schedule: '0 0 0 1 1 *', runOnStartup: true };

beforeEach(() => {
  db = new Database(':memory:');
  errors.length = 0;
  requests.length = 0;
  dispatched.length = 0;
});
afterEach(async () => {
  await timers?.stop(Date.now());
  db.close();
});

it('retries failed runs with the function retry policy and a retry context', async () => {
  let calls = 0;
  const retry = { strategy: 'fixedDelay', maxRetryCount: 2, delayInterval: { seconds: 0 } };
  setup([reg('fn', yearly, { retryOptions: retry })], () =>
    result(++calls < 3 ? new Error(`fail ${calls}`) : undefined),
  );
  await until(() => calls === 3);
  expect(requests.map((r) => r.retryContext)).toEqual([
    undefined,
    { retryCount: 1, maxRetryCount: 2, exception: { message: 'fail 1' } },
    { retryCount: 2, maxRetryCount: 2, exception: { message: 'fail 2' } },
  ]);
  expect(errors.filter((e) => e.includes('fail'))).toHaveLength(0); // function errors go to the function log
});

it('delivers output bindings and the return value of timer functions', async () => {
  const fn = reg('fn', yearly, {
    bindings: { timer: { type: 'timerTrigger' }, $return: { type: 'serviceBus', direction: 'out' } },
  });
  setup([fn], () =>
    result(undefined, { outputData: [{ name: 'out', data: { string: 'x' } }], returnValue: { int: 1 } }),
  );
  await until(() => dispatched.length === 1);
  expect(dispatched[0]).toEqual([
    { name: 'out', data: { string: 'x' } },
    { name: '$return', data: { int: 1 } },
  ]);
});

it('warns when it cannot deliver outputs', async () => {
  setup(
    [reg('fn', yearly)],
    () => result(undefined, { outputData: [{ name: 'out', data: { string: 'x' } }] }),
    false,
  );
  await until(() => errors.some((e) => e.includes('not delivered')));
});

it('logs bad schedules and does not run those functions', () => {
  setup([reg('bad', { schedule: '0 0 25 * * *' }), reg('none', {})], () => result());
  expect(errors).toEqual([
    expect.stringMatching(/^bad: .*hour field '25'.*will not run/),
    expect.stringMatching(/^none: A timerTrigger needs a schedule/),
  ]);
  expect(timers.describe(reg('x', { schedule: '%MISSING%' }))).toBe('timerTrigger (%MISSING%)');
});

it('stop waits for a running invocation until the deadline, then cancels the schedule', async () => {
  let release: (() => void) | undefined;
  setup(
    [reg('fn', { schedule: '*/1 * * * * *', runOnStartup: true })],
    () => new Promise((r) => (release = () => void r(result()))),
  );
  await until(() => release !== undefined);
  const started = Date.now();
  await timers.stop(Date.now() + 100);
  expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  release!();
  await new Promise((r) => setTimeout(r, 1200));
  expect(requests).toHaveLength(1);
});

it('waits through delays longer than setTimeout allows (chunked timers)', async () => {
  jest.useFakeTimers({ now: Date.parse('2024-01-01T00:00:01Z'), doNotFake: ['setImmediate', 'nextTick'] });
  try {
    setup([reg('yearly', { schedule: '0 0 0 1 1 *', useMonitor: false })], () => result());
    jest.advanceTimersByTime(2 ** 31); // beyond one setTimeout: must not fire early
    expect(requests).toHaveLength(0);
    jest.setSystemTime(Date.parse('2024-12-31T23:59:59Z'));
    await jest.advanceTimersByTimeAsync(2 ** 31);
    expect(requests).toHaveLength(1);
    const timer = JSON.parse(requests[0]!.trigger!.json!) as Record<string, unknown>;
    expect(timer).toEqual({ Schedule: { AdjustForDST: true }, ScheduleStatus: null, IsPastDue: false });
  } finally {
    jest.useRealTimers();
  }
});
