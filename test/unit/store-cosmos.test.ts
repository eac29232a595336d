/**
 * What only the Cosmos adapters have (the shared contract runs in store-runs/store-catalog.test.ts):
 * etag conflicts between processes (stores with different scopes behave like separate processes),
 * the idempotency-key documents and their crash windows, TTL and purge, documents that are not what
 * they should be, and the wiring from settings — including the managed-identity path, checked
 * without any network call. Everything talks to an in-process stand-in on 127.0.0.1.
 */
import * as net from 'node:net';
import type { Container, CosmosClient } from '@azure/cosmos';
import { createCatalogStore, createRunStore, createServices } from '../../src/app';
import { loadConfig } from '../../src/config';
import { ConfigError } from '../../src/errors';
import { CosmosCatalogStore } from '../../src/store/cosmos/catalog';
import { cosmosClientOptions, createCosmosClient } from '../../src/store/cosmos/client';
import { PART_UNITS, splitText } from '../../src/store/cosmos/outputs';
import { keyDocId } from '../../src/store/cosmos/run-docs';
import { CosmosRunStore } from '../../src/store/cosmos/runs';
import {
  AGENTS_CONTAINER,
  OUTPUTS_CONTAINER,
  RUNS_CONTAINER,
  WORKFLOWS_CONTAINER,
  lazy,
  openContainers,
} from '../../src/store/cosmos/setup';
import { itemId, serialized } from '../../src/store/cosmos/shared';
import type { NewRun, RunEvent, RunRecord } from '../../src/store/runs';
import { parseWorkflow } from '../../src/workflows/definition';
import { STAND_IN_KEY, startCosmosServer, type CosmosTestServer } from '../helpers/cosmos-server';

const mockCredentialOptions: unknown[] = [];
jest.mock('@azure/identity', () => {
  const actual = jest.requireActual<typeof import('@azure/identity')>('@azure/identity');
  class RecordingCredential extends actual.DefaultAzureCredential {
    constructor(options?: ConstructorParameters<typeof actual.DefaultAzureCredential>[0]) {
      super(options);
      mockCredentialOptions.push(options);
    }
  }
  return { ...actual, DefaultAzureCredential: RecordingCredential };
});

const newRun = (extra: Partial<NewRun> = {}): NewRun => ({
  workflowId: 'design-and-document',
  workflowVersion: '1',
  input: { count: 0 },
  ...extra,
});
const range = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => i + from);
const count = (run: RunRecord): number => (run.input as { count: number }).count;
const bump = (run: RunRecord): void => void (run.input as { count: number }).count++;
const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Cosmos settings and wiring', () => {
  const azure = { endpoint: 'https://unit-test.documents.azure.com:443/', database: 'agentfunctions' };

  it('signs in with DefaultAzureCredential and the identity client id when no key is set, offline', () => {
    const connect = jest.spyOn(net.Socket.prototype, 'connect');
    try {
      mockCredentialOptions.length = 0;
      const options = cosmosClientOptions({ ...azure, clientId: 'identity-client-id' });
      expect(options.key).toBeUndefined();
      expect(options.aadCredentials?.constructor.name).toBe('RecordingCredential');
      expect(mockCredentialOptions).toEqual([
        expect.objectContaining({ managedIdentityClientId: 'identity-client-id' }),
      ]);
      expect(options.connectionPolicy).toBeUndefined(); // Azure keeps endpoint discovery (failover)
      const config = loadConfig({
        RUN_STORE: 'cosmos',
        CATALOG_STORE: 'cosmos',
        COSMOS_ENDPOINT: azure.endpoint,
        AZURE_CLIENT_ID: 'identity-client-id',
      });
      // Built lazily: composing the services contacts nothing (no token, no account read).
      const services = createServices(config);
      expect(services.runs).toBeInstanceOf(CosmosRunStore);
      expect(services.catalog).toBeInstanceOf(CosmosCatalogStore);
      services.runs.close?.();
      services.catalog.close?.();
      expect(connect).not.toHaveBeenCalled();
    } finally {
      connect.mockRestore();
    }
  });

  it('uses the key, with endpoint discovery off, for local stand-ins', () => {
    const options = cosmosClientOptions({ ...azure, key: STAND_IN_KEY });
    expect(options).toMatchObject({
      key: STAND_IN_KEY,
      connectionPolicy: { enableEndpointDiscovery: false },
    });
    expect(options.aadCredentials).toBeUndefined();
    createCosmosClient({ ...azure, key: STAND_IN_KEY }).dispose();
  });

  it('is a ConfigError naming COSMOS_ENDPOINT when a store is cosmos without it', () => {
    for (const env of [{ RUN_STORE: 'cosmos' }, { CATALOG_STORE: 'cosmos' }]) {
      const config = loadConfig({ RUN_STORE: 'memory', CATALOG_STORE: 'memory', ...env });
      expect(() => createServices(config)).toThrow(ConfigError);
      expect(() => createServices(config)).toThrow(/COSMOS_ENDPOINT is required/);
    }
    expect(() => createRunStore(loadConfig({ RUN_STORE: 'cosmos' }))).toThrow(ConfigError);
    expect(() => createCatalogStore(loadConfig({ CATALOG_STORE: 'cosmos' }))).toThrow(ConfigError);
    expect(() => cosmosClientOptions({ endpoint: 'localhost:8081', database: 'd' })).toThrow(
      /COSMOS_ENDPOINT 'localhost:8081' is not an http\(s\) URL/,
    );
  });

  it('composes working Cosmos stores from the settings (key, plain HTTP stand-in)', async () => {
    const server = await startCosmosServer({ tls: false });
    const config = loadConfig({
      RUN_STORE: 'cosmos',
      CATALOG_STORE: 'cosmos',
      COSMOS_ENDPOINT: server.endpoint,
      COSMOS_KEY: STAND_IN_KEY,
      COSMOS_DATABASE: 'wired',
      RUN_EVENTS_TTL_HOURS: '2',
    });
    const { runs, catalog } = createServices(config);
    try {
      const { run } = await runs.createRun(newRun());
      expect(await runs.getRun(run.id)).toEqual(run);
      await catalog.createWorkflow(parseWorkflow({ id: 'wired-flow', name: 'W', steps: [wfStep] }));
      expect((await catalog.listWorkflows()).map((w) => w.definition.id)).toEqual(['wired-flow']);
      const raw = server.client();
      const { resource } = await raw.database('wired').container('runEvents').read();
      expect(resource?.defaultTtl).toBe(2 * 3600);
      raw.dispose();
    } finally {
      runs.close?.();
      catalog.close?.();
      await server.close();
    }
  });
});

const wfStep = { id: 'review', kind: 'agent', agent: 'validator', prompt: 'Review {{ input.topic }}.' };

describe('Cosmos stores on the stand-in', () => {
  let server: CosmosTestServer;
  let raw: CosmosClient;
  let database: string;
  let open: CosmosRunStore[];
  beforeAll(async () => {
    server = await startCosmosServer();
    raw = server.client();
  });
  afterAll(async () => {
    raw.dispose();
    await server.close();
  });
  beforeEach(() => {
    database = server.freshDatabase();
    open = [];
  });
  afterEach(() => open.forEach((s) => s.close()));

  /** A run store on this test's database; `scope` makes it behave as another process. */
  const store = (
    scope?: string,
    extra: { pollMs?: number; eventsTtlSeconds?: number } = {},
  ): CosmosRunStore => {
    const s = new CosmosRunStore({ client: server.client(), database, pollMs: 20, scope, ...extra });
    open.push(s);
    return s;
  };
  const container = (id: string | undefined): Container => raw.database(database).container(id!);

  describe('updates', () => {
    it('retries on 412 when another process commits between its read and its write', async () => {
      const [a, b] = [store('p1'), store('p2')];
      const { run } = await a.createRun(newRun());
      let calls = 0;
      const updated = await a.updateRun(run.id, (r) => {
        if (calls++ === 0) void b.updateRun(run.id, bump); // lands before a's write: a's etag is stale
        bump(r);
      });
      expect([calls, count(updated)]).toEqual([2, 2]);
      let tries = 0;
      await expect(
        a.updateRun(
          run.id,
          (r) => {
            tries++;
            void b.updateRun(run.id, bump);
            r.status = 'failed';
          },
          { retries: 0 },
        ),
      ).rejects.toMatchObject({ code: 'RUN.UPDATE_CONFLICT' });
      const stored = (await b.getRun(run.id))!;
      expect([tries, stored.status, count(stored)]).toEqual([1, 'pending', 3]);
    });

    it('loses no update across many concurrent increments from three processes', async () => {
      const stores = [store('p1'), store('p2'), store('p3')];
      const { run } = await stores[0]!.createRun(newRun());
      let calls = 0;
      await Promise.all(
        range(45).map((i) =>
          // Retries well above the default: what is under test is that no increment is lost, and a
          // loaded machine must not turn 11 lost races in a row into a failure.
          stores[i % 3]!.updateRun(
            run.id,
            (r) => {
              calls++;
              bump(r);
            },
            { retries: 30 },
          ),
        ),
      );
      expect(count((await stores[1]!.getRun(run.id))!)).toBe(45);
      expect(calls).toBeGreaterThanOrEqual(45); // more when processes collided (412, then a fresh read)
    });

    it('answers RUN.NOT_FOUND when the run is deleted while an update is under way', async () => {
      const [a, b] = [store('p1'), store('p2')];
      const { run } = await a.createRun(newRun());
      await expect(
        a.updateRun(run.id, (r) => {
          void b.deleteRun(run.id);
          bump(r);
        }),
      ).rejects.toMatchObject({ code: 'RUN.NOT_FOUND' });
    });
  });

  describe('idempotent creation', () => {
    it('makes one run of concurrent creates with one key across processes', async () => {
      const stores = [store('p1'), store('p2'), store('p3')];
      const results = await Promise.all(
        range(12).map((i) => stores[i % 3]!.createRun(newRun({ idempotencyKey: 'once', tenantId: 't' }))),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.run.id)).size).toBe(1);
      expect((await stores[0]!.listRuns()).items).toHaveLength(1);
      const keys = await container(RUNS_CONTAINER.id)
        .items.query("SELECT VALUE c.runId FROM c WHERE c.kind = 'key'")
        .fetchAll();
      expect(keys.resources).toEqual([results[0]!.run.id]);
    });

    it('finishes a creation whose writer stopped after claiming the key', async () => {
      const a = store('p1');
      const { run } = await a.createRun(newRun({ id: 'half-made', idempotencyKey: 'k' }));
      // The state a crash between the two creates leaves: the key document without its run.
      await container(RUNS_CONTAINER.id).item('half-made', 'half-made').delete();
      const again = await store('p2').createRun(newRun({ idempotencyKey: 'k', input: { other: true } }));
      const { etag: _etag, ...rest } = run;
      expect(again.created).toBe(false);
      expect(again.run).toMatchObject(rest);
      expect(await a.getRun('half-made')).toEqual(again.run);
    });

    it('refuses a keyed create whose id another run holds, and leaves the key free', async () => {
      const a = store();
      await a.createRun(newRun({ id: 'taken' }));
      await expect(a.createRun(newRun({ id: 'taken', idempotencyKey: 'k' }))).rejects.toMatchObject({
        code: 'RUN.EXISTS',
      });
      // A key document left naming that id (its writer died before releasing it) is released too.
      await container(RUNS_CONTAINER.id).items.create({
        ...{ id: keyDocId(undefined, 'k2'), kind: 'key', runId: 'taken', claim: 'stale' },
        pk: keyDocId(undefined, 'k2'),
        record: { ...(await a.getRun('taken'))!, etag: undefined },
      });
      for (const key of ['k', 'k2']) {
        const made = await a.createRun(newRun({ idempotencyKey: key }));
        expect(made.created).toBe(true);
        expect(made.run.id).not.toBe('taken');
      }
    });

    it('handles ids Cosmos would refuse (slashes, ?, #, unicode, 300 characters)', async () => {
      const a = store();
      for (const id of ['a/b', 'what?', 'x#y', 'ünï 🚀', 'z'.repeat(300)]) {
        const { run } = await a.createRun(newRun({ id, idempotencyKey: `key/${id}` }));
        expect((await a.updateRun(id, bump)).id).toBe(id);
        await a.append(id, { type: 'run.started' });
        expect(await a.getRun(id)).toMatchObject({ id, createdAt: run.createdAt });
        expect(await a.deleteRun(id)).toBe(true);
        expect(await a.getRun(id)).toBeUndefined();
      }
      expect(itemId('plain-id_1.2')).toBe('plain-id_1.2');
      expect(itemId('a/b')).toMatch(/^~[0-9a-f]{64}$/);
    });
  });

  describe('event logs', () => {
    it('hands out gapless ids to appenders in three processes', async () => {
      const stores = [store('p1'), store('p2'), store('p3')];
      await Promise.all(
        range(60).map((i) =>
          i % 4
            ? stores[i % 3]!.append('r', { type: 'step.delta', data: { i } })
            : stores[i % 3]!.appendMany('r', [{ type: 'a' }, { type: 'b' }]),
        ),
      );
      const events = await stores[1]!.read('r');
      expect(events.map((e) => e.id)).toEqual(range(75));
      for (const e of events.filter((x) => x.type === 'a')) expect(events[e.id]!.type).toBe('b');
      expect(await stores[2]!.lastId('r')).toBe(75);
    });

    it('notices a log another process deleted or closed (its cached head is stale)', async () => {
      const [a, b] = [store('p1'), store('p2')];
      await a.append('r', { type: 'run.started' });
      await b.deleteRun('r');
      expect((await a.append('r', { type: 'run.started' })).id).toBe(1);
      await b.append('r', { type: 'run.completed' });
      await expect(a.append('r', { type: 'late' })).rejects.toMatchObject({ code: 'RUN.EVENTS_CLOSED' });
      expect(await a.appendMany('r', [], { batch: 1 })).toEqual([]);
      expect(await b.appendMany('r', [{ type: 'x' }], { batch: 1 })).toEqual([]);
    });

    it('delivers appends made by another process by polling', async () => {
      const [a, b] = [store('p1', { pollMs: 10 }), store('p2')];
      const got: RunEvent[] = [];
      a.subscribe('r', 0, (e) => got.push(e));
      await b.append('r', { type: 'run.started' });
      await b.append('r', { type: 'run.completed' });
      for (const start = Date.now(); got.length < 2 && Date.now() - start < 5000;) await tick();
      expect(got.map((e) => [e.id, e.type])).toEqual([
        [1, 'run.started'],
        [2, 'run.completed'],
      ]);
    });

    it('reports a subscription whose store cannot start', async () => {
      const broken = new CosmosRunStore({ client: server.client(), database: 'a/b' }); // not a valid id
      open.push(broken);
      const errors: unknown[] = [];
      broken.subscribe(
        'r',
        0,
        () => undefined,
        (err) => errors.push(err),
      );
      for (const start = Date.now(); !errors.length && Date.now() - start < 5000;) await tick();
      expect(errors).toHaveLength(1);
      await expect(broken.getRun('x')).rejects.toBeDefined();
    });

    it('sets the TTL on segments only (heads never expire) and purges what the stand-in keeps', async () => {
      const a = store(undefined, { eventsTtlSeconds: 3600 });
      for (const i of range(25)) {
        await a.append(`done-${i}`, { type: 'run.started' });
        await a.appendMany(`done-${i}`, [{ type: 'step.completed' }, { type: 'run.completed' }]);
      }
      await a.append('open', { type: 'run.started' });
      const events = container('runEvents');
      expect((await events.read()).resource?.defaultTtl).toBe(3600);
      const heads = await events.items.query("SELECT VALUE c.ttl FROM c WHERE c.kind = 'head'").fetchAll();
      expect(new Set(heads.resources)).toEqual(new Set([-1]));
      const segs = await events.items.query("SELECT VALUE c.ttl FROM c WHERE c.kind = 'seg'").fetchAll();
      expect(segs.resources).toEqual([]); // no per-item ttl: the container default applies
      expect(await a.purgeExpired(0, Date.now() + 1000)).toBe(75);
      expect(await store('p2').purgeExpired(0, Date.now() + 1000)).toBe(0);
      expect([await a.read('done-3'), await a.lastId('done-3'), (await a.read('open')).length]).toEqual([
        [],
        3,
        1,
      ]);
      database = server.freshDatabase(); // TTL 0 (RUN_EVENTS_TTL_HOURS=0): on, but nothing expires
      await store(undefined, { eventsTtlSeconds: 0 }).append('r', { type: 'run.started' });
      expect((await container('runEvents').read()).resource?.defaultTtl).toBe(-1);
    });
  });

  describe('outputs and documents', () => {
    it('stores a long output in parts, never splitting a surrogate pair, and misses a lost part', async () => {
      const a = store();
      const text = `${'x'.repeat(PART_UNITS - 1)}🚀${'y'.repeat(PART_UNITS)}`;
      expect(splitText(text).map((p) => p.length)).toEqual([PART_UNITS - 1, PART_UNITS, 2]);
      expect(splitText('')).toEqual(['']);
      const ref = await a.putOutput('r', 's', text);
      expect(await store('p2').getOutput(ref)).toBe(text);
      await container(OUTPUTS_CONTAINER.id).item(`${ref.sha256}.1`, 'r').delete();
      await expect(a.getOutput(ref)).rejects.toMatchObject({ code: 'RUN.OUTPUT_NOT_FOUND' });
      expect(await a.putOutput('r', 's', text)).toEqual(ref); // the same put repairs it
      expect(await a.getOutput(ref)).toBe(text);
    });

    it('fails loudly on documents that are not what they should be', async () => {
      const a = store();
      const { run } = await a.createRun(newRun({ id: 'bad' }));
      await container(RUNS_CONTAINER.id).items.upsert({
        id: 'bad',
        pk: 'bad',
        kind: 'run',
        record: { id: 1 },
      });
      await expect(a.getRun(run.id)).rejects.toThrow(/not a valid run record/);
      const catalog = new CosmosCatalogStore({ client: server.client(), database });
      try {
        await catalog.createAgent({
          id: 'bad-agent',
          name: 'A',
          description: 'd',
          role: 'r',
          systemPrompt: 's',
          capabilities: [],
          builtIn: false,
        });
        await container(AGENTS_CONTAINER.id).items.upsert({
          id: 'bad-agent',
          definition: { id: 'bad-agent' },
        });
        await expect(catalog.getAgent('bad-agent')).rejects.toThrow(/not a valid agent definition/);
        await catalog.createWorkflow(parseWorkflow({ id: 'bad-flow', name: 'W', steps: [wfStep] }));
        const heads = container(WORKFLOWS_CONTAINER.id);
        const { resource: head } = await heads
          .item('head', 'bad-flow')
          .read<{ latest: { version: string } }>();
        await heads.items.upsert({ ...head, latest: { ...head!.latest, version: '2' } });
        await expect(catalog.getWorkflow('bad-flow')).rejects.toThrow(/its id or version differs/);
        await expect(catalog.listWorkflows()).rejects.toThrow(/not a valid workflow definition/);
      } finally {
        catalog.close();
      }
    });

    it('disposes the client and ends subscriptions on close', async () => {
      const a = store();
      const got: RunEvent[] = [];
      a.subscribe('r', 0, (e) => got.push(e));
      await a.append('r', { type: 'run.started' });
      for (const start = Date.now(); !got.length && Date.now() - start < 5000;) await tick();
      const client = (a as unknown as { client: CosmosClient }).client;
      const dispose = jest.spyOn(client, 'dispose');
      a.close();
      expect(dispose).toHaveBeenCalledTimes(1);
      await store('p2').append('r', { type: 'run.completed' });
      await tick(60);
      expect(got).toHaveLength(1);
    });
  });
});

describe('Cosmos helpers', () => {
  it('takes a 409 at bootstrap as "made meanwhile", and names what to provision on a 403', async () => {
    /** A client whose first createIfNotExists fails with `status`; containers come back as their ids. */
    const failingOnce = (status: number): CosmosClient => {
      let calls = 0;
      const containers = { createIfNotExists: async (spec: { id: string }) => ({ container: spec.id }) };
      const createIfNotExists = async () => {
        if (calls++ === 0) throw Object.assign(new Error(`status ${status}`), { code: status });
        return { database: { containers } };
      };
      return { databases: { createIfNotExists } } as unknown as CosmosClient;
    };
    await expect(openContainers(failingOnce(409), 'd', { runs: RUNS_CONTAINER })).resolves.toEqual({
      runs: 'runs',
    });
    await expect(openContainers(failingOnce(403), 'd', { runs: RUNS_CONTAINER })).rejects.toThrow(
      /database 'd' is missing or unreadable, and this identity may not create it/,
    );
    await expect(openContainers(failingOnce(500), 'd', { runs: RUNS_CONTAINER })).rejects.toThrow(
      'status 500',
    );
  });

  it('tries a failed bootstrap again on the next call', async () => {
    let calls = 0;
    const ready = lazy(async () => {
      if (++calls === 1) throw new Error('transient');
      return 'ok';
    });
    await expect(ready()).rejects.toThrow('transient');
    await expect(Promise.all([ready(), ready()])).resolves.toEqual(['ok', 'ok']);
    expect(calls).toBe(2);
  });

  it('runs work on one key one at a time, in call order, whatever fails', async () => {
    const order: string[] = [];
    const job = (name: string, ms: number, fail = false) =>
      serialized('k', async () => {
        order.push(`${name}+`);
        await tick(ms);
        order.push(`${name}-`);
        if (fail) throw new Error(name);
      });
    const results = await Promise.allSettled([
      job('a', 20, true),
      job('b', 1),
      serialized('other', async () => 'x'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(order).toEqual(['a+', 'a-', 'b+', 'b-']);
  });
});
