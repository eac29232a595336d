/**
 * Timer trigger schedules as the Functions host reads them: NCRONTAB expressions
 * `{second} {minute} {hour} {day} {month} {day-of-week}` (or five fields without seconds) with `*`,
 * lists, ranges, steps (`*\/5`, `10-20/2`, `5/15`) and month/day names (`Jan`, `Mon-Fri`), or a
 * TimeSpan (`00:05:00`, `1.00:00:00`) meaning a fixed interval.
 *
 * Occurrences are computed in UTC (the default in Azure; WEBSITE_TIME_ZONE is not supported). Like
 * NCrontab, a restricted day AND day-of-week must both match (unlike Vixie cron's OR).
 */
export interface Schedule {
  readonly expression: string;
  readonly kind: 'cron' | 'interval';
  /** The first occurrence strictly after `after`. */
  next(after: Date): Date;
}

export class ScheduleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleError';
  }
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const FIELDS: FieldSpec[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day-of-week', min: 0, max: 6, names: DAYS },
];
/** Full names are accepted too (`Monday`, `January`). */
const FULL_NAMES: Record<string, string> = Object.fromEntries(
  [
    ...'sunday monday tuesday wednesday thursday friday saturday'.split(' '),
    ...'january february march april may june july august september october november december'.split(' '),
  ].map((full) => [full.slice(0, 3), full]),
);
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const SEARCH_YEARS = 30;
const TIMESPAN = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/;

export function parseSchedule(expression: string): Schedule {
  const text = expression.trim();
  return TIMESPAN.test(text) ? new IntervalSchedule(text) : new CronSchedule(text);
}

/** A TimeSpan schedule: occurrences every `intervalMs` after the previous one. */
export class IntervalSchedule implements Schedule {
  readonly kind = 'interval';
  readonly intervalMs: number;

  constructor(readonly expression: string) {
    const m = TIMESPAN.exec(expression.trim());
    if (!m) throw new ScheduleError(`'${expression}' is not a TimeSpan (hh:mm:ss or d.hh:mm:ss).`);
    const [, d, h, mi, s, frac] = m;
    if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
      throw new ScheduleError(
        `TimeSpan schedule '${expression}' has hours > 23, minutes > 59 or seconds > 59.`,
      );
    }
    this.intervalMs =
      ((Number(d ?? 0) * 24 + Number(h)) * 3600 + Number(mi) * 60 + Number(s)) * 1000 +
      (frac ? Math.round(Number(`0.${frac}`) * 1000) : 0);
    if (this.intervalMs <= 0)
      throw new ScheduleError(`TimeSpan schedule '${expression}' must be longer than zero.`);
  }

  next(after: Date): Date {
    return new Date(after.getTime() + this.intervalMs);
  }
}

/** An NCRONTAB schedule. */
export class CronSchedule implements Schedule {
  readonly kind = 'cron';
  private readonly fields: boolean[][];

  constructor(readonly expression: string) {
    const parts = expression.trim().split(/\s+/);
    if (parts.length !== 6 && parts.length !== 5) {
      throw new ScheduleError(
        `Invalid schedule '${expression}': expected 6 fields '{second} {minute} {hour} {day} {month} {day-of-week}' ` +
          `(or 5 without seconds), or a TimeSpan like '00:05:00'; got ${parts.length} field(s).`,
      );
    }
    if (parts.length === 5) parts.unshift('0');
    this.fields = FIELDS.map((spec, i) => parseField(parts[i]!, spec, expression));
    const [, , , days, months] = this.fields as [
      boolean[],
      boolean[],
      boolean[],
      boolean[],
      boolean[],
      boolean[],
    ];
    const possible = months.some(
      (on, month) => on && days.some((d, day) => d && day <= DAYS_IN_MONTH[month - 1]!),
    );
    if (!possible)
      throw new ScheduleError(`Invalid schedule '${expression}': the day and month fields never match.`);
  }

  next(after: Date): Date {
    const [seconds, minutes, hours, days, months, weekdays] = this.fields as [
      boolean[],
      boolean[],
      boolean[],
      boolean[],
      boolean[],
      boolean[],
    ];
    const d = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
    const limit = after.getTime() + SEARCH_YEARS * 366 * 86_400_000;
    while (d.getTime() <= limit) {
      if (!months[d.getUTCMonth() + 1]) {
        d.setUTCMonth(d.getUTCMonth() + 1, 1);
        d.setUTCHours(0, 0, 0, 0);
      } else if (!days[d.getUTCDate()] || !weekdays[d.getUTCDay()]) {
        d.setUTCDate(d.getUTCDate() + 1);
        d.setUTCHours(0, 0, 0, 0);
      } else if (!hours[d.getUTCHours()]) {
        d.setUTCHours(d.getUTCHours() + 1, 0, 0, 0);
      } else if (!minutes[d.getUTCMinutes()]) {
        d.setUTCMinutes(d.getUTCMinutes() + 1, 0, 0);
      } else if (!seconds[d.getUTCSeconds()]) {
        d.setUTCSeconds(d.getUTCSeconds() + 1, 0);
      } else {
        return d;
      }
    }
    throw new ScheduleError(
      `Schedule '${this.expression}' has no occurrence within ${SEARCH_YEARS} years after ${after.toISOString()}.`,
    );
  }
}

/** One field as a lookup table: `table[value]` is true when the value matches. */
function parseField(text: string, spec: FieldSpec, expression: string): boolean[] {
  const fail = (reason: string): never => {
    throw new ScheduleError(`Invalid schedule '${expression}': the ${spec.name} field '${text}' ${reason}.`);
  };
  const value = (token: string): number => {
    let n: number;
    if (/^\d+$/.test(token)) n = Number(token);
    else {
      const t = token.toLowerCase();
      const i = spec.names?.findIndex((name) => t === name || t === FULL_NAMES[name]) ?? -1;
      if (i < 0) return fail(`has '${token}', which is not a number${spec.names ? ' or a name' : ''}`);
      n = i + spec.min;
    }
    if (n < spec.min || n > spec.max) fail(`has ${n}, outside ${spec.min}-${spec.max}`);
    return n;
  };
  const table = new Array<boolean>(spec.max + 1).fill(false);
  for (const part of text.split(',')) {
    const [range, stepText, extra] = part.split('/');
    if (!range || extra !== undefined || stepText === '') fail(`has a malformed part '${part}'`);
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) fail(`has step '${stepText}', which must be a positive integer`);
    let lo: number;
    let hi: number;
    if (range === '*') [lo, hi] = [spec.min, spec.max];
    else if (range!.includes('-')) {
      const bounds = range!.split('-');
      if (bounds.length !== 2) fail(`has a malformed range '${range}'`);
      [lo, hi] = [value(bounds[0]!), value(bounds[1]!)];
      if (lo > hi) fail(`has range '${range}', whose start is after its end`);
    } else {
      lo = value(range!);
      hi = stepText === undefined ? lo : spec.max;
    }
    for (let v = lo; v <= hi; v += step) table[v] = true;
  }
  return table;
}

/** The gap between the next two occurrences after `from`; the host turns monitoring off below a minute. */
export function intervalAfter(schedule: Schedule, from: Date): number {
  const first = schedule.next(from);
  return schedule.next(first).getTime() - first.getTime();
}
