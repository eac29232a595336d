/** Timer schedule monitor (past-due detection, schedule changes) and retry policies. */
import Database from 'better-sqlite3';
import { parseSchedule } from '../../src/local-host/timer/ncrontab';
import { maxRetryCount, retryDelayMs } from '../../src/local-host/timer/retry';
import { ScheduleStatusStore } from '../../src/local-host/timer/status-store';

const t = (iso: string): number => Date.parse(iso);
let db: Database.Database;
let store: ScheduleStatusStore;

beforeEach(() => {
  db = new Database(':memory:');
  store = new ScheduleStatusStore(db);
});
afterEach(() => db.close());

describe('ScheduleStatusStore.checkPastDue', () => {
  const hourly = parseSchedule('0 0 * * * *');

  it('records an initial status for a new timer; not past due', () => {
    const now = t('2024-01-01T10:20:00Z');
    const { status, pastDue } = store.checkPastDue('fn', hourly, now);
    expect(pastDue).toBe(false);
    expect(status).toEqual({ last: null, next: t('2024-01-01T11:00:00Z'), lastUpdated: now });
    expect(store.get('FN')).toEqual(status);
  });

  it('is past due when the recorded next occurrence passed while the host was down', () => {
    store.set('fn', {
      last: t('2024-01-01T10:00:00Z'),
      next: t('2024-01-01T11:00:00Z'),
      lastUpdated: t('2024-01-01T10:00:00Z'),
    });
    const { status, pastDue } = store.checkPastDue('fn', hourly, t('2024-01-01T13:30:00Z'));
    expect(pastDue).toBe(true);
    expect(status.next).toBe(t('2024-01-01T11:00:00Z'));
  });

  it('is not past due before the next occurrence', () => {
    store.set('fn', {
      last: t('2024-01-01T10:00:00Z'),
      next: t('2024-01-01T11:00:00Z'),
      lastUpdated: t('2024-01-01T10:00:00Z'),
    });
    expect(store.checkPastDue('fn', hourly, t('2024-01-01T10:59:00Z')).pastDue).toBe(false);
  });

  it('adopts a changed schedule without reporting it past due', () => {
    store.set('fn', {
      last: t('2024-01-01T10:00:00Z'),
      next: t('2024-01-01T11:00:00Z'),
      lastUpdated: t('2024-01-01T10:00:00Z'),
    });
    const now = t('2024-01-01T10:20:10Z');
    const { status, pastDue } = store.checkPastDue('fn', parseSchedule('0 */15 * * * *'), now);
    expect(pastDue).toBe(false);
    expect(status).toEqual({ last: null, next: t('2024-01-01T10:30:00Z'), lastUpdated: now });
  });

  it('adopts a less frequent schedule from the last run', () => {
    store.set('fn', {
      last: t('2024-01-01T10:00:00Z'),
      next: t('2024-01-01T11:00:00Z'),
      lastUpdated: t('2024-01-01T10:00:00Z'),
    });
    const { status } = store.checkPastDue('fn', parseSchedule('0 0 0 * * *'), t('2024-01-01T10:30:00Z'));
    expect(status.next).toBe(t('2024-01-02T00:00:00Z'));
  });
});

describe('retryDelayMs', () => {
  it('has no retries without options', () => {
    expect(retryDelayMs(undefined, 0)).toBeUndefined();
    expect(maxRetryCount(undefined)).toBe(0);
  });

  it('waits a fixed delay up to maxRetryCount', () => {
    const o = { strategy: 'fixedDelay', maxRetryCount: 2, delayInterval: { seconds: 3 } };
    expect([0, 1, 2].map((n) => retryDelayMs(o, n))).toEqual([3000, 3000, undefined]);
    expect(maxRetryCount(o)).toBe(2);
  });

  it('backs off exponentially up to the maximum, forever with -1', () => {
    const o = {
      retryStrategy: 'exponentialBackoff',
      maxRetryCount: -1,
      minimumInterval: 1000,
      maximumInterval: { seconds: 5 },
    };
    expect([0, 1, 2, 3, 50].map((n) => retryDelayMs(o, n))).toEqual([1000, 2000, 4000, 5000, 5000]);
  });
});
