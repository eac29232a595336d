/** Console output of the local host, in the spirit of `func start`. */
import type { LogCategory, LogLevel } from './worker/core';

export interface HostLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
  /** Lines printed as they are (the start-up banner), unless quiet. */
  banner(lines: string[]): void;
  /** A log line from (or about) a function invocation. */
  fn(level: LogLevel, category: LogCategory, functionName: string | undefined, message: string): void;
}

export interface LoggerOptions {
  verbose?: boolean;
  quiet?: boolean;
  write?: (line: string) => void;
}

const RANK: Record<LogLevel, number> = {
  trace: 0,
  debug: 1,
  information: 2,
  warning: 3,
  error: 4,
  critical: 5,
  none: 6,
};

export function createLogger(options: LoggerOptions = {}): HostLogger {
  const write = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const min = options.quiet ? RANK.warning : options.verbose ? RANK.trace : RANK.information;
  const stamp = (): string => new Date().toISOString();
  const out = (level: LogLevel, text: string): void => {
    if (RANK[level] >= min) write(`[${stamp()}] ${text}`);
  };
  return {
    info: (m) => out('information', m),
    warn: (m) => out('warning', `warning: ${m}`),
    error: (m) => out('error', `error: ${m}`),
    debug: (m) => out('debug', m),
    banner: (lines) => {
      if (!options.quiet) for (const l of lines) write(l);
    },
    fn: (level, category, functionName, message) => {
      // System messages from the library are noise unless verbose or a problem.
      if (category === 'system' && RANK[level] < RANK.warning && !options.verbose) return;
      out(level, functionName ? `${functionName}: ${message}` : message);
    },
  };
}

export const silentLogger: HostLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
  banner: () => undefined,
  fn: () => undefined,
};
