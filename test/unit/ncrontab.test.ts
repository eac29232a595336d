/** NCRONTAB and TimeSpan schedules: parsing, next occurrences (UTC) and error messages. */
import {
  CronSchedule,
  IntervalSchedule,
  intervalAfter,
  parseSchedule,
  ScheduleError,
} from '../../src/local-host/timer/ncrontab';

const at = (iso: string): Date => new Date(iso);
const next = (expr: string, after: string): string => parseSchedule(expr).next(at(after)).toISOString();
const series = (expr: string, after: string, n: number): string[] => {
  const s = parseSchedule(expr);
  const out: string[] = [];
  let d = at(after);
  for (let i = 0; i < n; i++) {
    d = s.next(d);
    out.push(d.toISOString().slice(11, 19));
  }
  return out;
};
const errorOf = (expr: string): string => {
  try {
    parseSchedule(expr);
  } catch (err) {
    expect(err).toBeInstanceOf(ScheduleError);
    return (err as Error).message;
  }
  throw new Error(`'${expr}' parsed`);
};

describe('next occurrence', () => {
  it.each([
    ['*/5 * * * * *', '2024-01-01T00:00:03.000Z', '2024-01-01T00:00:05.000Z'],
    ['0 */5 * * * *', '2024-01-01T12:03:10.000Z', '2024-01-01T12:05:00.000Z'],
    ['0 0 * * * *', '2024-01-01T12:00:00.000Z', '2024-01-01T13:00:00.000Z'],
    ['* * * * * *', '2024-01-01T12:00:00.500Z', '2024-01-01T12:00:01.000Z'],
    ['0 30 9 * * Mon-Fri', '2024-01-05T10:00:00.000Z', '2024-01-08T09:30:00.000Z'],
    ['30 9 * * 1-5', '2024-01-05T10:00:00.000Z', '2024-01-08T09:30:00.000Z'],
    ['0 0 0 1 Jan *', '2024-03-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z'],
    ['0 0 12 * * Sun,Sat', '2024-01-01T00:00:00.000Z', '2024-01-06T12:00:00.000Z'],
    ['0 0 0 29 2 *', '2024-03-01T00:00:00.000Z', '2028-02-29T00:00:00.000Z'],
    ['0 0 0 31 * *', '2024-01-31T00:00:00.000Z', '2024-03-31T00:00:00.000Z'],
    ['0 0 0 * * Monday', '2024-01-01T00:00:00.000Z', '2024-01-08T00:00:00.000Z'],
    ['0 0 0 1 january,JUL *', '2024-02-01T00:00:00.000Z', '2024-07-01T00:00:00.000Z'],
    ['0 0 23 31 12 *', '2024-12-31T23:00:00.000Z', '2025-12-31T23:00:00.000Z'],
  ])('%s after %s is %s', (expr, after, expected) => {
    expect(next(expr, after)).toBe(expected);
  });

  it('supports lists, ranges with steps and start/step', () => {
    expect(series('10-20/4,45 * * * * *', '2024-01-01T00:00:00.000Z', 4)).toEqual([
      '00:00:10',
      '00:00:14',
      '00:00:18',
      '00:00:45',
    ]);
    expect(series('5/15 * * * * *', '2024-01-01T00:00:00.000Z', 5)).toEqual([
      '00:00:05',
      '00:00:20',
      '00:00:35',
      '00:00:50',
      '00:01:05',
    ]);
  });

  it('requires both a restricted day and day of week to match (NCrontab semantics)', () => {
    // The 13th that is a Friday.
    expect(next('0 0 0 13 * Fri', '2024-01-01T00:00:00.000Z')).toBe('2024-09-13T00:00:00.000Z');
  });

  it('treats five fields as minute-based with second 0', () => {
    const s = parseSchedule('*/15 * * * *');
    expect(s.kind).toBe('cron');
    expect(s.next(at('2024-01-01T00:07:31.000Z')).toISOString()).toBe('2024-01-01T00:15:00.000Z');
  });

  it('reads TimeSpan schedules as fixed intervals', () => {
    const s = parseSchedule('00:05:00');
    expect(s).toBeInstanceOf(IntervalSchedule);
    expect(s.next(at('2024-01-01T00:00:01.250Z')).toISOString()).toBe('2024-01-01T00:05:01.250Z');
    expect((parseSchedule('1.02:00:00') as IntervalSchedule).intervalMs).toBe(26 * 3600_000);
    expect((parseSchedule('00:00:00.5') as IntervalSchedule).intervalMs).toBe(500);
  });

  it('measures the interval between occurrences', () => {
    expect(intervalAfter(parseSchedule('*/1 * * * * *'), at('2024-01-01T00:00:00.000Z'))).toBe(1000);
    expect(intervalAfter(parseSchedule('0 0 * * * *'), at('2024-01-01T00:00:00.000Z'))).toBe(3600_000);
  });
});

describe('errors name the bad field', () => {
  it.each([
    ['x * * * * *', /second field 'x'.*not a number/],
    ['60 * * * * *', /second field '60'.*outside 0-59/],
    ['0 61 * * * *', /minute field/],
    ['0 0 24 * * *', /hour field/],
    ['0 0 0 0 * *', /day field '0'.*outside 1-31/],
    ['0 0 0 * 13 *', /month field/],
    ['0 0 0 * Foo *', /month field 'Foo'.*not a number or a name/],
    ['0 0 0 * * 7', /day-of-week field '7'.*outside 0-6/],
    ['*/0 * * * * *', /second field '\*\/0'.*step/],
    ['20-10 * * * * *', /start is after its end/],
    ['1,,2 * * * * *', /malformed part/],
    ['1-2-3 * * * * *', /malformed range/],
    ['* * * *', /expected 6 fields.*got 4/],
    ['0 0 0 30 2 *', /day and month fields never match/],
    ['00:00:00', /longer than zero/],
  ])('%s', (expr, message) => {
    expect(errorOf(expr)).toMatch(message);
  });

  it('includes the whole expression', () => {
    expect(errorOf('0 0 0 * * Funday')).toContain("'0 0 0 * * Funday'");
  });

  it('finds rare occurrences (29 February on a Monday)', () => {
    const s = new CronSchedule('0 0 0 29 2 Mon');
    expect(s.next(at('2024-01-01T00:00:00.000Z')).toISOString()).toBe('2044-02-29T00:00:00.000Z');
  });
});
