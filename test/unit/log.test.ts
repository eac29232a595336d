/** The host's console logger: levels, quiet/verbose, banner and library system messages. */
import { createLogger, silentLogger } from '../../src/local-host/log';

function capture(options: { verbose?: boolean; quiet?: boolean } = {}) {
  const lines: string[] = [];
  const log = createLogger({ ...options, write: (l) => lines.push(l) });
  return { log, lines };
}
/** Lines without their `[ISO time] ` prefix. */
const bare = (lines: string[]): string[] =>
  lines.map((l) => l.replace(/^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] /, ''));

describe('createLogger', () => {
  test('by default prints info, warnings and errors with a timestamp, not debug', () => {
    const { log, lines } = capture();
    log.debug('dbg');
    log.info('hello');
    log.warn('careful');
    log.error('broken');
    expect(bare(lines)).toEqual(['hello', 'warning: careful', 'error: broken']);
    for (const l of lines) expect(l).toMatch(/^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] /);
  });

  test('verbose also prints debug', () => {
    const { log, lines } = capture({ verbose: true });
    log.debug('dbg');
    log.info('hello');
    expect(bare(lines)).toEqual(['dbg', 'hello']);
  });

  test('quiet prints only warnings and errors', () => {
    const { log, lines } = capture({ quiet: true });
    log.debug('dbg');
    log.info('hello');
    log.warn('careful');
    log.error('broken');
    expect(bare(lines)).toEqual(['warning: careful', 'error: broken']);
  });

  test('the banner is printed as is, unless quiet', () => {
    const normal = capture();
    normal.log.banner(['Functions:', '  hello: [GET] http://127.0.0.1:7071/api/hello']);
    expect(normal.lines).toEqual(['Functions:', '  hello: [GET] http://127.0.0.1:7071/api/hello']);
    const quiet = capture({ quiet: true });
    quiet.log.banner(['Functions:']);
    expect(quiet.lines).toEqual([]);
  });

  test('function logs are prefixed with the function name when there is one', () => {
    const { log, lines } = capture();
    log.fn('information', 'user', 'hello', 'processed');
    log.fn('information', 'user', undefined, 'no name');
    expect(bare(lines)).toEqual(['hello: processed', 'no name']);
  });

  test('function logs follow the level threshold', () => {
    const { log, lines } = capture();
    log.fn('trace', 'user', 'f', 'trace');
    log.fn('debug', 'user', 'f', 'debug');
    log.fn('critical', 'user', 'f', 'critical');
    log.fn('none', 'user', 'f', 'none');
    expect(bare(lines)).toEqual(['f: critical', 'f: none']);
    const quiet = capture({ quiet: true });
    quiet.log.fn('information', 'user', 'f', 'info');
    quiet.log.fn('warning', 'user', 'f', 'warn');
    expect(bare(quiet.lines)).toEqual(['f: warn']);
  });

  test('system messages are hidden below warning unless verbose', () => {
    const { log, lines } = capture();
    log.fn('information', 'system', 'f', 'sys info');
    log.fn('debug', 'system', 'f', 'sys debug');
    log.fn('warning', 'system', 'f', 'sys warn');
    log.fn('error', 'system', undefined, 'sys error');
    expect(bare(lines)).toEqual(['f: sys warn', 'sys error']);
  });

  test('verbose shows system messages of every level', () => {
    const { log, lines } = capture({ verbose: true });
    log.fn('trace', 'system', 'f', 'sys trace');
    log.fn('information', 'system', 'f', 'sys info');
    expect(bare(lines)).toEqual(['f: sys trace', 'f: sys info']);
  });

  test('writes to stdout when no writer is given', () => {
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      createLogger().info('to stdout');
      expect(spy).toHaveBeenCalledTimes(1);
      expect(String(spy.mock.calls[0]![0])).toMatch(/\] to stdout\n$/);
    } finally {
      spy.mockRestore();
    }
  });
});

test('silentLogger accepts every call and prints nothing', () => {
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    silentLogger.info('x');
    silentLogger.warn('x');
    silentLogger.error('x');
    silentLogger.debug('x');
    silentLogger.banner(['x']);
    silentLogger.fn('error', 'user', 'f', 'x');
    expect(spy).not.toHaveBeenCalled();
  } finally {
    spy.mockRestore();
  }
});
