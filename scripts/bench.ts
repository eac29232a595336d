/**
 * `npm run bench`: throughput, fan-out, cold start and memory of the embedded local host, printed as
 * a table. Informational: it measures, it does not fail. Options: --quick (smaller runs), --json FILE.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compiledFixtureApp, freePort, ROOT, spawnHost, waitForHttp } from '../test/helpers/child-host';
import { agentsBenchmark } from './bench-agents';
import { intakeBenchmark } from './bench-intake';
import { storesBenchmark } from './bench-stores';
import { workflowsBenchmark } from './bench-workflows';

interface Row {
  benchmark: string;
  result: string;
  target: string;
}

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function post(url: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: 'POST',
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  if (res.status >= 300) throw new Error(`POST ${url} → ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Polls the list API until every instance with the prefix reached a terminal state; returns their statuses. */
async function waitAllDone(
  base: string,
  prefix: string,
  count: number,
  timeoutMs: number,
): Promise<Record<string, unknown>[]> {
  const t0 = Date.now();
  for (;;) {
    const { body } = await getJson(
      `${base}/runtime/webhooks/durabletask/instances?instanceIdPrefix=${prefix}&runtimeStatus=Completed,Failed,Terminated&showInput=false`,
    );
    const list = body as unknown as Record<string, unknown>[];
    if (list.length >= count) return list;
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`only ${list.length}/${count} instances finished within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startMany(
  base: string,
  name: string,
  ids: string[],
  input: unknown,
  concurrency = 64,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++]!;
      await post(`${base}/runtime/webhooks/durabletask/orchestrators/${name}/${id}`, input);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function throughput(n: number): Promise<Row[]> {
  const host = await spawnHost(compiledFixtureApp('durable-app'), tmp('lh-bench-tp-'));
  try {
    await waitForHttp(`${host.baseUrl}/runtime/webhooks/durabletask/instances?top=1`);
    const ids = Array.from({ length: n }, (_, i) => `tp-${String(i).padStart(6, '0')}`);
    const t0 = Date.now();
    await startMany(host.baseUrl, 'sequence5', ids, undefined);
    const started = Date.now() - t0;
    const done = await waitAllDone(host.baseUrl, 'tp-', n, 600_000);
    const seconds = (Date.now() - t0) / 1000;
    const latencies = done
      .map((s) => Date.parse(String(s.lastUpdatedTime)) - Date.parse(String(s.createdTime)))
      .sort((a, b) => a - b);
    const failed = done.filter((s) => s.runtimeStatus !== 'Completed').length;
    const perSecond = (n * 5) / seconds;
    return [
      {
        benchmark: `${n} orchestrations × 5 sequential activities, started at once (HTTP), SQLite on`,
        result: `${perSecond.toFixed(0)} activity items/s (${seconds.toFixed(1)} s total, starts took ${(started / 1000).toFixed(1)} s${failed ? `, ${failed} FAILED` : ''})`,
        target: '≥ 1,500 items/s',
      },
      {
        benchmark: '  orchestration latency (created → completed)',
        result: `p50 ${(percentile(latencies, 50) / 1000).toFixed(2)} s, p99 ${(percentile(latencies, 99) / 1000).toFixed(2)} s`,
        target: 'report',
      },
    ];
  } finally {
    host.proc.kill('SIGKILL');
    await host.exited;
  }
}

async function fanOut(width: number): Promise<Row> {
  const host = await spawnHost(compiledFixtureApp('durable-app'), tmp('lh-bench-fan-'));
  try {
    await waitForHttp(`${host.baseUrl}/runtime/webhooks/durabletask/instances?top=1`);
    const t0 = Date.now();
    await post(`${host.baseUrl}/runtime/webhooks/durabletask/orchestrators/fanOut/fan-1`, width);
    const [s] = await waitAllDone(host.baseUrl, 'fan-1', 1, 600_000);
    const ms = Date.now() - t0;
    return {
      benchmark: `one orchestration fanning out ${width} activities (Task.all)`,
      result: `${(ms / 1000).toFixed(2)} s (${String(s?.runtimeStatus)})`,
      target: 'report',
    };
  } finally {
    host.proc.kill('SIGKILL');
    await host.exited;
  }
}

async function coldStart(runs: number): Promise<Row> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const port = await freePort();
    const t0 = Date.now();
    const host = await spawnHost(ROOT, tmp('lh-bench-cold-'), { PORT: String(port) });
    try {
      await waitForHttp(`${host.baseUrl}/api/health`, 20_000, 2);
      times.push(Date.now() - t0);
    } finally {
      host.proc.kill('SIGKILL');
      await host.exited;
    }
  }
  times.sort((a, b) => a - b);
  return {
    benchmark: `cold start: process start → first 200 from /api/health (${runs} runs)`,
    result: `median ${percentile(times, 50)} ms, max ${times[times.length - 1]} ms`,
    target: '≤ 1,000 ms',
  };
}

function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

async function memory(n: number): Promise<Row> {
  const host = await spawnHost(compiledFixtureApp('durable-app'), tmp('lh-bench-mem-'));
  try {
    await waitForHttp(`${host.baseUrl}/runtime/webhooks/durabletask/instances?top=1`);
    const ids = Array.from({ length: n }, (_, i) => `mem-${String(i).padStart(6, '0')}`);
    await startMany(host.baseUrl, 'waitsForever', ids, undefined);
    // Wait until every instance ran its first episode and is waiting for its event.
    for (;;) {
      const { body } = await getJson(
        `${host.baseUrl}/runtime/webhooks/durabletask/instances?instanceIdPrefix=mem-&runtimeStatus=Running&showInput=false`,
      );
      if ((body as unknown as unknown[]).length >= n) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    const mb = rssOf(host.proc.pid!);
    return {
      benchmark: `RSS with ${n} orchestrations waiting on external events`,
      result: `${mb.toFixed(0)} MB`,
      target: '≤ 300 MB',
    };
  } finally {
    host.proc.kill('SIGKILL');
    await host.exited;
  }
}

function printTable(rows: Row[]): void {
  const w = [
    Math.max(...rows.map((r) => r.benchmark.length), 9),
    Math.max(...rows.map((r) => r.result.length), 6),
    16,
  ];
  const line = (a: string, b: string, c: string): string =>
    `| ${a.padEnd(w[0]!)} | ${b.padEnd(w[1]!)} | ${c.padEnd(w[2]!)} |`;
  console.log(line('benchmark', 'result', 'target'));
  console.log(`|${'-'.repeat(w[0]! + 2)}|${'-'.repeat(w[1]! + 2)}|${'-'.repeat(w[2]! + 2)}|`);
  for (const r of rows) console.log(line(r.benchmark, r.result, r.target));
}

export async function main(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const jsonAt = args.indexOf('--json');
  console.log(
    `Benchmarking the local host on ${os.cpus().length} cores, Node ${process.version}${quick ? ' (quick)' : ''}...`,
  );
  const rows: Row[] = [];
  const step = async (label: string, fn: () => Promise<Row | Row[]>): Promise<void> => {
    process.stdout.write(`  ${label}...\n`);
    const r = await fn();
    rows.push(...(Array.isArray(r) ? r : [r]));
  };
  await step('cold start', () => coldStart(quick ? 3 : 5));
  await step('throughput', () => throughput(quick ? 1000 : 5000));
  await step('fan-out', () => fanOut(1000));
  await step('memory', () => memory(1000));
  await step('agent API', () => agentsBenchmark(quick));
  await step('workflows', () => workflowsBenchmark(quick));
  await step('job intake', () => intakeBenchmark(quick));
  await step('stores (informational: SQLite vs the Cosmos DB stand-in)', async () => {
    await storesBenchmark((line) => console.log(`    ${line}`));
    return [];
  });
  console.log('');
  printTable(rows);
  if (jsonAt >= 0 && args[jsonAt + 1]) fs.writeFileSync(args[jsonAt + 1]!, JSON.stringify(rows, null, 2));
}
