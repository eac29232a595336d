/**
 * Run store benchmark: operations per second of the SQLite adapter (a WAL file in a temp folder) and
 * the Cosmos DB adapter (the in-process @vercel/cosmosdb-server stand-in over loopback HTTPS, or HTTP
 * without openssl), on a workload shaped like the conformance suite: keyed run creation, step
 * updates, numbered event batches, log reads and run reads, each with a few concurrent callers, and
 * one run updated by many callers at once. The Cosmos figures measure the adapter, the SDK and HTTP
 * on this machine, not Azure's latency or RU throughput.
 * Run alone: `node dist/scripts/bench-stores.js` after a build.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CosmosRunStore } from '../src/store/cosmos/runs';
import type { EventLog, RunRecord, RunStore } from '../src/store/runs';
import { SqliteRunStore } from '../src/store/sqlite-runs';
import { startCosmosServer } from '../test/helpers/cosmos-server';

type Store = RunStore & EventLog;

const RUNS = 200;
const CONCURRENCY = 8;

interface Measure {
  operation: string;
  opsPerSecond: number;
}

/** Runs `op(0..n-1)` with `concurrency` callers; answers operations per second. */
async function rate(n: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await op(next++);
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

async function workload(store: Store): Promise<Measure[]> {
  const ids: string[] = [];
  const steps = ['design', 'build', 'review', 'document'];
  const out: Measure[] = [];
  const add = async (operation: string, n: number, op: (i: number) => Promise<unknown>, c = CONCURRENCY) =>
    out.push({ operation, opsPerSecond: await rate(n, c, op) });

  await add(`createRun (keyed, ${RUNS} runs)`, RUNS, async (i) => {
    const { run } = await store.createRun({
      workflowId: 'design-and-document',
      workflowVersion: '1',
      input: { topic: `topic ${i}` },
      idempotencyKey: `bench-${i}`,
      steps: Object.fromEntries(
        steps.map((id) => [id, { id, kind: 'agent', status: 'pending', attempts: 0 }]),
      ),
    });
    ids[i] = run.id;
  });
  await add(`updateStep (${steps.length} per run)`, RUNS * steps.length, (i) =>
    store.updateStep(ids[i % RUNS]!, steps[Math.floor(i / RUNS)]!, {
      status: 'completed',
      attempts: 1,
      tokens: { prompt: 100, completion: 200, total: 300 },
    }),
  );
  await add('appendMany (5 batches of 4 events per run)', RUNS * 5, (i) =>
    store.appendMany(
      ids[i % RUNS]!,
      Array.from({ length: 4 }, (_, k) => ({
        type: 'step.delta',
        stepId: 'design',
        data: { delta: `chunk ${k}` },
      })),
      { batch: Math.floor(i / RUNS) + 1 },
    ),
  );
  await add('read (a whole 20-event log)', RUNS * 2, (i) => store.read(ids[i % RUNS]!));
  await add('getRun', RUNS * 2, (i) => store.getRun(ids[i % RUNS]!));
  const { run: hot } = await store.createRun({
    workflowId: 'hot',
    workflowVersion: '1',
    input: { count: 0 },
  });
  await add(
    'updateRun, one run, 16 callers',
    100,
    () => store.updateRun(hot.id, (r: RunRecord) => void (r.input as { count: number }).count++),
    16,
  );
  const final = (await store.getRun(hot.id))!;
  if ((final.input as { count: number }).count !== 100) throw new Error('lost update in the benchmark');
  return out;
}

/** Measures both adapters and logs a table (operations per second, higher is better). */
export async function storesBenchmark(log: (line: string) => void): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-stores-'));
  const server = await startCosmosServer();
  let sqlite: Measure[];
  let cosmos: Measure[];
  const lite = new SqliteRunStore(path.join(dir, 'runs.sqlite'));
  try {
    sqlite = await workload(lite);
  } finally {
    lite.close();
  }
  const remote = new CosmosRunStore({ client: server.client(), database: 'bench' });
  try {
    cosmos = await workload(remote);
  } finally {
    remote.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const header = [
    'run store operation',
    'SQLite ops/s',
    `Cosmos stand-in (${server.tls ? 'https' : 'http'}) ops/s`,
  ];
  const rows = sqlite.map((m, i) => [
    m.operation,
    m.opsPerSecond.toFixed(0),
    cosmos[i]!.opsPerSecond.toFixed(0),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((cell, c) => (c ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join(' | ')} |`;
  log(`Run stores, ${CONCURRENCY} concurrent callers unless noted (Node ${process.version}):`);
  log(line(header));
  log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) log(line(row));
}

if (require.main === module) {
  storesBenchmark((line) => console.log(line)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
