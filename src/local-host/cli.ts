/**
 * `npm run host -- [--app DIR] [--port N] [--amqp-port N|--no-amqp] [--data DIR] [--verbose|--quiet]`:
 * runs a Node v4 Functions app on the embedded local host until SIGINT/SIGTERM, then drains and exits.
 */
import * as path from 'node:path';
import { LocalHost } from './host';
import { createLogger } from './log';
import { AmqpPortInUseError } from './servicebus/amqp/server';

export interface CliOptions {
  app: string;
  port: number;
  /** Port of the Service Bus AMQP endpoint (0: a free one); null turns it off. */
  amqpPort: number | null;
  data?: string;
  verbose: boolean;
  quiet: boolean;
  drainMs: number;
}

export function parseArgs(argv: string[], defaultApp: string): CliOptions {
  const o: CliOptions = {
    app: defaultApp,
    port: process.env.PORT ? parsePort(process.env.PORT, 'PORT') : 7071,
    amqpPort: 5672,
    verbose: false,
    quiet: false,
    drainMs: 10_000,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--app':
        o.app = path.resolve(value());
        break;
      case '--port': {
        o.port = parsePort(value(), '--port');
        break;
      }
      case '--amqp-port':
        o.amqpPort = parsePort(value(), '--amqp-port');
        break;
      case '--no-amqp':
        o.amqpPort = null;
        break;
      case '--data':
        o.data = path.resolve(value());
        break;
      case '--drain-timeout': {
        const v = value();
        const seconds = /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
        if (Number.isNaN(seconds)) throw new Error(`--drain-timeout must be a number of seconds, not '${v}'`);
        o.drainMs = seconds * 1000;
        break;
      }
      case '--verbose':
        o.verbose = true;
        break;
      case '--quiet':
        o.quiet = true;
        break;
      case '--help':
      case '-h':
        throw new HelpRequested();
      default:
        throw new Error(`unknown option '${arg}'`);
    }
  }
  return o;
}

class HelpRequested extends Error {}

function parsePort(v: string, what: string): number {
  const port = /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`${what} must be 0-65535, not '${v}'`);
  return port;
}

const USAGE = `Usage: npm run host -- [--app DIR] [--port N] [--amqp-port N|--no-amqp] [--data DIR]
                       [--drain-timeout SECONDS] [--verbose|--quiet]

Runs a Node.js v4 Azure Functions app (package.json "main", host.json, local.settings.json) with
HTTP triggers, Durable Functions, Service Bus and timer triggers, persisted under --data (default
DIR/.data).

  --port N          HTTP port (default 7071, or $PORT)
  --amqp-port N     Service Bus AMQP endpoint on 127.0.0.1 for @azure/service-bus clients (default
                    5672; 0 picks a free port). Connection string: Endpoint=sb://127.0.0.1:N;
                    SharedAccessKeyName=local;SharedAccessKey=local;UseDevelopmentEmulator=true
  --no-amqp         no Service Bus AMQP endpoint`;

export async function main(argv: string[], defaultApp: string): Promise<void> {
  let opts: CliOptions;
  try {
    opts = parseArgs(argv, defaultApp);
  } catch (err) {
    if (err instanceof HelpRequested) {
      console.log(USAGE);
      return;
    }
    console.error(`error: ${(err as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const log = createLogger({ verbose: opts.verbose, quiet: opts.quiet });
  const host = new LocalHost({
    appDir: opts.app,
    port: opts.port,
    ...(opts.amqpPort !== null ? { amqpPort: opts.amqpPort } : {}),
    dataDir: opts.data,
    logger: log,
    drainTimeoutMs: opts.drainMs,
  });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      log.warn(`${signal} again: exiting without draining`);
      process.exit(130);
    }
    stopping = true;
    log.info(`${signal} received: draining in-flight work (up to ${opts.drainMs / 1000}s)...`);
    host.stop().then(
      () => {
        log.info('Host stopped.');
        process.exit(0);
      },
      (err: unknown) => {
        log.error(`stop failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  try {
    await host.start();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    log.error(
      e instanceof AmqpPortInUseError
        ? e.message
        : e.code === 'EADDRINUSE'
          ? `port ${opts.port} is in use: choose another with --port N`
          : (e.stack ?? String(e)),
    );
    await host.stop().catch(() => undefined);
    process.exit(1);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2), path.resolve(__dirname, '..', '..', '..'));
}
