/** ISO 8601 durations: to milliseconds, back to text, and what the errors say. */
import { WorkflowError } from '../../src/workflows/errors';
import { durationProblem, formatDuration, parseDuration } from '../../src/workflows/duration';

describe('parseDuration', () => {
  test.each([
    ['PT10M', 600_000],
    ['P1DT2H', 93_600_000],
    ['PT0.5S', 500],
    ['P2W', 1_209_600_000],
    ['PT1H30M', 5_400_000],
    ['PT1.5H', 5_400_000],
    ['P1W2D', 777_600_000],
    ['PT1,5S', 1500],
    ['pt10m', 600_000],
    ['PT0S', 0],
    ['P1DT1H1M1.001S', 90_061_001],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
    expect(durationProblem(text)).toBeUndefined();
  });

  test.each([
    ['', 'must not be empty; give an ISO 8601 duration such as PT10M'],
    ['10m', "'10m' is not an ISO 8601 duration: it must start with 'P'; did you mean PT10M?"],
    ['500ms', "'500ms' is not an ISO 8601 duration: it must start with 'P'; did you mean PT0.5S?"],
    ['2h', "'2h' is not an ISO 8601 duration: it must start with 'P'; did you mean PT2H?"],
    ['1d', "'1d' is not an ISO 8601 duration: it must start with 'P'; did you mean P1D?"],
    [
      'soon',
      "'soon' is not an ISO 8601 duration: it must start with 'P' (e.g. PT10M for 10 minutes, P1D for a day)",
    ],
    ['-PT1S', "'-PT1S' is not an ISO 8601 duration: a duration cannot be negative or signed"],
    [
      'P10M',
      "'P10M' is not an ISO 8601 duration: months have no fixed length; write PT10M for 10 minutes, or days (P30D) for about a month",
    ],
    ['P1Y', "'P1Y' is not an ISO 8601 duration: years have no fixed length; use days (P365D)"],
    ['PT1D', "'PT1D' is not an ISO 8601 duration: days and weeks go before the 'T' (P1D)"],
    ['P1H', "'P1H' is not an ISO 8601 duration: hours, minutes and seconds go after a 'T' (PT1H)"],
    ['P', "'P' is not an ISO 8601 duration: it has no components (e.g. PT10M)"],
    ['P1DT', "'P1DT' is not an ISO 8601 duration: nothing follows the 'T' (e.g. P1DT2H)"],
    [
      'PT5S10M',
      "'PT5S10M' is not an ISO 8601 duration: minutes are repeated or out of order (the order is W, D, T, H, M, S)",
    ],
    [
      'PT1.5M30S',
      "'PT1.5M30S' is not an ISO 8601 duration: only the last (smallest) component may have a fraction",
    ],
    ['PTT1M', "'PTT1M' is not an ISO 8601 duration: it has more than one 'T'"],
    [
      'P1X',
      "'P1X' is not an ISO 8601 duration: unknown unit 'X' (W and D before the 'T'; H, M and S after it)",
    ],
    ['PT10 M', "'PT10 M' is not an ISO 8601 duration: expected a number and a unit at '10 M'"],
    ['P99999999999999D', "'P99999999999999D' is not an ISO 8601 duration: it is too long"],
  ])('%j is refused: %s', (text, message) => {
    expect(durationProblem(text)).toBe(message);
    let error: unknown;
    try {
      parseDuration(text);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error).toMatchObject({
      code: 'WORKFLOW.INVALID_DURATION',
      status: 400,
      message: `Invalid duration: ${message}`,
    });
  });

  test('a value that is not text', () => {
    expect(durationProblem(600)).toBe('must be an ISO 8601 duration such as PT10M');
  });
});

describe('formatDuration', () => {
  test.each([
    [600_000, 'PT10M'],
    [93_600_000, 'P1DT2H'],
    [500, 'PT0.5S'],
    [0, 'PT0S'],
    [1_209_600_000, 'P14D'],
    [90_061_001, 'P1DT1H1M1.001S'],
    [86_400_000, 'P1D'],
    [61_000, 'PT1M1S'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });

  test('refuses negative and non-finite values', () => {
    expect(() => formatDuration(-1)).toThrow('Invalid duration: -1 ms (must be a finite number ≥ 0)');
    expect(() => formatDuration(Number.NaN)).toThrow(WorkflowError);
  });
});
