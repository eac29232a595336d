/**
 * SqliteRunStore under real multi-process contention: several node processes on one file at once
 * (what the local host's workers and a second host would do). Within one process better-sqlite3 is
 * synchronous, so only separate processes truly interleave between a read and its compare-and-swap.
 * The store's sources are compiled with swc into a temp folder for the children to require.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { transformFileSync } from '@swc/core';
import { SqliteRunStore } from '../../src/store/sqlite-runs';

const root = path.resolve(__dirname, '../..');
const sources = [
  'src/errors.ts',
  'src/store/memory-catalog.ts',
  'src/store/payloads.ts',
  'src/store/runs.ts',
];
const modules = [...sources, 'src/store/memory-runs.ts', 'src/store/sqlite-runs.ts'];

const child = `
const { SqliteRunStore } = require('./src/store/sqlite-runs.js');
const [file, worker, n] = process.argv.slice(2);
(async () => {
  const store = new SqliteRunStore(file);
  const { run, created } = await store.createRun({
    workflowId: 'w', workflowVersion: '1', input: { count: 0 }, idempotencyKey: 'shared',
  });
  for (let i = 0; i < Number(n); i++) {
    await store.append(run.id, { type: 'step.delta', stepId: worker, data: { i } });
    await store.updateRun(run.id, (r) => { r.input.count++; });
    const tokens = { prompt: 1, completion: 1, total: 2 };
    await store.updateStep(run.id, worker, { attempts: i + 1, tokens });
  }
  store.close();
  process.stdout.write(JSON.stringify({ id: run.id, created }));
})().catch((err) => { console.error(err); process.exit(1); });
`;

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-runs-proc-'));
  for (const file of modules) {
    const { code } = transformFileSync(path.join(root, file), {
      jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
      module: { type: 'commonjs' },
    });
    const out = path.join(dir, file.replace(/\.ts$/, '.js'));
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, code);
  }
  fs.writeFileSync(path.join(dir, 'child.js'), child);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('keeps one run per key, gapless event ids and every update across 4 processes', async () => {
  const file = path.join(dir, 'runs.sqlite');
  new SqliteRunStore(file).close(); // the schema first, so the children do not race to create it
  const workers = ['w1', 'w2', 'w3', 'w4'];
  const perWorker = 150;
  const env = { ...process.env, NODE_PATH: path.join(root, 'node_modules') };
  const results = await Promise.all(
    workers.map((w) =>
      promisify(execFile)(process.execPath, ['child.js', file, w, String(perWorker)], { cwd: dir, env }),
    ),
  );
  const outcomes = results.map((r) => JSON.parse(r.stdout) as { id: string; created: boolean });
  expect(outcomes.filter((o) => o.created)).toHaveLength(1);
  const runId = outcomes[0]!.id;
  expect(outcomes.every((o) => o.id === runId)).toBe(true);

  const store = new SqliteRunStore(file);
  try {
    const total = workers.length * perWorker;
    const events = await store.read(runId);
    expect(events.map((e) => e.id)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    for (const w of workers) {
      const own = events.filter((e) => e.stepId === w).map((e) => (e.data as { i: number }).i);
      expect(own).toEqual(Array.from({ length: perWorker }, (_, i) => i)); // each writer's order kept
    }
    const run = (await store.getRun(runId))!;
    expect((run.input as { count: number }).count).toBe(total);
    expect(Object.values(run.steps).map((s) => s.attempts)).toEqual(workers.map(() => perWorker));
    expect(run.totals.tokens.total).toBe(workers.length * 2);
    expect((await store.listRuns()).items).toHaveLength(1);
  } finally {
    store.close();
  }
});
