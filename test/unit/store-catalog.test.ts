/**
 * The CatalogStore contract, run against every adapter (memory, SQLite, Cosmos DB on cosmosdb-server):
 * what the port promises — conflicts, etags, timestamps, copies — must hold for each of them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { AgentDefinition } from '../../src/agents/types';
import type { CatalogStore, StoredWorkflow } from '../../src/store/catalog';
import { CosmosCatalogStore } from '../../src/store/cosmos/catalog';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';
import { SqliteCatalogStore } from '../../src/store/sqlite-catalog';
import { parseWorkflow, type WorkflowDefinition } from '../../src/workflows/definition';
import { startCosmosServer, type CosmosTestServer } from '../helpers/cosmos-server';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-catalog-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

let cosmos: CosmosTestServer;
beforeAll(async () => (cosmos = await startCosmosServer()));
afterAll(() => cosmos.close());

const adapters: [string, () => CatalogStore][] = [
  ['memory', () => new MemoryCatalogStore()],
  ['sqlite', () => new SqliteCatalogStore(path.join(dir, 'catalog.sqlite'))],
  // A fresh database of the in-process stand-in per test.
  ['cosmos', () => new CosmosCatalogStore({ client: cosmos.client(), database: cosmos.freshDatabase() })],
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

/** A normalized workflow definition (defaults filled in, as the API stores them). */
const workflow = (id: string, version = '1', prompt = 'Review {{ input.topic }}.'): WorkflowDefinition =>
  parseWorkflow({
    id,
    name: `Workflow ${id}`,
    version,
    input: { type: 'object', properties: { topic: { type: 'string' } } },
    steps: [
      { id: 'review', kind: 'agent', agent: 'validator', prompt },
      { id: 'write', kind: 'agent', agent: 'scribe', dependsOn: ['review'], prompt: 'Document it.' },
    ],
  });

const versionsOf = (list: StoredWorkflow[]): [string, boolean][] =>
  list.map((w) => [w.definition.version, w.latest]);

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

describe.each(adapters)('CatalogStore contract, workflows: %s', (_name, open) => {
  let store: CatalogStore;
  beforeEach(() => (store = open()));
  afterEach(() => store.close?.());

  it('creates the first version with etag and timestamp, and reads it back', async () => {
    const created = await store.createWorkflow(workflow('review-flow'));
    expect(created).toEqual({
      definition: workflow('review-flow'),
      createdAt: expect.any(String),
      etag: expect.any(String),
      latest: true,
    });
    expect(Date.parse(created.createdAt)).not.toBeNaN();
    expect(await store.getWorkflow('review-flow')).toEqual(created);
    expect(await store.getWorkflow('review-flow', '1')).toEqual(created);
    expect(await store.getWorkflow('review-flow', '2')).toBeUndefined();
    expect(await store.getWorkflow('missing')).toBeUndefined();
    expect(await store.getWorkflow('missing', '1')).toBeUndefined();
    expect(await store.listWorkflowVersions('missing')).toEqual([]);
  });

  it('rejects a taken id with CATALOG.WORKFLOW_EXISTS, whatever the version, and keeps the first', async () => {
    const first = await store.createWorkflow(workflow('dup'));
    for (const def of [workflow('dup'), workflow('dup', '7')]) {
      await expect(store.createWorkflow(def)).rejects.toMatchObject({
        code: 'CATALOG.WORKFLOW_EXISTS',
        status: 409,
      });
    }
    expect(await store.listWorkflowVersions('dup')).toEqual([first]);
  });

  it('adds versions: the newest is the latest, older ones stay readable', async () => {
    const v1 = await store.createWorkflow(workflow('flow'));
    await tick();
    const v2 = await store.putWorkflowVersion(workflow('flow', '2', 'Check {{ input.topic }}.'), v1.etag);
    expect(v2).toMatchObject({ definition: { version: '2' }, latest: true });
    expect(v2.etag).not.toBe(v1.etag);
    expect(Date.parse(v2.createdAt)).toBeGreaterThan(Date.parse(v1.createdAt));
    // The latest is the most recently stored, not the greatest version.
    const v0 = await store.putWorkflowVersion(workflow('flow', '0.9-beta', 'Beta {{ input.topic }}.'));
    expect(await store.getWorkflow('flow')).toEqual(v0);
    expect(await store.getWorkflow('flow', '1')).toEqual({ ...v1, latest: false });
    expect(await store.getWorkflow('flow', '2')).toEqual({ ...v2, latest: false });
    expect(versionsOf(await store.listWorkflowVersions('flow'))).toEqual([
      ['1', false],
      ['2', false],
      ['0.9-beta', true],
    ]);
  });

  it('lists the latest version of every workflow, sorted by id', async () => {
    for (const id of ['charlie', 'alpha', 'bravo']) await store.createWorkflow(workflow(id));
    await store.putWorkflowVersion(workflow('bravo', '2'));
    const list = await store.listWorkflows();
    expect(list.map((w) => [w.definition.id, w.definition.version, w.latest])).toEqual([
      ['alpha', '1', true],
      ['bravo', '2', true],
      ['charlie', '1', true],
    ]);
  });

  it('answers a repeated put of the same version and content as it is (idempotent)', async () => {
    const v1 = await store.createWorkflow(workflow('idem'));
    const v2 = await store.putWorkflowVersion(workflow('idem', '2', 'Second {{ input.topic }}.'), v1.etag);
    // A retry after a lost answer: same content (keys in another order), the If-Match it first sent.
    const reordered = Object.fromEntries(
      Object.entries(workflow('idem', '2', 'Second {{ input.topic }}.')).reverse(),
    );
    expect(await store.putWorkflowVersion(reordered as WorkflowDefinition, v1.etag)).toEqual(v2);
    expect(await store.putWorkflowVersion(workflow('idem'))).toEqual({ ...v1, latest: false });
    expect(versionsOf(await store.listWorkflowVersions('idem'))).toEqual([
      ['1', false],
      ['2', true],
    ]);
  });

  it('rejects an existing version with other content with CATALOG.WORKFLOW_VERSION_EXISTS', async () => {
    const v1 = await store.createWorkflow(workflow('fixed'));
    await expect(
      store.putWorkflowVersion(workflow('fixed', '1', 'Changed {{ input.topic }}.'), v1.etag),
    ).rejects.toMatchObject({ code: 'CATALOG.WORKFLOW_VERSION_EXISTS', status: 409 });
    expect(await store.listWorkflowVersions('fixed')).toEqual([v1]);
  });

  it('checks ifMatch against the latest version: CATALOG.ETAG_MISMATCH and nothing written', async () => {
    const v1 = await store.createWorkflow(workflow('cas'));
    const v2 = await store.putWorkflowVersion(workflow('cas', '2'), v1.etag);
    for (const stale of [v1.etag, 'not-an-etag']) {
      await expect(store.putWorkflowVersion(workflow('cas', '3'), stale)).rejects.toMatchObject({
        code: 'CATALOG.ETAG_MISMATCH',
      });
    }
    expect(await store.getWorkflow('cas')).toEqual(v2);
    expect(await store.getWorkflow('cas', '3')).toBeUndefined();
    await expect(store.putWorkflowVersion(workflow('cas', '3'), v2.etag)).resolves.toMatchObject({
      definition: { version: '3' },
    });
  });

  it('rejects a version of a missing workflow with WORKFLOW.NOT_FOUND, with or without ifMatch', async () => {
    await expect(store.putWorkflowVersion(workflow('ghost', '2'))).rejects.toMatchObject({
      code: 'WORKFLOW.NOT_FOUND',
      status: 404,
    });
    await expect(store.putWorkflowVersion(workflow('ghost', '2'), 'some-etag')).rejects.toMatchObject({
      code: 'WORKFLOW.NOT_FOUND',
    });
    expect(await store.getWorkflow('ghost')).toBeUndefined();
  });

  it('lets exactly one of two concurrent writers of one new version win', async () => {
    const v1 = await store.createWorkflow(workflow('race'));
    const a = workflow('race', '2', 'From A {{ input.topic }}.');
    const b = workflow('race', '2', 'From B {{ input.topic }}.');
    for (const ifMatch of [undefined, v1.etag]) {
      if (ifMatch) {
        await store.deleteWorkflow('race');
        await store.createWorkflow(workflow('race'));
      }
      const etag = ifMatch && (await store.getWorkflow('race'))!.etag;
      const results = await Promise.allSettled([
        store.putWorkflowVersion(a, etag),
        store.putWorkflowVersion(b, etag),
      ]);
      const won = results.filter(
        (r): r is PromiseFulfilledResult<StoredWorkflow> => r.status === 'fulfilled',
      );
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost.map((r) => (r.reason as { code: string }).code)).toEqual([
        ifMatch ? 'CATALOG.ETAG_MISMATCH' : 'CATALOG.WORKFLOW_VERSION_EXISTS',
      ]);
      expect(await store.getWorkflow('race')).toEqual(won[0]!.value);
      expect(versionsOf(await store.listWorkflowVersions('race'))).toEqual([
        ['1', false],
        ['2', true],
      ]);
    }
  });

  it('lets two concurrent writers of the same new version and content both succeed, once', async () => {
    const v1 = await store.createWorkflow(workflow('twice'));
    const [a, b] = await Promise.all([
      store.putWorkflowVersion(workflow('twice', '2'), v1.etag),
      store.putWorkflowVersion(workflow('twice', '2'), v1.etag),
    ]);
    expect(a).toEqual(b);
    expect(await store.listWorkflowVersions('twice')).toHaveLength(2);
  });

  it('deletes every version: true once, then false; the id is free again', async () => {
    await store.createWorkflow(workflow('gone'));
    await store.putWorkflowVersion(workflow('gone', '2'));
    expect(await store.deleteWorkflow('gone')).toBe(true);
    expect(await store.deleteWorkflow('gone')).toBe(false);
    expect(await store.getWorkflow('gone')).toBeUndefined();
    expect(await store.getWorkflow('gone', '1')).toBeUndefined();
    expect(await store.listWorkflowVersions('gone')).toEqual([]);
    expect(await store.listWorkflows()).toEqual([]);
    const again = await store.createWorkflow(workflow('gone', '5'));
    expect(versionsOf(await store.listWorkflowVersions('gone'))).toEqual([['5', true]]);
    expect(again.latest).toBe(true);
  });

  it('keeps agents and workflows apart: one id may name both', async () => {
    await store.createAgent(agent('shared'));
    await store.createWorkflow(workflow('shared'));
    expect(await store.deleteWorkflow('shared')).toBe(true);
    expect(await store.getAgent('shared')).toBeDefined();
  });

  it('hands out copies: mutating a result never changes the store', async () => {
    const def = workflow('copy');
    const created = await store.createWorkflow(def);
    def.name = 'changed before reading';
    created.definition.steps.pop();
    created.latest = false;
    const read = (await store.getWorkflow('copy'))!;
    expect(read.definition).toEqual(workflow('copy'));
    expect(read.latest).toBe(true);
    read.definition.name = 'changed';
    (await store.listWorkflowVersions('copy'))[0]!.definition.steps.length = 0;
    expect((await store.listWorkflows())[0]?.definition).toEqual(workflow('copy'));
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

  it('persists workflow versions across reopen, and adds its table to an older catalog file', async () => {
    const db = new Database(file());
    db.exec(
      'CREATE TABLE catalog_agents (id TEXT PRIMARY KEY, doc TEXT, etag TEXT, created TEXT, updated TEXT)',
    );
    db.close();
    const a = new SqliteCatalogStore(file());
    const v1 = await a.createWorkflow(workflow('kept'));
    const v2 = await a.putWorkflowVersion(workflow('kept', '2'), v1.etag);
    a.close();
    const b = new SqliteCatalogStore(file());
    expect(await b.listWorkflowVersions('kept')).toEqual([{ ...v1, latest: false }, v2]);
    expect(await b.listWorkflows()).toEqual([v2]);
    b.close();
  });

  it('lets one of two connections on one file win a new version', async () => {
    const a = new SqliteCatalogStore(file());
    const b = new SqliteCatalogStore(file());
    try {
      const v1 = await a.createWorkflow(workflow('shared'));
      await b.putWorkflowVersion(workflow('shared', '2', 'From b {{ input.topic }}.'), v1.etag);
      await expect(
        a.putWorkflowVersion(workflow('shared', '2', 'From a {{ input.topic }}.'), v1.etag),
      ).rejects.toMatchObject({ code: 'CATALOG.ETAG_MISMATCH' });
      await expect(
        a.putWorkflowVersion(workflow('shared', '2', 'From a {{ input.topic }}.')),
      ).rejects.toMatchObject({ code: 'CATALOG.WORKFLOW_VERSION_EXISTS' });
      expect((await a.getWorkflow('shared'))?.definition.steps[0]).toMatchObject({
        prompt: 'From b {{ input.topic }}.',
      });
      await expect(b.createWorkflow(workflow('shared', '9'))).rejects.toMatchObject({
        code: 'CATALOG.WORKFLOW_EXISTS',
      });
    } finally {
      a.close();
      b.close();
    }
  });

  it('fails loudly on a stored document that is not a workflow definition', async () => {
    const store = new SqliteCatalogStore(file());
    await store.createWorkflow(workflow('bad'));
    await store.createWorkflow(workflow('other'));
    store.close();
    const db = new Database(file());
    db.prepare(`UPDATE catalog_workflows SET doc = '{"id":"bad"}' WHERE id = 'bad'`).run();
    db.prepare(`UPDATE catalog_workflows SET version = '2' WHERE id = 'other'`).run();
    db.close();
    const again = new SqliteCatalogStore(file());
    await expect(again.getWorkflow('bad')).rejects.toThrow(
      /'bad' version '1' is not a valid workflow definition/,
    );
    await expect(again.getWorkflow('other')).rejects.toThrow(/its id or version differs from the row/);
    again.close();
  });

  it('reports other insert failures as they are', async () => {
    const store = new SqliteCatalogStore(file());
    store.close();
    await expect(store.createWorkflow(workflow('closed'))).rejects.toThrow(/not open/);
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
