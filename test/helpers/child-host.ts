/**
 * Runs the compiled local host in a child process (crash tests, benchmarks): the real CLI, a real
 * process to SIGKILL, real HTTP on a free loopback port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const up2 = path.resolve(__dirname, '..', '..');
/** The project root, whether this file runs from source (jest) or from dist/. */
export const ROOT = path.basename(up2) === 'dist' ? path.dirname(up2) : up2;
export const DIST = path.join(ROOT, 'dist');
export const CLI = path.join(DIST, 'src', 'local-host', 'cli.js');

/**
 * A temp app folder whose package.json "main" points at a compiled fixture app under dist/. Its
 * host.json is the fixture's own, or the file `options.hostJson` names (e.g. the project's, for a
 * fixture that wraps the project's app).
 */
export function compiledFixtureApp(name: string, options: { hostJson?: string } = {}): string {
  const src = path.join(ROOT, 'test', 'fixtures', 'apps', name);
  const main = path.join(DIST, 'test', 'fixtures', 'apps', name, 'index.js');
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lh-${name}-`));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, private: true, main }));
  const hostJson = options.hostJson ?? path.join(src, 'host.json');
  if (fs.existsSync(hostJson)) fs.copyFileSync(hostJson, path.join(dir, 'host.json'));
  return dir;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface ChildHost {
  proc: ChildProcess;
  port: number;
  baseUrl: string;
  output: () => string;
  /** Resolves with the exit code/signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM: a graceful stop) unless the process already exited; resolves on exit. */
  stop: (signal?: NodeJS.Signals) => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function spawnHost(
  appDir: string,
  dataDir: string,
  env: NodeJS.ProcessEnv = {},
  extraArgs: string[] = [],
): Promise<ChildHost> {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [
      CLI,
      '--app',
      appDir,
      '--port',
      String(port),
      '--data',
      dataDir,
      '--quiet',
      // No AMQP endpoint unless asked: concurrent hosts must not fight over 5672.
      ...(extraArgs.some((a) => a.startsWith('--amqp')) ? [] : ['--no-amqp']),
      ...extraArgs,
    ],
    {
      env: { ...process.env, ...env, WEBSITE_HOSTNAME: `127.0.0.1:${port}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    return exited;
  };
  return { proc, port, baseUrl: `http://127.0.0.1:${port}`, output: () => out, exited, stop };
}

/** Polls until `url` answers (any status below 500) or the timeout passes. */
export async function waitForHttp(url: string, timeoutMs = 15_000, intervalMs = 5): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status < 500) return Date.now() - t0;
    } catch {
      // not listening yet
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
