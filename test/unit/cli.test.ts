/** The host CLI's argument parsing and its usage errors. */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
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
      amqpPort: 5672,
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

  test('--amqp-port accepts 0-65535 and --no-amqp turns the endpoint off', () => {
    expect(parseArgs(['--amqp-port', '0'], APP).amqpPort).toBe(0);
    expect(parseArgs(['--amqp-port', '5673'], APP).amqpPort).toBe(5673);
    expect(parseArgs(['--no-amqp'], APP).amqpPort).toBeNull();
    expect(parseArgs(['--no-amqp', '--amqp-port', '5674'], APP).amqpPort).toBe(5674);
    expect(parseArgs(['--amqp-port', '5674', '--no-amqp'], APP).amqpPort).toBeNull();
  });

  test('PORT does not move the AMQP port', () => {
    process.env.PORT = '8080';
    expect(parseArgs([], APP).amqpPort).toBe(5672);
  });

  test.each(['abc', '-1', '65536', ''])('--amqp-port %p is rejected', (bad) => {
    expect(() => parseArgs(['--amqp-port', bad], APP)).toThrow(`--amqp-port must be 0-65535, not '${bad}'`);
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

  test.each(['--app', '--port', '--amqp-port', '--data', '--drain-timeout'])(
    '%s without a value is an error',
    (flag) => {
      expect(() => parseArgs([flag], APP)).toThrow(`${flag} needs a value`);
    },
  );

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
    const usage = lines.join('\n');
    expect(usage).toContain('Usage: npm run host -- [--app DIR] [--port N]');
    expect(usage).toContain('--amqp-port N');
    expect(usage).toContain('--no-amqp');
    expect(usage).toContain('UseDevelopmentEmulator=true');
  });

  test('a taken AMQP port fails the start with a message naming the port and the flags', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-amqp-'));
    const app = path.join(__dirname, '../fixtures/apps/amqp-app');
    const out: string[] = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    const exit = jest.spyOn(process, 'exit').mockImplementation(() => undefined as never);
    const signals = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') };
    try {
      await main(
        ['--app', app, '--port', '0', '--amqp-port', String(port), '--data', dataDir, '--quiet'],
        APP,
      );
    } finally {
      for (const [signal, before] of Object.entries(signals)) {
        for (const l of process.listeners(signal as NodeJS.Signals)) {
          if (!before.includes(l)) process.removeListener(signal, l);
        }
      }
      await new Promise((resolve) => blocker.close(resolve));
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
    expect(exit).toHaveBeenCalledWith(1);
    const text = out.join('');
    expect(text).toContain(`The Service Bus AMQP port ${port} is in use`);
    expect(text).toContain('--amqp-port N');
    expect(text).toContain('--no-amqp');
  });
});
