/**
 * The CatalogStore contract, run against every adapter (the Cosmos adapter joins the table later):
 * what the port promises — conflicts, etags, timestamps, copies — must hold for each of them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { AgentDefinition } from '../../src/agents/types';
import type { CatalogStore } from '../../src/store/catalog';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';
import { SqliteCatalogStore } from '../../src/store/sqlite-catalog';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-catalog-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const adapters: [string, () => CatalogStore][] = [
  ['memory', () => new MemoryCatalogStore()],
  ['sqlite', () => new SqliteCatalogStore(path.join(dir, 'catalog.sqlite'))],
];

const agent = (id: string, extra: Partial<AgentDefinition> = {}): AgentDefinition => ({
  id,
  name: `Agent ${id}`,
  description: 'Reviews pull requests',
  role: 'reviewer',
  systemPrompt: 'You review {{ language }} code.',
  capabilities: ['code-review'],
  builtIn: false,
  temperature: 0.2,
  outputSchema: { type: 'object', properties: { verdict: { type: 'string' } } },
  ...extra,
});

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe.each(adapters)('CatalogStore contract: %s', (_name, open) => {
  let store: CatalogStore;
  beforeEach(() => (store = open()));
  afterEach(() => store.close?.());

  it('creates an agent with etag and timestamps, and reads it back', async () => {
    const created = await store.createAgent(agent('reviewer'));
    expect(created).toMatchObject({ ...agent('reviewer'), etag: expect.any(String) });
    expect(Date.parse(created.createdAt!)).not.toBeNaN();
    expect(created.updatedAt).toBe(created.createdAt);
    expect(await store.getAgent('reviewer')).toEqual(created);
    expect(await store.getAgent('missing')).toBeUndefined();
  });

  it('rejects a duplicate id with CATALOG.AGENT_EXISTS and keeps the first', async () => {
    const first = await store.createAgent(agent('dup'));
    await expect(store.createAgent(agent('dup', { name: 'Other' }))).rejects.toMatchObject({
      code: 'CATALOG.AGENT_EXISTS',
      status: 409,
    });
    expect(await store.getAgent('dup')).toEqual(first);
  });

  it('lists every agent sorted by id', async () => {
    for (const id of ['charlie', 'alpha', 'bravo']) await store.createAgent(agent(id));
    expect((await store.listAgents()).map((a) => a.id)).toEqual(['alpha', 'bravo', 'charlie']);
  });

  it('updates with the current etag: new etag, createdAt kept, updatedAt advanced', async () => {
    const created = await store.createAgent(agent('u1'));
    await tick();
    const updated = await store.updateAgent({ ...created, description: 'v2' }, created.etag);
    expect(updated.description).toBe('v2');
    expect(updated.etag).not.toBe(created.etag);
    expect(updated.createdAt).toBe(created.createdAt);
    expect(Date.parse(updated.updatedAt!)).toBeGreaterThan(Date.parse(created.updatedAt!));
    expect(await store.getAgent('u1')).toEqual(updated);
  });

  it('updates unconditionally without ifMatch, still with a new etag', async () => {
    const created = await store.createAgent(agent('u2'));
    const updated = await store.updateAgent({ ...agent('u2'), role: 'critic' });
    expect(updated).toMatchObject({ role: 'critic', createdAt: created.createdAt });
    expect(updated.etag).not.toBe(created.etag);
  });

  it('rejects a stale etag with CATALOG.ETAG_MISMATCH and writes nothing', async () => {
    const created = await store.createAgent(agent('u3'));
    const second = await store.updateAgent({ ...created, description: 'second' }, created.etag);
    await expect(store.updateAgent({ ...created, description: 'lost' }, created.etag)).rejects.toMatchObject({
      code: 'CATALOG.ETAG_MISMATCH',
    });
    expect(await store.getAgent('u3')).toEqual(second);
  });

  it('lets only one of two writers holding the same etag win', async () => {
    const created = await store.createAgent(agent('race'));
    const results = await Promise.allSettled([
      store.updateAgent({ ...created, description: 'A' }, created.etag),
      store.updateAgent({ ...created, description: 'B' }, created.etag),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.map((r) => (r.reason as { code: string }).code)).toEqual(['CATALOG.ETAG_MISMATCH']);
    expect((await store.getAgent('race'))?.description).toBe(
      (won[0] as PromiseFulfilledResult<AgentDefinition>).value.description,
    );
  });

  it('rejects updating a missing agent with CATALOG.AGENT_NOT_FOUND, with or without ifMatch', async () => {
    await expect(store.updateAgent(agent('ghost'))).rejects.toMatchObject({
      code: 'CATALOG.AGENT_NOT_FOUND',
      status: 404,
    });
    await expect(store.updateAgent(agent('ghost'), 'some-etag')).rejects.toMatchObject({
      code: 'CATALOG.AGENT_NOT_FOUND',
    });
  });

  it('ignores etag and timestamps the caller puts in the definition', async () => {
    const created = await store.createAgent(
      agent('own', { etag: 'mine', createdAt: '2000-01-01T00:00:00.000Z', updatedAt: 'x' }),
    );
    expect(created.etag).not.toBe('mine');
    expect(created.createdAt).not.toBe('2000-01-01T00:00:00.000Z');
    const updated = await store.updateAgent({ ...created, createdAt: '1999-01-01T00:00:00.000Z' });
    expect(updated.createdAt).toBe(created.createdAt);
  });

  it('deletes: true once, then false', async () => {
    await store.createAgent(agent('gone'));
    expect(await store.deleteAgent('gone')).toBe(true);
    expect(await store.deleteAgent('gone')).toBe(false);
    expect(await store.getAgent('gone')).toBeUndefined();
    await store.createAgent(agent('gone')); // the id is free again
  });

  it('hands out copies: mutating a result never changes the store', async () => {
    const created = await store.createAgent(agent('copy'));
    created.capabilities.push('mutated');
    (created.outputSchema as Record<string, unknown>).type = 'array';
    const read = await store.getAgent('copy');
    expect(read?.capabilities).toEqual(['code-review']);
    expect(read?.outputSchema).toMatchObject({ type: 'object' });
    read!.name = 'changed';
    expect((await store.listAgents())[0]?.name).toBe('Agent copy');
  });
});

describe('SqliteCatalogStore', () => {
  const file = (): string => path.join(dir, 'catalog.sqlite');

  it('persists across reopen, in WAL mode', async () => {
    const a = new SqliteCatalogStore(file());
    const created = await a.createAgent(agent('kept'));
    a.close();
    const b = new SqliteCatalogStore(file());
    expect(await b.getAgent('kept')).toEqual(created);
    b.close();
    const db = new Database(file());
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('keeps compare-and-swap across two connections on one file', async () => {
    const a = new SqliteCatalogStore(file());
    const b = new SqliteCatalogStore(file());
    try {
      const created = await a.createAgent(agent('shared'));
      await b.updateAgent({ ...created, description: 'from b' }, created.etag);
      await expect(a.updateAgent({ ...created, description: 'from a' }, created.etag)).rejects.toMatchObject({
        code: 'CATALOG.ETAG_MISMATCH',
      });
      expect((await a.getAgent('shared'))?.description).toBe('from b');
      await expect(b.createAgent(agent('shared'))).rejects.toMatchObject({ code: 'CATALOG.AGENT_EXISTS' });
    } finally {
      a.close();
      b.close();
    }
  });

  it('fails loudly on a stored document that is not an agent definition', async () => {
    const store = new SqliteCatalogStore(file());
    await store.createAgent(agent('bad'));
    store.close();
    const db = new Database(file());
    db.prepare(`UPDATE catalog_agents SET doc = '{"id":"bad"}'`).run();
    db.close();
    const again = new SqliteCatalogStore(file());
    await expect(again.getAgent('bad')).rejects.toThrow(/not a valid agent definition/);
    again.close();
  });
});
