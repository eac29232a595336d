/**
 * The composition root of the Functions app: settings → catalog and run stores → models → agent runner. Built
 * lazily on first use (so a cold start that only serves /api/health pays for nothing) and once per
 * process; `functions/` asks it for services, domain code never reads process.env.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createAgentRunner } from './agents/runner';
import type { AgentService } from './agents/types';
import { loadConfig, type Config } from './config';
import { costOf } from './llm/cost';
import { createModelResolver } from './llm/factory';
import type { CatalogStore } from './store/catalog';
import { MemoryCatalogStore } from './store/memory-catalog';
import { MemoryRunStore } from './store/memory-runs';
import type { EventLog, RunStore } from './store/runs';
import { SqliteCatalogStore } from './store/sqlite-catalog';
import { SqliteRunStore } from './store/sqlite-runs';

export interface AppServices {
  config: Config;
  catalog: CatalogStore;
  agents: AgentService;
  /** Workflow runs, their outputs and event logs (one adapter serves both ports). */
  runs: RunStore & EventLog;
}

/** The run store the settings ask for (SQLite by default, next to the catalog; or Cosmos DB). */
export function createRunStore(config: Config): RunStore & EventLog {
  const settings = config.runs;
  if (settings.store === 'memory') return new MemoryRunStore();
  if (settings.store === 'cosmos') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the Cosmos SDK loads only on demand
    const cosmos = require('./store/cosmos') as typeof import('./store/cosmos');
    return new cosmos.CosmosRunStore({
      client: cosmos.createCosmosClient(config.cosmos),
      database: config.cosmos.database,
      eventsTtlSeconds: settings.eventsTtlHours * 3600,
    });
  }
  const file = path.resolve(settings.sqlitePath);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return new SqliteRunStore(file);
}

/**
 * The catalog store the settings ask for; the SQLite file's folder is created when missing. Cosmos
 * needs COSMOS_ENDPOINT (a ConfigError without it); nothing is contacted until the first call.
 */
export function createCatalogStore(config: Config): CatalogStore {
  const settings = config.catalog;
  if (settings.store === 'memory') return new MemoryCatalogStore();
  if (settings.store === 'cosmos') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the Cosmos SDK loads only on demand
    const cosmos = require('./store/cosmos') as typeof import('./store/cosmos');
    return new cosmos.CosmosCatalogStore({
      client: cosmos.createCosmosClient(config.cosmos),
      database: config.cosmos.database,
    });
  }
  const file = path.resolve(settings.sqlitePath);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return new SqliteCatalogStore(file);
}

export function createServices(config: Config): AppServices {
  const catalog = createCatalogStore(config);
  const agents = createAgentRunner({
    store: catalog,
    resolveModel: createModelResolver(config.llm),
    costOf: (model, usage) => costOf(model, usage, config.llm.prices),
    contextWindows: config.llm.contextWindows,
  });
  try {
    return { config, catalog, agents, runs: createRunStore(config) };
  } catch (err) {
    catalog.close?.(); // a bad run store setting must not leave the catalog open
    throw err;
  }
}

let services: AppServices | undefined;

/** The process-wide services, composed from process.env on first call. */
export function getServices(): AppServices {
  services ??= createServices(loadConfig(process.env));
  return services;
}

/** Closes the catalog and forgets the services (app shutdown); the next call composes again. */
export function closeServices(): void {
  services?.catalog.close?.();
  services?.runs.close?.();
  services = undefined;
}

/**
 * Tests: run the HTTP layer over a scripted AgentService (and optionally another catalog). Passing
 * nothing drops the overrides and closes the store, so the next call composes from settings again.
 */
export function setAgentServiceForTests(agents?: AgentService, catalog?: CatalogStore): void {
  if (!agents) return closeServices();
  const config = services?.config ?? loadConfig(process.env);
  services = {
    config,
    catalog: catalog ?? services?.catalog ?? new MemoryCatalogStore(),
    agents,
    runs: services?.runs ?? new MemoryRunStore(),
  };
}
