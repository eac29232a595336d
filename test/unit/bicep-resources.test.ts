/**
 * What bicep provisions is what the code expects: the Service Bus entities of
 * servicebus-emulator.config.json and src/workflows/names.ts, the Cosmos DB containers of
 * src/store/cosmos/setup.ts and docs/storage.md, the durable task hub of host.json, and the Flex
 * Consumption and model parameters the issue asks for.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ContainerRequest } from '@azure/cosmos';
import { loadConfig } from '../../src/config';
import * as setup from '../../src/store/cosmos/setup';
import { JOBS_QUEUE, RESULTS_SUBSCRIPTION, RESULTS_TOPIC, TASKS_QUEUE } from '../../src/workflows/names';
import {
  REPO_ROOT,
  byKind,
  declaration,
  declarations,
  evaluate,
  initBicep,
  loadBicep,
  prop,
  type BicepFile,
  type Value,
} from '../helpers/bicep';

const readJson = (name: string): unknown => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, name), 'utf8'));
let main: BicepFile;
beforeAll(async () => {
  await initBicep();
  main = loadBicep('main.bicep');
});

describe('Service Bus: the entities of servicebus-emulator.config.json, with the same properties', () => {
  interface Entity {
    Name: string;
    Properties?: Record<string, unknown>;
    Subscriptions?: Entity[];
  }
  const emulator = readJson('servicebus-emulator.config.json') as {
    UserConfig: { Namespaces: { Queues?: Entity[]; Topics?: Entity[] }[] };
  };
  const [ns] = emulator.UserConfig.Namespaces;
  /** The emulator's PascalCase properties are the ARM properties' names with a capital. */
  const arm = (e: Entity) =>
    Object.fromEntries(
      Object.entries(e.Properties ?? {}).map(([k, v]) => [k[0]!.toLowerCase() + k.slice(1), v]),
    );

  let file: BicepFile;
  beforeAll(() => {
    file = loadBicep('modules/servicebus.bicep');
  });
  const declared = (type: string) =>
    byKind(file, 'resource')
      .filter((r) => r.ref === `Microsoft.ServiceBus/namespaces/${type}` && !r.existing)
      .map((r) => ({
        symbol: r.name,
        parent: prop(r.body, 'parent')?.text,
        name: evaluate(prop(r.body, 'name')!),
        properties: evaluate(prop(r.body, 'properties')!, { file }),
      }));

  it('queues', () => {
    const queues = declared('queues');
    expect(queues.map((q) => ({ name: q.name, properties: q.properties }))).toEqual(
      (ns?.Queues ?? []).map((q) => ({ name: q.Name, properties: arm(q) })),
    );
    expect(queues.map((q) => q.name).sort()).toEqual([JOBS_QUEUE, TASKS_QUEUE].sort());
  });

  it('topics and their subscriptions', () => {
    const topics = declared('topics');
    const subscriptions = declared('topics/subscriptions');
    expect(
      topics.map((t) => ({
        name: t.name,
        properties: t.properties,
        subscriptions: subscriptions
          .filter((s) => s.parent === t.symbol)
          .map((s) => ({ name: s.name, properties: s.properties })),
      })),
    ).toEqual(
      (ns?.Topics ?? []).map((t) => ({
        name: t.Name,
        properties: arm(t),
        subscriptions: (t.Subscriptions ?? []).map((s) => ({ name: s.Name, properties: arm(s) })),
      })),
    );
    expect(topics.map((t) => t.name)).toEqual([RESULTS_TOPIC]);
    expect(subscriptions.map((s) => s.name)).toEqual([RESULTS_SUBSCRIPTION]);
  });

  it('every queue dead-letters what expires and gives up after maxDeliveryCount', () => {
    for (const q of declared('queues')) {
      expect(q.properties).toMatchObject({
        maxDeliveryCount: expect.any(Number),
        lockDuration: expect.stringMatching(/^PT/),
        deadLetteringOnMessageExpiration: true,
      });
    }
  });

  it("the role assignments name the same entities (rbac.bicep's existing references)", () => {
    const rbac = loadBicep('modules/rbac.bicep');
    const referenced = byKind(rbac, 'resource')
      .filter((r) => r.existing && /^Microsoft\.ServiceBus\/namespaces\/(queues|topics)$/.test(r.ref!))
      .map((r) => evaluate(prop(r.body, 'name')!))
      .sort();
    expect(referenced).toEqual([JOBS_QUEUE, RESULTS_TOPIC, TASKS_QUEUE].sort());
  });
});

describe('Cosmos DB: the database and containers the code expects', () => {
  let file: BicepFile;
  beforeAll(() => {
    file = loadBicep('modules/cosmos.bicep');
  });
  const containersFor = (runEventsTtlHours: number) =>
    evaluate(declaration(file, 'var', 'containers').value!, { file, env: { runEventsTtlHours } }) as Record<
      string,
      any
    >[];
  /** Containers bicep may provision before src/store/cosmos/setup.ts exports them (none now). */
  const UPCOMING: string[] = [];
  /** Every container spec setup.ts exports (the runEvents one is made from the TTL). */
  const codeContainers = (hours: number): ContainerRequest[] => [
    ...Object.values(setup).filter(
      (v): v is ContainerRequest => typeof v === 'object' && v !== null && 'id' in v && 'partitionKey' in v,
    ),
    setup.eventsContainer(hours * 3600),
  ];
  /** The SDK's request as bicep writes it: an explicit Hash kind and a numeric version. */
  const asArm = (c: ContainerRequest) => ({
    ...c,
    partitionKey: {
      paths: c.partitionKey && typeof c.partitionKey === 'object' ? c.partitionKey.paths : [],
      kind: 'Hash',
      version: 2,
    },
  });
  const byId = <T extends { id?: unknown }>(list: T[]) => new Map(list.map((c) => [String(c.id), c]));
  const ttlHours = loadConfig({}).runs.eventsTtlHours;

  it.each([ttlHours, 1, 0])(
    'containers with RUN_EVENTS_TTL_HOURS = %i equal src/store/cosmos/setup.ts',
    (hours) => {
      const bicep = byId(containersFor(hours));
      const code = byId(codeContainers(hours).map(asArm));
      for (const [id, spec] of code) expect({ id, bicep: bicep.get(id) }).toEqual({ id, bicep: spec });
      expect([...bicep.keys()].filter((id) => !code.has(id) && !UPCOMING.includes(id))).toEqual([]);
      expect([...code.keys()]).toEqual(
        expect.arrayContaining(['runs', 'runEvents', 'runOutputs', 'agents', 'workflows', 'conversations']),
      );
    },
  );

  it('and match the table in docs/storage.md (names, partition keys, indexed paths, TTL)', () => {
    const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs/storage.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Containers'), doc.indexOf('Everything else'));
    const rows = section
      .split('\n')
      .filter((l) => /^\| `\w+`/.test(l))
      .map((l) => l.split('|').map((c) => c.trim()));
    const ticks = (cell = '') => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const documented = rows.map((r) => {
      const [indexed, composite = ''] = (r[5] ?? '').split('composite');
      return {
        id: ticks(r[1])[0],
        partitionKey: ticks(r[2])[0],
        ttl: r[4]?.includes('RUN_EVENTS_TTL_HOURS') ?? false,
        included: /default policy/.test(indexed ?? '') ? undefined : ticks(indexed),
        composite: ticks(composite),
      };
    });
    const bicep = containersFor(ttlHours)
      .filter((c) => !UPCOMING.includes(c.id) || documented.some((d) => d.id === c.id))
      .map((c) => ({
        id: c.id,
        partitionKey: c.partitionKey.paths[0],
        ttl: 'defaultTtl' in c,
        included: c.indexingPolicy?.includedPaths.map((p: { path: string }) => p.path.replace(/\/\?$/, '')),
        composite: (c.indexingPolicy?.compositeIndexes ?? []).flat().map((p: { path: string }) => p.path),
      }));
    expect(bicep).toEqual(documented);
  });

  it('serverless by default, local auth off, the database named by COSMOS_DATABASE', () => {
    expect(evaluate(declaration(main, 'param', 'cosmosServerless').value!)).toBe(true);
    const account = byKind(file, 'resource').find((r) => r.ref === 'Microsoft.DocumentDB/databaseAccounts')!;
    const capabilities = (serverless: boolean) =>
      evaluate(prop(account.body, 'properties.capabilities')!, { file, env: { serverless } });
    expect(capabilities(true)).toEqual([{ name: 'EnableServerless' }]);
    expect(capabilities(false)).toEqual([]);
    const database = byKind(file, 'resource').find(
      (r) => r.ref === 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases',
    )!;
    expect(prop(database.body, 'name')?.text).toBe('databaseName');
    expect(prop(database.body, 'properties.resource.id')?.text).toBe('databaseName');
    const containers = byKind(file, 'resource').find(
      (r) => r.ref === 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers',
    )!;
    expect(containers.loop).toBe(true);
    expect(prop(containers.body, 'properties.resource')?.text).toBe('container');
  });
});

describe('Durable Functions', () => {
  const host = readJson('host.json') as {
    extensions: { durableTask: { hubName: string; storageProvider: { type: string } } };
  };

  it("the task hub is host.json's, Azure Storage by default, the Durable Task Scheduler as an option", () => {
    expect(evaluate(declaration(main, 'var', 'taskHubName').value!)).toBe(
      host.extensions.durableTask.hubName,
    );
    expect(host.extensions.durableTask.storageProvider.type).toBe('AzureStorage');
    const backend = declaration(main, 'param', 'durableBackend');
    expect(evaluate(backend.value!)).toBe('AzureStorage');
    const allowed = backend.node.previousNamedSibling!.text;
    expect(allowed).toMatch(/'DurableTaskScheduler'/);
    const dts = byKind(main, 'module').find((m) => m.ref === 'modules/durable-task-scheduler.bicep')!;
    expect(dts.condition?.text).toBe('(useDurableTaskScheduler)');
    expect(prop(dts.body, 'params.taskHubName')?.text).toBe('taskHubName');
  });

  it('the scheduler backend switches the host with settings, signing in with the identity', () => {
    const app = loadBicep('modules/functionapp.bicep');
    const settings = evaluate(declaration(app, 'var', 'durableTaskSchedulerSettings').value!, {
      env: { durableTaskSchedulerEndpoint: 'https://dts.example', identityClientId: 'client' },
    });
    expect(settings).toEqual({
      AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged',
      AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName:
        'DURABLE_TASK_SCHEDULER_CONNECTION_STRING',
      DURABLE_TASK_SCHEDULER_CONNECTION_STRING:
        'Endpoint=https://dts.example;Authentication=ManagedIdentity;ClientID=client',
    });
  });
});

describe('parameters the issue asks for', () => {
  const param = (name: string) => declaration(main, 'param', name);

  it('Flex Consumption: Node runtime, instance memory and always-ready', () => {
    expect(evaluate(param('instanceMemoryMB').value!)).toBe(2048);
    expect(evaluate(param('alwaysReady').value!)).toEqual([]);
    expect(evaluate(param('nodeVersion').value!)).toBe('20');
    const app = loadBicep('modules/functionapp.bicep');
    const site = declarations(app).find((d) => d.ref === 'Microsoft.Web/sites')!;
    const scale = prop(site.body, 'properties.functionAppConfig.scaleAndConcurrency');
    expect(prop(scale, 'instanceMemoryMB')?.text).toBe('instanceMemoryMB');
    expect(prop(scale, 'alwaysReady')?.text).toBe('alwaysReady');
    expect(prop(site.body, 'properties.functionAppConfig.runtime.version')?.text).toBe('nodeVersion');
    expect(prop(site.body, 'properties.functionAppConfig.deployment.storage.authentication.type')?.text).toBe(
      "'UserAssignedIdentity'",
    );
  });

  it('Azure OpenAI deployments: model, version and capacity per deployment', () => {
    const deployments = evaluate(param('openAiDeployments').value!) as Record<string, Value>[];
    expect(deployments[0]).toEqual({
      name: expect.any(String),
      model: expect.any(String),
      version: expect.any(String),
      sku: expect.any(String),
      capacity: expect.any(Number),
    });
    const openAi = loadBicep('modules/openai.bicep');
    const deployment = byKind(openAi, 'resource').find(
      (r) => r.ref === 'Microsoft.CognitiveServices/accounts/deployments',
    )!;
    expect(deployment.loop).toBe(true);
    expect(deployment.decorators).toContain('batchSize');
    expect(prop(deployment.body, 'properties.model.version')?.text).toBe('deployment.version');
    expect(prop(deployment.body, 'sku.capacity')?.text).toBe('deployment.capacity');
  });
});
