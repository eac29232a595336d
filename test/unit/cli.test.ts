/** The host CLI's argument parsing and its usage errors. */
import * as path from 'node:path';
import { main, parseArgs } from '../../src/local-host/cli';

const APP = path.resolve('/some/app');
let savedPort: string | undefined;

beforeEach(() => {
  savedPort = process.env.PORT;
  delete process.env.PORT;
});
afterEach(() => {
  if (savedPort === undefined) delete process.env.PORT;
  else process.env.PORT = savedPort;
  jest.restoreAllMocks();
});

describe('parseArgs', () => {
  test('defaults', () => {
    expect(parseArgs([], APP)).toEqual({
      app: APP,
      port: 7071,
      verbose: false,
      quiet: false,
      drainMs: 10_000,
    });
  });

  test('the default port comes from PORT', () => {
    process.env.PORT = '8080';
    expect(parseArgs([], APP).port).toBe(8080);
  });

  test('--app and --data are resolved to absolute paths', () => {
    const o = parseArgs(['--app', 'rel/app', '--data', 'rel/data'], APP);
    expect(o.app).toBe(path.resolve('rel/app'));
    expect(o.data).toBe(path.resolve('rel/data'));
  });

  test('--port accepts 0-65535', () => {
    expect(parseArgs(['--port', '0'], APP).port).toBe(0);
    expect(parseArgs(['--port', '9000'], APP).port).toBe(9000);
    expect(parseArgs(['--port', '65535'], APP).port).toBe(65535);
  });

  test.each(['abc', '-1', '65536', '1.5'])('--port %p is rejected', (bad) => {
    expect(() => parseArgs(['--port', bad], APP)).toThrow(`--port must be 0-65535, not '${bad}'`);
  });

  // Bug: cli.ts checks Number(v), and Number('') is 0, so `--port ""` (e.g. `--port "$PORT"` with PORT
  // unset) silently listens on a random port instead of reporting the bad value.
  test('--port with an empty value is rejected', () => {
    expect(() => parseArgs(['--port', ''], APP)).toThrow("--port must be 0-65535, not ''");
  });

  test('--drain-timeout must be a number', () => {
    expect(() => parseArgs(['--drain-timeout', 'abc'], APP)).toThrow(/number of seconds/);
  });

  test('--drain-timeout is in seconds', () => {
    expect(parseArgs(['--drain-timeout', '2.5'], APP).drainMs).toBe(2500);
  });

  test('--verbose and --quiet set their flags', () => {
    expect(parseArgs(['--verbose'], APP)).toMatchObject({ verbose: true, quiet: false });
    expect(parseArgs(['--quiet'], APP)).toMatchObject({ verbose: false, quiet: true });
  });

  test('flags combine, later values win', () => {
    expect(parseArgs(['--port', '1', '--verbose', '--port', '2'], APP)).toMatchObject({
      port: 2,
      verbose: true,
    });
  });

  test.each(['--app', '--port', '--data', '--drain-timeout'])('%s without a value is an error', (flag) => {
    expect(() => parseArgs([flag], APP)).toThrow(`${flag} needs a value`);
  });

  test('an unknown option is an error', () => {
    expect(() => parseArgs(['--nope'], APP)).toThrow("unknown option '--nope'");
    expect(() => parseArgs(['stray'], APP)).toThrow("unknown option 'stray'");
  });

  test('--help and -h ask for the usage text (thrown, not returned)', () => {
    for (const flag of ['--help', '-h']) {
      let thrown: unknown;
      try {
        parseArgs(['--port', '1', flag, '--nope'], APP);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(Error);
      expect((thrown as Error).message).not.toMatch(/unknown option/);
    }
  });
});

describe('main', () => {
  test('a bad argument prints the error with usage and sets exit code 2', async () => {
    const saved = process.exitCode;
    const errors: string[] = [];
    jest.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      await main(['--port', 'abc'], APP);
      expect(process.exitCode).toBe(2);
    } finally {
      process.exitCode = saved;
    }
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^error: --port must be 0-65535, not 'abc'/);
    expect(errors[0]).toContain('Usage: npm run host --');
  });

  test('--help prints the usage and leaves the exit code alone', async () => {
    const saved = process.exitCode;
    const lines: string[] = [];
    jest.spyOn(console, 'log').mockImplementation((m: string) => void lines.push(m));
    try {
      await main(['--help'], APP);
      expect(process.exitCode).toBe(saved);
    } finally {
      process.exitCode = saved;
    }
    expect(lines.join('\n')).toContain('Usage: npm run host -- [--app DIR] [--port N]');
  });
});
