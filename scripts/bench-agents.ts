/**
 * Agent API benchmark: the compiled app in a child local host with the offline model (no latency),
 * so what is measured is our HTTP path — host, library, validation, runner, serialization — not a
 * model. POST /api/agents/execute: a closed loop of keep-alive clients (saturation throughput) and an
 * open loop offering 1,000 req/s (latency at the target rate); SSE time to first event.
 * Run by `npm run bench`, or alone: `node dist/scripts/bench-agents.js [--quick]` after a build.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT, spawnHost, waitForHttp } from '../test/helpers/child-host';

export interface AgentBenchRow {
  benchmark: string;
  result: string;
  target: string;
}

/** About 200 characters, as a typical task. */
const PROMPT =
  'Design a microservices architecture for an e-commerce platform serving 100K daily active users on ' +
  'Azure: services, data stores, messaging, caching and how orders, payments and inventory stay consistent.';

interface Exchange {
  status: number;
  /** ms from sending the request to its first body byte (undefined when there was no body). */
  firstByteMs?: number;
  totalMs: number;
}

/** One request over the keep-alive agent; the body is read to its end. */
function exchange(agent: http.Agent, port: number, route: string, body: string): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: route,
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let firstByteMs: number | undefined;
        res.on('data', () => (firstByteMs ??= performance.now() - t0));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, firstByteMs, totalMs: performance.now() - t0 }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

interface LoadResult {
  requests: number;
  failed: number;
  seconds: number;
  latencies: number[];
}

/** `clients` loops, each sending its next request when the previous one is answered, for `ms`. */
async function closedLoop(
  agent: http.Agent,
  port: number,
  body: string,
  clients: number,
  ms: number,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let failed = 0;
  const t0 = performance.now();
  const deadline = t0 + ms;
  const client = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const r = await exchange(agent, port, '/api/agents/execute', body);
      if (r.status !== 200) failed++;
      latencies.push(r.totalMs);
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  return {
    requests: latencies.length,
    failed,
    seconds: (performance.now() - t0) / 1000,
    latencies: latencies.sort((a, b) => a - b),
  };
}

/**
 * `clients` clients together offering `rate` requests/s (each sends on its own schedule, whether or not
 * earlier answers arrived): latency at a given load, without the queueing of a saturated closed loop.
 */
async function openLoop(
  agent: http.Agent,
  port: number,
  body: string,
  clients: number,
  rate: number,
  ms: number,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let failed = 0;
  const interval = (1000 * clients) / rate;
  const t0 = performance.now();
  const client = async (offset: number): Promise<void> => {
    const pending: Promise<void>[] = [];
    for (let next = t0 + offset; next < t0 + ms; next += interval) {
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      pending.push(
        exchange(agent, port, '/api/agents/execute', body).then((r) => {
          if (r.status !== 200) failed++;
          latencies.push(r.totalMs);
        }),
      );
    }
    await Promise.all(pending);
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => client((i * interval) / clients)));
  return {
    requests: latencies.length,
    failed,
    seconds: (performance.now() - t0) / 1000,
    latencies: latencies.sort((a, b) => a - b),
  };
}

export async function agentsBenchmark(quick = false): Promise<AgentBenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lh-bench-agents-'));
  const host = await spawnHost(ROOT, path.join(dir, 'data'), {
    LLM_PROVIDER: 'offline',
    OFFLINE_LATENCY_MS: '0',
    OFFLINE_TOKEN_DELAY_MS: '0',
    CATALOG_STORE: 'sqlite',
    CATALOG_SQLITE_PATH: path.join(dir, 'catalog', 'catalog.sqlite'),
  });
  const clients = 50;
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const body = JSON.stringify({ agent_type: 'Architect', prompt: PROMPT });
  try {
    await waitForHttp(`${host.baseUrl}/api/health`, 30_000);
    const check = await exchange(agent, host.port, '/api/agents/execute', body);
    if (check.status !== 200)
      throw new Error(`POST /api/agents/execute answered ${check.status}:\n${host.output()}`);

    await closedLoop(agent, host.port, body, clients, 1000); // warm-up: JIT, caches, sockets
    const load = await closedLoop(agent, host.port, body, clients, quick ? 2000 : 5000);
    const rps = load.requests / load.seconds;
    const atRate = await openLoop(agent, host.port, body, clients, 1000, quick ? 2000 : 5000);
    const achieved = atRate.requests / atRate.seconds;

    const firsts: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await exchange(agent, host.port, '/api/agents/stream', body);
      if (r.status !== 200 || r.firstByteMs === undefined) throw new Error(`stream answered ${r.status}`);
      firsts.push(r.firstByteMs);
    }
    firsts.sort((a, b) => a - b);
    return [
      {
        benchmark: `POST /api/agents/execute (Architect, ${PROMPT.length}-char prompt), ${clients} keep-alive clients, ${load.seconds.toFixed(0)} s`,
        result: `${rps.toFixed(0)} req/s (${load.requests} requests${load.failed ? `, ${load.failed} FAILED` : ''})`,
        target: '≥ 1,000 req/s',
      },
      {
        benchmark: '  latency at saturation (closed loop: 50 requests always in flight)',
        result: `p50 ${percentile(load.latencies, 50).toFixed(1)} ms, p99 ${percentile(load.latencies, 99).toFixed(1)} ms`,
        target: 'report',
      },
      {
        benchmark: `POST /api/agents/execute, ${clients} clients offering 1,000 req/s together (open loop)`,
        result: `${achieved.toFixed(0)} req/s served, p50 ${percentile(atRate.latencies, 50).toFixed(1)} ms, p99 ${percentile(atRate.latencies, 99).toFixed(1)} ms${atRate.failed ? `, ${atRate.failed} FAILED` : ''}`,
        target: '1,000 req/s with p99 ≤ 20 ms',
      },
      {
        benchmark: 'SSE time to first event, POST /api/agents/stream (20 requests)',
        result: `median ${percentile(firsts, 50).toFixed(1)} ms, max ${firsts[firsts.length - 1]!.toFixed(1)} ms`,
        target: 'report',
      },
    ];
  } finally {
    agent.destroy();
    host.proc.kill('SIGKILL');
    await host.exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  agentsBenchmark(process.argv.includes('--quick'))
    .then((rows) => rows.forEach((r) => console.log(`${r.benchmark}: ${r.result} (target ${r.target})`)))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
