/**
 * ISO 8601 durations (`PT10M`, `P1DT2H`, `PT0.5S`, `P2W`) ↔ milliseconds. Definitions keep the text
 * the author wrote; the orchestrator converts it when it sets a timer or a retry interval. Years and
 * months are refused: they have no fixed length, and a durable timer needs one. Errors say what is
 * wrong and what to write instead, because durations are typed by hand and `P10M` (ten months) is
 * an easy slip for `PT10M`.
 */
import { WorkflowError } from './errors';

const MS = { W: 604_800_000, D: 86_400_000, H: 3_600_000, M: 60_000, S: 1000 } as const;
/** The allowed components in their required order; `T` marks the time part. */
const ORDER = ['W', 'D', 'TH', 'TM', 'TS'] as const;
const NAMES: Record<(typeof ORDER)[number], string> = {
  W: 'weeks',
  D: 'days',
  TH: 'hours',
  TM: 'minutes',
  TS: 'seconds',
};

/** `10m`, `30s`, `2h`, `1d`, `500ms` → what the author probably meant. */
function shorthandHint(text: string): string {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d)$/i.exec(text);
  if (!m) return ' (e.g. PT10M for 10 minutes, P1D for a day)';
  const [n, unit] = [m[1]!, m[2]!.toLowerCase()];
  const iso =
    unit === 'ms'
      ? `PT${Number(n) / 1000}S`
      : unit === 'd'
        ? `P${n}D`
        : `PT${n}${unit === 'm' || unit === 'min' ? 'M' : unit[0]!.toUpperCase()}`;
  return `; did you mean ${iso}?`;
}

/** Why a component is in the wrong place or not allowed, or undefined when it is fine. */
function misplaced(unit: string, inTime: boolean, n: string): string | undefined {
  if (unit === 'Y') return 'years have no fixed length; use days (P365D)';
  if (unit === 'M' && !inTime) {
    return `months have no fixed length; write PT${n}M for ${n} minutes, or days (P30D) for about a month`;
  }
  if (!inTime && (unit === 'H' || unit === 'S')) {
    return `hours, minutes and seconds go after a 'T' (PT${n}${unit})`;
  }
  if (inTime && (unit === 'D' || unit === 'W')) return `days and weeks go before the 'T' (P${n}${unit})`;
  if (!'WDHMS'.includes(unit)) return `unknown unit '${unit}' (W and D before the 'T'; H, M and S after it)`;
  return undefined;
}

type Parsed = { ms: number } | { problem: string };

function parse(input: unknown): Parsed {
  if (typeof input !== 'string') return { problem: 'must be an ISO 8601 duration such as PT10M' };
  const text = input.trim();
  const bad = (why: string): Parsed => ({ problem: `'${text}' is not an ISO 8601 duration: ${why}` });
  if (!text) return { problem: 'must not be empty; give an ISO 8601 duration such as PT10M' };
  if (/^[-+]/.test(text)) return bad('a duration cannot be negative or signed');
  const s = text.toUpperCase();
  if (!s.startsWith('P')) return bad(`it must start with 'P'${shorthandHint(text)}`);
  const token = /T|(\d+(?:[.,]\d+)?)([A-Z])/y;
  let i = 1;
  let ms = 0;
  let last = -1; // index in ORDER of the last component
  let inTime = false;
  let afterT = false; // a 'T' with no component after it yet
  let fraction = false;
  while (i < s.length) {
    token.lastIndex = i;
    const m = token.exec(s);
    if (!m) return bad(`expected a number and a unit at '${text.slice(i)}'`);
    i = token.lastIndex;
    if (m[0] === 'T') {
      if (inTime) return bad("it has more than one 'T'");
      [inTime, afterT] = [true, true];
      continue;
    }
    const [n, unit] = [m[1]!, m[2]!];
    const problem = misplaced(unit, inTime, n);
    if (problem) return bad(problem);
    const at = ORDER.indexOf(`${inTime ? 'T' : ''}${unit}` as (typeof ORDER)[number]);
    if (at <= last)
      return bad(`${NAMES[ORDER[at]!]} are repeated or out of order (the order is W, D, T, H, M, S)`);
    if (fraction) return bad('only the last (smallest) component may have a fraction');
    fraction = /[.,]/.test(n);
    ms += Number(n.replace(',', '.')) * MS[unit as keyof typeof MS];
    [last, afterT] = [at, false];
  }
  if (last < 0) return bad('it has no components (e.g. PT10M)');
  if (afterT) return bad("nothing follows the 'T' (e.g. P1DT2H)");
  const rounded = Math.round(ms);
  if (!Number.isSafeInteger(rounded)) return bad('it is too long');
  return { ms: rounded };
}

/** Why the text is not a usable duration, or undefined when it is one (for schema checks). */
export function durationProblem(text: unknown): string | undefined {
  const parsed = parse(text);
  return 'problem' in parsed ? parsed.problem : undefined;
}

/** Milliseconds of an ISO 8601 duration; throws WorkflowError (WORKFLOW.INVALID_DURATION) naming the problem. */
export function parseDuration(text: string): number {
  const parsed = parse(text);
  if ('problem' in parsed) {
    throw new WorkflowError('WORKFLOW.INVALID_DURATION', `Invalid duration: ${parsed.problem}`, { text });
  }
  return parsed.ms;
}

/** Milliseconds → the shortest ISO 8601 text (`600000` → `PT10M`, `500` → `PT0.5S`, `0` → `PT0S`). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new WorkflowError(
      'WORKFLOW.INVALID_DURATION',
      `Invalid duration: ${ms} ms (must be a finite number ≥ 0)`,
    );
  }
  let rest = Math.round(ms);
  const part = (unit: number): number => {
    const n = Math.floor(rest / unit);
    rest -= n * unit;
    return n;
  };
  const [d, h, m] = [part(MS.D), part(MS.H), part(MS.M)];
  const sec = rest / 1000;
  const time = `${h ? `${h}H` : ''}${m ? `${m}M` : ''}${sec ? `${sec}S` : ''}`;
  if (!d && !time) return 'PT0S';
  return `P${d ? `${d}D` : ''}${time ? `T${time}` : ''}`;
}
