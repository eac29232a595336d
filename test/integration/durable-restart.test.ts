/** State survives a host restart; stopping drains in-flight work; SIGTERM stops the CLI cleanly. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LocalHost } from '../../src/local-host/host';
import { silentLogger } from '../../src/local-host/log';
import { compiledFixtureApp, spawnHost, waitForHttp } from '../helpers/child-host';
import { DURABLE_APP, fixtureRegistry, tempDir } from '../helpers/durable-harness';

const api = (h: LocalHost): string => `${h.baseUrl}/runtime/webhooks/durabletask`;

function newHost(dataDir: string): LocalHost {
  return new LocalHost({
    appDir: DURABLE_APP,
    port: 0,
    dataDir,
    logger: silentLogger,
    printFunctions: false,
    registry: fixtureRegistry(),
  });
}

async function status(h: LocalHost, id: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${api(h)}/instances/${id}?showHistory=true`)).json()) as Record<
    string,
    unknown
  >;
}

test('instances waiting on timers and events resume after a restart; completed activities are not re-run', async () => {
  const dataDir = tempDir();
  const log = path.join(dataDir, 'exec.log');
  process.env.FIXTURE_EXEC_LOG = log;
  try {
    const a = newHost(dataDir);
    await a.start();
    await fetch(`${api(a)}/orchestrators/timer/r-timer`, { method: 'POST', body: '1500' });
    await fetch(`${api(a)}/orchestrators/chain/r-chain`, { method: 'POST', body: '["one"]' });
    await fetch(`${api(a)}/orchestrators/waitsForever/r-wait`, { method: 'POST' });
    await a.durable.whenIdle();
    expect((await status(a, 'r-chain')).runtimeStatus).toBe('Completed');
    await a.stop();

    const b = newHost(dataDir);
    await b.start();
    expect((await status(b, 'r-timer')).runtimeStatus).toBe('Running');
    expect(
      (await fetch(`${api(b)}/instances/r-wait/raiseEvent/go`, { method: 'POST', body: '"after restart"' }))
        .status,
    ).toBe(202);
    await b.durable.waitForCompletion('r-wait', 5000);
    await b.durable.waitForCompletion('r-timer', 5000);
    expect((await status(b, 'r-wait')).output).toBe('after restart');
    expect((await status(b, 'r-timer')).runtimeStatus).toBe('Completed');
    await b.stop();
    const hellos = fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('hello\t'));
    expect(hellos).toHaveLength(1);
  } finally {
    delete process.env.FIXTURE_EXEC_LOG;
  }
});

test('stop() lets an in-flight activity finish and commits its completion', async () => {
  const dataDir = tempDir();
  const a = newHost(dataDir);
  await a.start();
  await fetch(`${api(a)}/orchestrators/race/drain-1`, { method: 'POST' });
  await new Promise((r) => setTimeout(r, 2));
  await a.stop();
  const b = newHost(dataDir);
  await b.start();
  await b.durable.waitForCompletion('drain-1', 5000);
  const s = await status(b, 'drain-1');
  expect(s.output).toBe('work');
  await b.stop();
});

test('the CLI drains and exits 0 on SIGTERM', async () => {
  const host = await spawnHost(compiledFixtureApp('durable-app'), tempDir());
  await waitForHttp(`${host.baseUrl}/api/start/chain`, 15_000);
  await fetch(`${host.baseUrl}/runtime/webhooks/durabletask/orchestrators/timer/t1`, {
    method: 'POST',
    body: '200',
  });
  host.proc.kill('SIGTERM');
  const { code } = await host.exited;
  expect(code).toBe(0);
});

test('the CLI reports a port in use and exits 1', async () => {
  const first = await spawnHost(compiledFixtureApp('durable-app'), tempDir());
  await waitForHttp(`${first.baseUrl}/api/start/chain`, 15_000);
  const { spawn } = await import('node:child_process');
  const { CLI } = await import('../helpers/child-host');
  const second = spawn(
    process.execPath,
    [
      CLI,
      '--app',
      compiledFixtureApp('durable-app'),
      '--port',
      String(first.port),
      '--data',
      tempDir(),
      '--no-amqp',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  second.stdout.on('data', (d: Buffer) => (out += d.toString()));
  second.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => second.on('exit', (c) => r(c)));
  first.proc.kill('SIGKILL');
  await first.exited;
  expect(code).toBe(1);
  expect(out).toMatch(/port \d+ is in use/);
});
