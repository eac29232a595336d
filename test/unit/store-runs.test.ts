/**
 * The RunStore + EventLog contract, run against every adapter (memory, SQLite, Cosmos DB on cosmosdb-server):
 * idempotent creates, keyset paging, compare-and-swap updates, outputs by reference, gapless event ids
 * and gapless subscriptions. Each backend opens two handles on the same data (`a`, `b`): the memory
 * adapter hands out one instance twice, the SQLite adapter two connections on one file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { CosmosRunStore } from '../../src/store/cosmos/runs';
import { MemoryRunStore } from '../../src/store/memory-runs';
import { isOutputRef, summarize } from '../../src/store/payloads';
import type { EventLog, NewRun, RunEvent, RunRecord, RunStore } from '../../src/store/runs';
import { isTerminalEvent, isTerminalStatus } from '../../src/store/runs';
import { SqliteRunStore } from '../../src/store/sqlite-runs';
import { startCosmosServer, type CosmosTestServer } from '../helpers/cosmos-server';

type Store = RunStore & EventLog;
interface Backend {
  a: Store;
  b: Store;
  close(): void;
}

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-runs-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
const dbFile = (): string => path.join(dir, 'runs.sqlite');

let cosmos: CosmosTestServer;
beforeAll(async () => (cosmos = await startCosmosServer()));
afterAll(() => cosmos.close());

const adapters: [string, () => Backend][] = [
  [
    'memory',
    () => {
      const store = new MemoryRunStore();
      return { a: store, b: store, close: () => undefined };
    },
  ],
  [
    'sqlite',
    () => {
      const a = new SqliteRunStore(dbFile(), { pollMs: 20 });
      const b = new SqliteRunStore(dbFile(), { pollMs: 20 });
      return { a, b, close: () => (a.close(), b.close()) };
    },
  ],
  [
    'cosmos',
    () => {
      // Two stores (two clients) on one fresh database of the in-process stand-in.
      const database = cosmos.freshDatabase();
      const a = new CosmosRunStore({ client: cosmos.client(), database, pollMs: 20 });
      const b = new CosmosRunStore({ client: cosmos.client(), database, pollMs: 20 });
      return { a, b, close: () => (a.close(), b.close()) };
    },
  ],
];

const newRun = (extra: Partial<NewRun> = {}): NewRun => ({
  workflowId: 'design-and-document',
  workflowVersion: '1',
  input: { topic: 'a URL shortener', count: 0 },
  ...extra,
});

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));
const range = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => i + from);
const count = (run: RunRecord): number => (run.input as { count: number }).count;
const bump = (run: RunRecord): void => void (run.input as { count: number }).count++;

/** Resolves once `events` holds `n` events (or rejects after 5 s). */
async function until(events: RunEvent[], n: number): Promise<void> {
  for (const start = Date.now(); events.length < n; await tick()) {
    if (Date.now() - start > 5000) throw new Error(`got ${events.length} of ${n} events`);
  }
}

describe.each(adapters)('RunStore + EventLog contract: %s', (_name, open) => {
  let backend: Backend;
  let store: Store;
  let other: Store;
  beforeEach(() => {
    backend = open();
    ({ a: store, b: other } = backend);
  });
  afterEach(() => backend.close());

  describe('runs', () => {
    it('creates a run with the store-owned fields, and reads it back', async () => {
      const { run, created } = await store.createRun(newRun({ tenantId: 't1' }));
      expect(created).toBe(true);
      expect(run).toMatchObject({ ...newRun(), tenantId: 't1', status: 'pending', steps: {} });
      expect(run.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(run.totals).toEqual({
        tokens: { prompt: 0, completion: 0, total: 0 },
        cost: { currency: 'USD', total: 0 },
        durationMs: 0,
      });
      expect(typeof run.etag).toBe('string');
      expect(run.updatedAt).toBe(run.createdAt);
      expect(await other.getRun(run.id)).toEqual(run);
      expect(await store.getRun('missing')).toBeUndefined();
    });

    it('rejects a taken id without an idempotency key (RUN.EXISTS)', async () => {
      await store.createRun(newRun({ id: 'r1' }));
      await expect(other.createRun(newRun({ id: 'r1' }))).rejects.toMatchObject({
        code: 'RUN.EXISTS',
        status: 409,
      });
    });

    it('is idempotent by key within a tenant: the existing run comes back with created: false', async () => {
      const first = await store.createRun(newRun({ id: 'r1', idempotencyKey: 'k' }));
      const again = await other.createRun(newRun({ id: 'r2', idempotencyKey: 'k', input: { other: 1 } }));
      expect(again).toEqual({ run: first.run, created: false });
      const elsewhere = await store.createRun(newRun({ id: 'r3', idempotencyKey: 'k', tenantId: 't2' }));
      expect(elsewhere.created).toBe(true);
      expect(await store.getRun('r2')).toBeUndefined();
    });

    it('makes one run of two concurrent creates with one key; both callers see its id', async () => {
      const results = await Promise.all([
        store.createRun(newRun({ idempotencyKey: 'same' })),
        other.createRun(newRun({ idempotencyKey: 'same' })),
        store.createRun(newRun({ idempotencyKey: 'same' })),
      ]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.run.id)).size).toBe(1);
      expect((await store.listRuns()).items).toHaveLength(1);
    });

    it('lists newest first with filters on status, workflow, tenant and creation time', async () => {
      const made: RunRecord[] = [];
      for (const [i, extra] of [
        { status: 'running', workflowId: 'w1', tenantId: 't1' },
        { status: 'completed', workflowId: 'w1' },
        { status: 'running', workflowId: 'w2', tenantId: 't1' },
        { status: 'failed', workflowId: 'w2', tenantId: 't2' },
      ].entries()) {
        made.push((await (i % 2 ? other : store).createRun(newRun(extra as Partial<NewRun>))).run);
        await tick(3);
      }
      const ids = async (q: Parameters<RunStore['listRuns']>[0]): Promise<string[]> =>
        (await store.listRuns(q)).items.map((r) => r.id);
      const [r0, r1, r2, r3] = made.map((r) => r.id);
      expect(await ids({})).toEqual([r3, r2, r1, r0]);
      expect(await ids({ status: 'running' })).toEqual([r2, r0]);
      expect(await ids({ workflowId: 'w1' })).toEqual([r1, r0]);
      expect(await ids({ tenantId: 't1' })).toEqual([r2, r0]);
      expect(await ids({ tenantId: 't1', workflowId: 'w2', status: 'running' })).toEqual([r2]);
      expect(await ids({ createdFrom: made[1]!.createdAt, createdTo: made[3]!.createdAt })).toEqual([r2, r1]);
    });

    it('pages by continuation token with no duplicate and no gap, even while runs are added', async () => {
      const made = [];
      for (let i = 0; i < 23; i++)
        made.push((await store.createRun(newRun({ id: `run-${i % 7}-${i}` }))).run);
      const expected = (await store.listRuns({ limit: 500 })).items.map((r) => r.id);
      expect(expected).toHaveLength(23);
      const seen: string[] = [];
      let token: string | undefined;
      do {
        const page = await (seen.length % 2 ? other : store).listRuns({ limit: 5, continuationToken: token });
        expect(page.items.length).toBeLessThanOrEqual(5);
        seen.push(...page.items.map((r) => r.id));
        await store.createRun(newRun()); // newer than the cursor: must not shift the pages
        token = page.continuationToken;
      } while (token);
      // A run added in the cursor's millisecond may sort after it (ties go by id), so it may show up.
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.filter((id) => id.startsWith('run-'))).toEqual(expected);
    });

    it('clamps the page size and rejects bad tokens and dates (400)', async () => {
      for (let i = 0; i < 3; i++) await store.createRun(newRun());
      expect((await store.listRuns({ limit: 0 })).items).toHaveLength(1);
      expect((await store.listRuns({ limit: 10_000 })).items).toHaveLength(3);
      await expect(store.listRuns({ continuationToken: 'nope' })).rejects.toMatchObject({ status: 400 });
      await expect(store.listRuns({ createdFrom: 'yesterday' })).rejects.toMatchObject({
        code: 'REQUEST.INVALID',
      });
    });

    it('updates with a new etag, keeping what the store owns', async () => {
      const { run } = await store.createRun(newRun({ tenantId: 't1', idempotencyKey: 'k' }));
      await tick();
      const updated = await other.updateRun(run.id, (r) => {
        r.status = 'running';
        r.startedAt = '2030-01-01T00:00:00.000Z';
        Object.assign(r, { id: 'x', createdAt: 'x', etag: 'x', tenantId: 'x', idempotencyKey: 'x' });
        r.totals.durationMs = 999;
      });
      expect(updated).toMatchObject({
        id: run.id,
        status: 'running',
        createdAt: run.createdAt,
        tenantId: 't1',
      });
      expect(updated.idempotencyKey).toBe('k');
      expect(updated.totals.durationMs).toBe(0);
      expect(updated.etag).not.toBe(run.etag);
      expect(updated.updatedAt > run.updatedAt).toBe(true);
      expect(await store.getRun(run.id)).toEqual(updated);
    });

    it('takes a replacement, and writes nothing for a no-op or when mutate throws', async () => {
      const { run } = await store.createRun(newRun());
      const replaced = await store.updateRun(run.id, (r) => ({ ...r, status: 'cancelled' as const }));
      expect(replaced.status).toBe('cancelled');
      expect(isTerminalStatus(replaced.status)).toBe(true);
      expect((await store.updateRun(run.id, () => undefined)).etag).toBe(replaced.etag);
      await expect(
        store.updateRun(run.id, () => {
          throw new Error('no');
        }),
      ).rejects.toThrow('no');
      expect(await store.getRun(run.id)).toEqual(replaced);
      await expect(store.updateRun('ghost', bump)).rejects.toMatchObject({
        code: 'RUN.NOT_FOUND',
        status: 404,
      });
    });

    it('loses no update when another writer commits between read and write', async () => {
      const { run } = await store.createRun(newRun());
      let calls = 0;
      let inner: Promise<RunRecord> | undefined;
      const outer = store.updateRun(run.id, (r) => {
        calls++;
        inner ??= other.updateRun(run.id, bump); // commits while this mutation is in flight
        bump(r);
      });
      await Promise.all([outer, inner]);
      expect(calls).toBeGreaterThanOrEqual(1);
      expect(count((await store.getRun(run.id))!)).toBe(2);
      await Promise.all(range(40).map((i) => (i % 2 ? store : other).updateRun(run.id, bump)));
      expect(count((await other.getRun(run.id))!)).toBe(42);
    });

    // The writes made inside `mutate` land before the mutation's own write (memory and SQLite run them
    // synchronously; the Cosmos adapter awaits them before its own write).
    it('gives up with RUN.UPDATE_CONFLICT after the retries, never overwriting', async () => {
      const { run } = await store.createRun(newRun());
      let calls = 0;
      const inner: Promise<RunRecord>[] = [];
      const attempt = store.updateRun(
        run.id,
        (r) => {
          calls++;
          inner.push(other.updateRun(run.id, bump));
          r.status = 'failed';
        },
        { retries: 2 },
      );
      await expect(attempt).rejects.toMatchObject({ code: 'RUN.UPDATE_CONFLICT', status: 409 });
      await Promise.all(inner);
      expect(calls).toBe(3);
      const stored = (await store.getRun(run.id))!;
      expect([stored.status, count(stored)]).toEqual(['pending', 3]);
    });

    it('updates steps and recomputes the totals', async () => {
      const { run } = await store.createRun(newRun({ startedAt: '2030-01-01T00:00:00.000Z' }));
      await store.updateStep(run.id, 'design', { status: 'running', startedAt: '2030-01-01T00:00:01.000Z' });
      await other.updateStep(run.id, 'design', {
        status: 'completed',
        attempts: 1,
        completedAt: '2030-01-01T00:00:03.500Z',
        tokens: { prompt: 10, completion: 20, total: 30 },
        cost: { currency: 'USD', input: 0.1, output: 0.2, total: 0.3 },
      });
      const updated = await store.updateStep(run.id, 'gate', {
        kind: 'approval',
        status: 'completed',
        completedAt: '2030-01-01T00:00:05.000Z',
        tokens: { prompt: 1, completion: 2, total: 3 },
        cost: { currency: 'USD', total: 0.6 },
      });
      expect(updated.steps.design).toMatchObject({ kind: 'agent', attempts: 1, durationMs: 2500 });
      expect(updated.steps.gate).toMatchObject({ id: 'gate', kind: 'approval', attempts: 0 });
      expect(updated.totals).toEqual({
        tokens: { prompt: 11, completion: 22, total: 33 },
        cost: { currency: 'USD', total: 0.9 },
        durationMs: 5000,
      });
      const cleared = await store.updateStep(run.id, 'design', { tokens: undefined });
      expect(cleared.steps.design).not.toHaveProperty('tokens');
      expect(cleared.totals.tokens.total).toBe(3);
      const done = await store.updateRun(run.id, (r) => void (r.completedAt = '2030-01-01T00:01:00.000Z'));
      expect(done.totals.durationMs).toBe(60_000);
    });

    it('keeps outputs by reference: 1 MB round-trips and the record stays small', async () => {
      const { run } = await store.createRun(newRun());
      const big = `# Design — ünïcødé 🚀\n${'x'.repeat(1024 * 1024)}`;
      const ref = await store.putOutput(run.id, 'design', big);
      expect(ref).toMatchObject({
        bytes: Buffer.byteLength(big),
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      expect(isOutputRef(ref)).toBe(true);
      expect(await other.putOutput(run.id, 'design', big)).toEqual(ref); // a retried step: the same copy
      expect(await other.getOutput(ref)).toBe(big);
      expect(await store.getOutput(ref.ref)).toBe(big);
      const updated = await store.updateStep(run.id, 'design', {
        status: 'completed',
        output: ref,
        summary: summarize(big),
      });
      await store.updateRun(run.id, (r) => void (r.output = ref));
      expect(updated.steps.design?.summary?.length).toBeLessThanOrEqual(200);
      expect(JSON.stringify(await store.getRun(run.id)).length).toBeLessThan(2048);
      const small = await store.putOutput(run.id, 'docs', '');
      expect([small.bytes, await store.getOutput(small)]).toEqual([0, '']);
      const missing = { ...ref, ref: ref.ref.replace(/[0-9a-f]{64}$/, 'f'.repeat(64)) };
      await expect(store.getOutput(missing)).rejects.toMatchObject({
        code: 'RUN.OUTPUT_NOT_FOUND',
        status: 404,
      });
      await expect(store.getOutput('not/a/ref')).rejects.toMatchObject({ code: 'RUN.OUTPUT_NOT_FOUND' });
    });

    it('deletes a run with its outputs and events, and frees its idempotency key', async () => {
      const { run } = await store.createRun(newRun({ idempotencyKey: 'k' }));
      const ref = await store.putOutput(run.id, 's', 'text');
      await store.append(run.id, { type: 'run.started' });
      expect(await other.deleteRun(run.id)).toBe(true);
      expect(await store.deleteRun(run.id)).toBe(false);
      expect(await store.getRun(run.id)).toBeUndefined();
      await expect(store.getOutput(ref)).rejects.toMatchObject({ code: 'RUN.OUTPUT_NOT_FOUND' });
      expect([await store.read(run.id), await store.lastId(run.id)]).toEqual([[], 0]);
      expect((await store.createRun(newRun({ idempotencyKey: 'k' }))).created).toBe(true);
    });

    it('hands out copies: mutating a result never changes the store', async () => {
      const { run } = await store.createRun(newRun());
      bump(run);
      run.steps.x = { id: 'x', kind: 'agent', status: 'pending', attempts: 0 };
      const read = (await store.getRun(run.id))!;
      expect([count(read), read.steps]).toEqual([0, {}]);
      const event = await store.append(run.id, { type: 'step.delta', data: { delta: 'a' } });
      (event.data as { delta: string }).delta = 'changed';
      expect((await store.read(run.id))[0]?.data).toEqual({ delta: 'a' });
    });
  });

  describe('events', () => {
    it('closes a log at its terminal event: later appends are RUN.EVENTS_CLOSED, other runs unaffected', async () => {
      await store.appendMany('r', [{ type: 'run.started' }, { type: 'run.cancelled' }], { batch: 1 });
      await expect(other.append('r', { type: 'step.delta', data: { delta: 'late' } })).rejects.toMatchObject({
        code: 'RUN.EVENTS_CLOSED',
        status: 409,
      });
      await expect(store.appendMany('r', [{ type: 'x' }])).rejects.toMatchObject({
        code: 'RUN.EVENTS_CLOSED',
      });
      // The same batch again is still a no-op, not an error.
      expect(await store.appendMany('r', [{ type: 'run.cancelled' }], { batch: 1 })).toEqual([]);
      // A batch with events after its terminal one is refused whole.
      await expect(
        store.appendMany('r2', [{ type: 'run.completed' }, { type: 'step.delta' }], { batch: 1 }),
      ).rejects.toMatchObject({ code: 'RUN.EVENTS_CLOSED' });
      expect(await store.read('r2')).toEqual([]);
      expect((await store.appendMany('r2', [{ type: 'run.started' }], { batch: 1 }))[0]!.id).toBe(1);
      expect((await store.read('r')).map((e) => e.type)).toEqual(['run.started', 'run.cancelled']);
    });

    it('applies a numbered batch at most once, however often and from whichever store it comes', async () => {
      const batch1 = [{ type: 'run.started' }, { type: 'step.started', stepId: 'a' }];
      expect((await store.appendMany('r', batch1, { batch: 1 })).map((e) => e.id)).toEqual([1, 2]);
      expect(await other.appendMany('r', batch1, { batch: 1 })).toEqual([]);
      const again = await Promise.all(
        range(6).map((i) =>
          (i % 2 ? store : other).appendMany('r', [{ type: 'step.completed' }], { batch: 2 }),
        ),
      );
      expect(again.filter((e) => e.length)).toHaveLength(1);
      // An empty batch still counts; an older number is refused after a newer one.
      expect(await store.appendMany('r', [], { batch: 3 })).toEqual([]);
      expect(await store.appendMany('r', [{ type: 'late' }], { batch: 3 })).toEqual([]);
      expect((await store.appendMany('r', [{ type: 'run.completed' }], { batch: 4 }))[0]!.id).toBe(4);
      expect((await store.read('r')).map((e) => e.type)).toEqual([
        'run.started',
        'step.started',
        'step.completed',
        'run.completed',
      ]);
      // Batches are per run, and unnumbered appends are unaffected.
      expect(await store.appendMany('r2', [{ type: 'x' }], { batch: 1 })).toHaveLength(1);
      expect(await store.appendMany('r3', [{ type: 'y' }])).toHaveLength(1);
    });

    it('appends a batch with consecutive ids in one write, interleaving with single appends', async () => {
      await store.append('r', { type: 'run.started' });
      const batch = await other.appendMany('r', [
        { type: 'step.started', stepId: 'a', data: { kind: 'agent' } },
        { type: 'step.completed', stepId: 'a' },
      ]);
      expect(batch.map((e) => [e.id, e.type, e.stepId])).toEqual([
        [2, 'step.started', 'a'],
        [3, 'step.completed', 'a'],
      ]);
      expect(batch[0]!.data).toEqual({ kind: 'agent' });
      expect(await store.appendMany('r', [])).toEqual([]);
      await Promise.all(
        range(20).map((i) =>
          i % 2
            ? store.append('r', { type: 'step.delta', data: { i } })
            : other.appendMany('r', [
                { type: 'a', data: { i } },
                { type: 'b', data: { i } },
              ]),
        ),
      );
      const ids = (await store.read('r')).map((e) => e.id);
      expect(ids).toEqual(range(33));
      expect(await store.lastId('r')).toBe(33);
      // A batch's events are adjacent.
      const events = await store.read('r');
      for (const e of events.filter((x) => x.type === 'a')) expect(events[e.id]!.type).toBe('b');
    });

    it('appends with ids 1, 2, 3 per run, with type, step, data and time', async () => {
      const first = await store.append('r1', { type: 'run.started', data: { input: { topic: 'x' } } });
      expect(first).toEqual({
        id: 1,
        runId: 'r1',
        type: 'run.started',
        data: { input: { topic: 'x' } },
        at: expect.any(String),
      });
      const second = await other.append('r1', { type: 'step.started', stepId: 'design' });
      expect(second).toMatchObject({ id: 2, stepId: 'design' });
      expect(second).not.toHaveProperty('data');
      expect((await store.append('r2', { type: 'custom.kind' })).id).toBe(1);
      expect([await store.lastId('r1'), await other.lastId('r2'), await store.lastId('none')]).toEqual([
        2, 1, 0,
      ]);
    });

    it('hands out strictly increasing ids with no gap under concurrent appends', async () => {
      const appended = await Promise.all(
        range(200).map((i) => (i % 2 ? store : other).append('r', { type: 'step.delta', data: { i } })),
      );
      expect(appended.map((e) => e.id).sort((x, y) => x - y)).toEqual(range(200));
      const read = await other.read('r');
      expect(read.map((e) => e.id)).toEqual(range(200));
      expect(read).toEqual([...appended].sort((x, y) => x.id - y.id));
    });

    it('reads after an id, with a limit', async () => {
      for (const i of range(10)) await store.append('r', { type: 'step.delta', data: { i } });
      expect((await other.read('r', { afterId: 7 })).map((e) => e.id)).toEqual([8, 9, 10]);
      expect((await other.read('r', { afterId: 2, limit: 3 })).map((e) => e.id)).toEqual([3, 4, 5]);
      expect(await other.read('r', { afterId: 10 })).toEqual([]);
    });

    it('delivers every event after the given id, in order, once, while appends race the start', async () => {
      for (const i of range(3)) await store.append('r', { type: 'step.delta', data: { i } });
      const got: RunEvent[] = [];
      const racing = range(30).map((i) =>
        (i % 2 ? store : other).append('r', { type: 'step.delta', data: { i } }),
      );
      const unsubscribe = store.subscribe('r', 1, (e) => got.push(e));
      await Promise.all(racing);
      const later = range(30).map(async (i) => {
        await tick(i % 4); // spread over the subscription's reads
        return (i % 2 ? other : store).append('r', { type: 'step.delta', data: { i } });
      });
      await Promise.all(later);
      await until(got, 62);
      await tick(60); // room for a duplicate to show up
      unsubscribe();
      expect(got.map((e) => e.id)).toEqual(range(62, 2));
      expect(got).toEqual(await store.read('r', { afterId: 1 }));
    });

    it('subscribes from the end and from 0 on an empty log', async () => {
      await store.append('r', { type: 'run.started' });
      const fromEnd: RunEvent[] = [];
      const fresh: RunEvent[] = [];
      const stops = [
        other.subscribe('r', await store.lastId('r'), (e) => fromEnd.push(e)),
        store.subscribe('new', 0, (e) => fresh.push(e)),
      ];
      await other.append('r', { type: 'run.completed' });
      await other.append('new', { type: 'run.started' });
      await until(fromEnd, 1);
      await until(fresh, 1);
      stops.forEach((stop) => stop());
      expect([fromEnd.map((e) => e.type), fresh.map((e) => e.id)]).toEqual([['run.completed'], [1]]);
    });

    it('stops delivering once unsubscribed, also from inside onEvent', async () => {
      const got: RunEvent[] = [];
      const unsubscribe = store.subscribe('r', 0, (e) => {
        got.push(e);
        if (e.id === 2) unsubscribe();
      });
      for (const i of range(5)) await other.append('r', { type: 'step.delta', data: { i } });
      await tick(80);
      expect(got.map((e) => e.id)).toEqual([1, 2]);
      unsubscribe(); // twice is harmless
    });

    it('ends the subscription and reports when onEvent throws', async () => {
      const errors: unknown[] = [];
      const got: RunEvent[] = [];
      store.subscribe(
        'r',
        0,
        (e) => {
          got.push(e);
          throw new Error('client gone');
        },
        (err) => errors.push(err),
      );
      await store.append('r', { type: 'run.started' });
      await store.append('r', { type: 'step.started' });
      await tick(80);
      expect(got).toHaveLength(1);
      expect(errors).toEqual([new Error('client gone')]);
    });

    it('tells terminal events apart', () => {
      expect(['run.completed', 'run.failed', 'run.cancelled'].map(isTerminalEvent)).toEqual([
        true,
        true,
        true,
      ]);
      expect(
        ['run.started', 'step.failed', 'budget.exceeded', 'approval.resolved', 'x'].some(isTerminalEvent),
      ).toBe(false);
    });

    it('purges the events of runs finished longer ago than the TTL, keeping their ids used', async () => {
      await store.append('old', { type: 'run.started' });
      await store.append('old', { type: 'run.completed' });
      await store.append('open', { type: 'run.started' });
      await tick(20);
      await store.append('recent', { type: 'run.started' });
      const end = await store.append('recent', { type: 'run.failed' });
      const now = Date.parse(end.at) + 5;
      expect(await store.purgeExpired(10, now)).toBe(2);
      expect([
        (await store.read('old')).length,
        (await other.read('open')).length,
        (await other.read('recent')).length,
      ]).toEqual([0, 1, 2]);
      expect(await other.purgeExpired(10, now)).toBe(0);
      expect(await store.lastId('old')).toBe(2);
      // The log stays closed after its events expire; ids are never reused.
      await expect(other.append('old', { type: 'late' })).rejects.toMatchObject({
        code: 'RUN.EVENTS_CLOSED',
      });
      expect(await store.lastId('old')).toBe(2);
      // 'recent' only: 'old' holds no terminal event any more.
      expect(await store.purgeExpired(0, now + 10_000)).toBe(2);
    });
  });
});

describe('SqliteRunStore', () => {
  it('persists runs, outputs and events across reopen, in WAL mode', async () => {
    const a = new SqliteRunStore(dbFile());
    const { run } = await a.createRun(newRun({ idempotencyKey: 'k' }));
    const ref = await a.putOutput(run.id, 'design', 'the design');
    const updated = await a.updateStep(run.id, 'design', { status: 'completed', output: ref });
    await a.append(run.id, { type: 'run.started' });
    a.close();
    const b = new SqliteRunStore(dbFile());
    try {
      expect(await b.getRun(run.id)).toEqual(updated);
      expect(await b.getOutput(ref)).toBe('the design');
      expect((await b.append(run.id, { type: 'run.completed' })).id).toBe(2);
      expect(await b.createRun(newRun({ idempotencyKey: 'k' }))).toEqual({ run: updated, created: false });
    } finally {
      b.close();
    }
    const db = new Database(dbFile());
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('retries the update that lost the compare-and-swap to another connection', async () => {
    const a = new SqliteRunStore(dbFile());
    const b = new SqliteRunStore(dbFile());
    try {
      const { run } = await a.createRun(newRun());
      let calls = 0;
      const updated = await a.updateRun(run.id, (r) => {
        if (calls++ === 0) void b.updateRun(run.id, bump); // synchronous underneath: commits right here
        bump(r);
      });
      expect([calls, count(updated)]).toEqual([2, 2]);
    } finally {
      a.close();
      b.close();
    }
  });

  it('polls for appends it was not told about (a writer in another process)', async () => {
    fs.symlinkSync(dir, path.join(dir, 'alias'));
    const a = new SqliteRunStore(dbFile(), { pollMs: 10 });
    const elsewhere = new SqliteRunStore(path.join(dir, 'alias', 'runs.sqlite'));
    const got: RunEvent[] = [];
    try {
      a.subscribe('r', 0, (e) => got.push(e));
      await elsewhere.append('r', { type: 'run.started' });
      await until(got, 1);
      expect(got[0]).toMatchObject({ id: 1, type: 'run.started' });
    } finally {
      a.close(); // also ends the subscription and its timer
      elsewhere.close();
    }
  });

  it('fails loudly on a stored document that is not a run record', async () => {
    const store = new SqliteRunStore(dbFile());
    const { run } = await store.createRun(newRun());
    store.close();
    const db = new Database(dbFile());
    db.prepare(`UPDATE runs SET doc = '{"id":"bad"}'`).run();
    db.close();
    const again = new SqliteRunStore(dbFile());
    await expect(again.getRun(run.id)).rejects.toThrow(/not a valid run record/);
    again.close();
  });
});
