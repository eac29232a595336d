/**
 * Workflow benchmark: the built-in `agent-studio-pipeline` (Architect → Builder → review loop with the
 * Validator → Scribe) on the compiled app in a child local host, the offline model answering every call
 * after MODEL_MS. 200 runs at concurrency 100 (each client starts a run over HTTP and follows its SSE
 * events to the terminal one, then starts the next): wall time against the ideal — the model latency
 * along the critical path times the number of waves — and the orchestration overhead per step.
 * Run by `npm run bench`, or alone: `node dist/scripts/bench-workflows.js [--quick]` after a build.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT, spawnHost, waitForHttp } from '../test/helpers/child-host';

export interface WorkflowBenchRow {
  benchmark: string;
  result: string;
  target: string;
}

const MODEL_MS = 50;
const WORKFLOW = 'agent-studio-pipeline';
const INPUT = { topic: 'a REST API for todo items with authentication' };

interface StepRecord {
  status: string;
  attempts: number;
  startedAt?: string;
  completedAt?: string;
  durationMs?: number;
}

interface RunRecord {
  id: string;
  status: string;
  steps: Record<string, StepRecord>;
  totals: { durationMs: number };
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function request(
  agent: http.Agent,
  port: number,
  method: string,
  route: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: route,
        agent,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Starts a run and follows its event stream to the end; the run's latency as the client sees it. */
async function oneRun(agent: http.Agent, port: number): Promise<{ id: string; ms: number }> {
  const t0 = performance.now();
  const started = await request(agent, port, 'POST', '/api/v1/runs', { workflowId: WORKFLOW, input: INPUT });
  if (started.status !== 202) throw new Error(`start answered ${started.status}: ${started.text}`);
  const { id } = JSON.parse(started.text) as { id: string };
  const events = await request(agent, port, 'GET', `/api/v1/runs/${id}/events`);
  if (!/event: run\.completed/.test(events.text)) {
    throw new Error(`run ${id} did not complete: ${events.text.slice(-400)}`);
  }
  return { id, ms: performance.now() - t0 };
}

async function getRun(agent: http.Agent, port: number, id: string): Promise<RunRecord> {
  const res = await request(agent, port, 'GET', `/api/v1/runs/${id}`);
  return JSON.parse(res.text) as RunRecord;
}

/** Model calls along the critical path of a pipeline run: its steps are sequential. */
const modelCalls = (run: RunRecord): number => Object.values(run.steps).reduce((n, s) => n + s.attempts, 0);

export async function workflowsBenchmark(quick = false): Promise<WorkflowBenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lh-bench-workflows-'));
  const host = await spawnHost(ROOT, path.join(dir, 'data'), {
    LLM_PROVIDER: 'offline',
    OFFLINE_LATENCY_MS: String(MODEL_MS),
    OFFLINE_TOKEN_DELAY_MS: '0',
    // The model stands in for a remote service: do not let the client-side limiter queue the calls.
    LLM_MAX_CONCURRENCY: '1000',
    CATALOG_STORE: 'sqlite',
    CATALOG_SQLITE_PATH: path.join(dir, 'db', 'catalog.sqlite'),
    RUN_STORE: 'sqlite',
    RUN_SQLITE_PATH: path.join(dir, 'db', 'runs.sqlite'),
  });
  const total = quick ? 100 : 200;
  const concurrency = 100;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency * 2 });
  try {
    await waitForHttp(`${host.baseUrl}/api/health`, 30_000);
    // Warm-up (module loading, first compilation) and the shape of one run.
    const warm = await oneRun(agent, host.port);
    const calls = modelCalls(await getRun(agent, host.port, warm.id));
    const idealRun = calls * MODEL_MS;
    // One run on an idle host: the per-step overhead without contention.
    const solo: number[] = [];
    for (let i = 0; i < 5; i++) solo.push((await oneRun(agent, host.port)).ms);
    solo.sort((a, b) => a - b);

    let next = 0;
    const latencies: number[] = [];
    const ids: string[] = [];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next += 1;
          const r = await oneRun(agent, host.port);
          latencies.push(r.ms);
          ids.push(r.id);
        }
      }),
    );
    const wall = performance.now() - t0;
    const waves = Math.ceil(total / concurrency);
    const ideal = waves * idealRun;

    // Overhead per step: its duration beyond its model calls, plus the wait since the previous step.
    const stepOverhead: number[] = [];
    for (const id of ids) {
      const run = await getRun(agent, host.port, id);
      let previousEnd: number | undefined;
      const steps = Object.values(run.steps).sort(
        (a, b) => Date.parse(a.startedAt!) - Date.parse(b.startedAt!),
      );
      for (const s of steps) {
        const start = Date.parse(s.startedAt!);
        const end = Date.parse(s.completedAt!);
        const gap = previousEnd === undefined ? 0 : Math.max(0, start - previousEnd);
        stepOverhead.push(end - start - s.attempts * MODEL_MS + gap);
        previousEnd = end;
      }
    }
    stepOverhead.sort((a, b) => a - b);
    latencies.sort((a, b) => a - b);
    const ratio = wall / ideal;
    return [
      {
        benchmark: `workflow ${WORKFLOW}, ${total} runs at concurrency ${concurrency}, model ${MODEL_MS} ms/call`,
        result:
          `${(wall / 1000).toFixed(2)} s wall vs ideal ${(ideal / 1000).toFixed(2)} s ` +
          `(${waves} waves x ${calls} calls x ${MODEL_MS} ms) = ${ratio.toFixed(2)}x`,
        target: '<= 1.15x ideal',
      },
      {
        benchmark: `one ${WORKFLOW} run alone (client: start -> terminal SSE event), median of 5`,
        result: `${percentile(solo, 50).toFixed(0)} ms vs ideal ${idealRun} ms = ${(percentile(solo, 50) / idealRun).toFixed(2)}x`,
        target: 'informational',
      },
      {
        benchmark: 'workflow run latency at concurrency 100 (client: start -> terminal SSE event)',
        result:
          `p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms ` +
          `(model alone ${idealRun} ms)`,
        target: 'informational',
      },
      {
        benchmark: 'orchestration overhead per step (duration beyond model calls + wait since previous step)',
        result: `p50 ${percentile(stepOverhead, 50).toFixed(1)} ms, p99 ${percentile(stepOverhead, 99).toFixed(1)} ms`,
        target: 'informational',
      },
    ];
  } finally {
    agent.destroy();
    await host.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  workflowsBenchmark(process.argv.includes('--quick')).then(
    (rows) => rows.forEach((r) => console.log(`${r.benchmark}: ${r.result} (target ${r.target})`)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
