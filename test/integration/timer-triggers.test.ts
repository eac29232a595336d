/** Timer triggers end to end: schedules on the real clock, runOnStartup, and past-due runs after downtime. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalHost } from '../../src/local-host/host';
import { silentLogger, type HostLogger } from '../../src/local-host/log';
import type { TimerEvent } from '../fixtures/apps/timer-app/index';

const appDir = path.join(__dirname, '../fixtures/apps/timer-app');
let host: LocalHost | undefined;
let dataDir: string;
const logged: string[] = [];
const logger: HostLogger = {
  ...silentLogger,
  error: (m) => logged.push(m),
  fn: (level, _category, fn, m) => {
    if (level === 'error') logged.push(`${fn ?? ''}: ${m}`);
  },
};
const savedEnv = { ...process.env };

const g = globalThis as { __timerAppEvents?: TimerEvent[]; __timerAppSlowMax?: number };
const events = (fn: string): TimerEvent[] => (g.__timerAppEvents ?? []).filter((e) => e.fn === fn);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(probe: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(20);
  }
}

beforeAll(async () => {
  process.env.TIMER_APP_YEARLY = '0 0 0 1 1 *';
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'timer-triggers-'));
  host = new LocalHost({ appDir, port: 0, dataDir, logger, printFunctions: false });
  await host.start();
});

afterAll(async () => {
  await host?.stop();
  process.env = savedEnv;
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it('describes timer functions for the start-up listing', () => {
  const reg = host!.app.registry.get('onStartup')!;
  expect(host!.timers.describe(reg)).toBe('timerTrigger (0 0 0 1 1 *)');
});

it('runs runOnStartup functions right away', async () => {
  const [e] = await waitFor(() => events('onStartup').length > 0 && events('onStartup'), 2000);
  expect(e!.timer.isPastDue).toBe(false);
  // A yearly schedule is monitored by default: the status is there.
  expect(e!.timer.scheduleStatus).toEqual({
    last: '0001-01-01T00:00:00.000Z',
    next: expect.stringMatching(/-01-01T00:00:00\.000Z$/),
    lastUpdated: expect.any(String),
  });
});

it('fires a */1 schedule every second', async () => {
  const got = await waitFor(() => events('everySecond').length >= 3 && events('everySecond'), 6000);
  const [a, b] = [got[1]!.at, got[2]!.at];
  expect(b - a).toBeGreaterThan(600);
  expect(b - a).toBeLessThan(1600);
  expect(got[0]!.timer).toEqual({ isPastDue: false, schedule: { adjustForDST: true }, scheduleStatus: null });
});

it('never overlaps runs of one function and keeps going after an error', async () => {
  await waitFor(() => events('slow').length >= 2, 6000);
  expect(g.__timerAppSlowMax).toBe(1);
  await waitFor(() => events('flaky').length >= 2, 6000);
  expect(logged.some((l) => l.includes('flaky first run'))).toBe(true);
});

it('runs a monitored timer once as past due after the host was down', async () => {
  const first = await waitFor(() => events('monitored')[0], 4000);
  expect(first.timer.isPastDue).toBe(false);
  expect(first.timer.scheduleStatus.next).toMatch(/Z$/);
  const registry = host!.app.registry;
  await host!.stop();
  const stoppedAt = Date.now();
  const before = events('monitored').length;

  await sleep(2500); // longer than the 2 s period: an occurrence is missed
  expect(events('monitored').length).toBe(before);
  host = new LocalHost({ appDir, port: 0, dataDir, logger, printFunctions: false, registry });
  await host.start();

  const pastDue = await waitFor(() => events('monitored')[before], 1500);
  expect(pastDue.timer.isPastDue).toBe(true);
  expect(pastDue.at - stoppedAt).toBeLessThan(2500 + 1500);
  const status = pastDue.timer.scheduleStatus;
  expect(Date.parse(status.next)).toBeLessThan(pastDue.at);
  expect(Date.parse(status.last)).toBeGreaterThanOrEqual(first.at - 1000);
  // Then the regular schedule resumes.
  const regular = await waitFor(() => events('monitored')[before + 1], 3000);
  expect(regular.timer.isPastDue).toBe(false);
});
