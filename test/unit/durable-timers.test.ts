/** TimerWheel: durable timers on the clock, fired in order, cancellable, safe for far-future times. */
import { TimerWheel, type DueTimer } from '../../src/local-host/durable/timers';

const T0 = Date.parse('2024-06-01T00:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
const timer = (instanceId: string, timerId: number, ms: number, executionId = 'e') => ({
  instanceId,
  executionId,
  timerId,
  fireAt: at(ms),
});
const ids = (fired: DueTimer[][]): string[] => fired.flat().map((t) => `${t.instanceId}#${t.timerId}`);

let fired: DueTimer[][];
let wheel: TimerWheel;

beforeEach(() => {
  jest.useFakeTimers({ now: T0 });
  fired = [];
  wheel = new TimerWheel((due) => fired.push(due));
});

afterEach(() => {
  wheel.stop();
  jest.useRealTimers();
});

test('fires timers in fire-time order, whatever order they were added in', () => {
  wheel.add(timer('c', 0, 300));
  wheel.add(timer('a', 0, 100));
  wheel.add(timer('b', 0, 200));
  wheel.add(timer('d', 0, 150));
  expect(wheel.size).toBe(4);
  jest.advanceTimersByTime(99);
  expect(fired).toEqual([]);
  jest.advanceTimersByTime(1);
  expect(ids(fired)).toEqual(['a#0']);
  jest.advanceTimersByTime(200);
  expect(ids(fired)).toEqual(['a#0', 'd#0', 'b#0', 'c#0']);
  expect(wheel.size).toBe(0);
});

test('timers due at the same time are delivered together with their fields', () => {
  wheel.add(timer('a', 1, 50));
  wheel.add(timer('b', 2, 50));
  jest.advanceTimersByTime(50);
  expect(fired).toHaveLength(1);
  expect(fired[0]!.map((t) => t.instanceId).sort()).toEqual(['a', 'b']);
  expect(fired[0]![0]).toMatchObject({ executionId: 'e', fireAt: at(50), fireAtMs: T0 + 50 });
});

test('a timer already past due fires on the next tick', () => {
  wheel.add(timer('late', 0, -5000));
  expect(fired).toEqual([]);
  jest.advanceTimersByTime(0);
  expect(ids(fired)).toEqual(['late#0']);
});

test('cancel stops one timer and reports whether it was pending', () => {
  wheel.add(timer('a', 0, 100));
  wheel.add(timer('a', 1, 100));
  expect(wheel.cancel({ instanceId: 'a', executionId: 'e', timerId: 0 })).toBe(true);
  expect(wheel.cancel({ instanceId: 'a', executionId: 'e', timerId: 0 })).toBe(false);
  expect(wheel.cancel({ instanceId: 'a', executionId: 'other', timerId: 1 })).toBe(false);
  expect(wheel.size).toBe(1);
  jest.advanceTimersByTime(100);
  expect(ids(fired)).toEqual(['a#1']);
});

test('cancelInstance drops every timer of that instance only (not of an id sharing its prefix)', () => {
  wheel.add(timer('a', 0, 10));
  wheel.add(timer('a', 1, 20, 'e2'));
  wheel.add(timer('ab', 0, 30));
  wheel.add(timer('b', 0, 40));
  wheel.cancelInstance('a');
  expect(wheel.size).toBe(2);
  jest.advanceTimersByTime(100);
  expect(ids(fired)).toEqual(['ab#0', 'b#0']);
});

test('cancelling the earliest timer does not hold back the later ones', () => {
  wheel.add(timer('a', 0, 10));
  wheel.add(timer('b', 0, 20));
  wheel.cancel({ instanceId: 'a', executionId: 'e', timerId: 0 });
  jest.advanceTimersByTime(10);
  expect(fired).toEqual([]);
  jest.advanceTimersByTime(10);
  expect(ids(fired)).toEqual(['b#0']);
});

test('an earlier timer added while armed for a later one fires at its own time', () => {
  wheel.add(timer('late', 0, 10_000));
  jest.advanceTimersByTime(1000);
  wheel.add(timer('early', 0, 1500));
  jest.advanceTimersByTime(500);
  expect(ids(fired)).toEqual(['early#0']);
  jest.advanceTimersByTime(8499);
  expect(ids(fired)).toEqual(['early#0']);
  jest.advanceTimersByTime(1);
  expect(ids(fired)).toEqual(['early#0', 'late#0']);
});

test('a later timer added while armed for an earlier one still fires', () => {
  wheel.add(timer('a', 0, 100));
  wheel.add(timer('b', 0, 500));
  jest.advanceTimersByTime(100);
  wheel.add(timer('c', 0, 300));
  jest.advanceTimersByTime(400);
  expect(ids(fired)).toEqual(['a#0', 'c#0', 'b#0']);
});

test('a timer beyond the 2^31-1 ms setTimeout limit does not fire early', () => {
  const MAX = 2 ** 31 - 1;
  wheel.add(timer('far', 0, MAX + 5000));
  jest.advanceTimersByTime(0);
  expect(fired).toEqual([]);
  jest.advanceTimersByTime(MAX);
  expect(fired).toEqual([]);
  jest.advanceTimersByTime(4999);
  expect(fired).toEqual([]);
  jest.advanceTimersByTime(1);
  expect(ids(fired)).toEqual(['far#0']);
});

test('a timer many years ahead stays pending', () => {
  wheel.add(timer('decade', 0, 10 * 365 * 86_400_000));
  jest.advanceTimersByTime(3 * (2 ** 31 - 1));
  expect(fired).toEqual([]);
  expect(wheel.size).toBe(1);
});

test('stop() prevents pending and newly added timers from firing', () => {
  wheel.add(timer('a', 0, 100));
  wheel.stop();
  wheel.add(timer('b', 0, 50));
  jest.advanceTimersByTime(1000);
  expect(fired).toEqual([]);
  expect(jest.getTimerCount()).toBe(0);
});

test('key() distinguishes instance, execution and timer id', () => {
  const k = TimerWheel.key({ instanceId: 'i', executionId: 'e', timerId: 1 });
  expect(k).not.toBe(TimerWheel.key({ instanceId: 'i', executionId: 'e', timerId: 2 }));
  expect(k).not.toBe(TimerWheel.key({ instanceId: 'i', executionId: 'f', timerId: 1 }));
  expect(k).not.toBe(TimerWheel.key({ instanceId: 'j', executionId: 'e', timerId: 1 }));
});

describe('on the real clock', () => {
  beforeEach(() => {
    jest.useRealTimers();
    wheel.stop();
    fired = [];
    wheel = new TimerWheel((due) => fired.push(due));
  });

  test('short timers fire in order', async () => {
    const now = Date.now();
    wheel.add({ instanceId: 'b', executionId: 'e', timerId: 0, fireAt: new Date(now + 40).toISOString() });
    wheel.add({ instanceId: 'a', executionId: 'e', timerId: 0, fireAt: new Date(now + 20).toISOString() });
    wheel.add({
      instanceId: 'far',
      executionId: 'e',
      timerId: 0,
      fireAt: new Date(now + 2 ** 32).toISOString(),
    });
    await new Promise((r) => setTimeout(r, 120));
    expect(ids(fired)).toEqual(['a#0', 'b#0']);
    expect(wheel.size).toBe(1);
  });

  test('a timer cancelled and added again with a later time fires at the later time only', async () => {
    const times: number[] = [];
    const w = new TimerWheel((due) => times.push(...due.map((d) => Date.parse(d.fireAt))));
    const t = { instanceId: 'i', executionId: 'e', timerId: 1 };
    const early = new Date(Date.now() + 20).toISOString();
    const late = new Date(Date.now() + 120).toISOString();
    w.add({ ...t, fireAt: early });
    w.cancel(t);
    w.add({ ...t, fireAt: late });
    await new Promise((r) => setTimeout(r, 60));
    expect(times).toEqual([]);
    await new Promise((r) => setTimeout(r, 120));
    expect(times).toEqual([Date.parse(late)]);
    w.stop();
  });
});
