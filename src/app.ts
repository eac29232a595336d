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

/** The run store the settings ask for (SQLite by default, next to the catalog). */
export function createRunStore(settings: Config['runs']): RunStore & EventLog {
  if (settings.store === 'memory') return new MemoryRunStore();
  const file = path.resolve(settings.sqlitePath);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return new SqliteRunStore(file);
}

/** The catalog store the settings ask for; the SQLite file's folder is created when missing. */
export function createCatalogStore(settings: Config['catalog']): CatalogStore {
  if (settings.store === 'memory') return new MemoryCatalogStore();
  const file = path.resolve(settings.sqlitePath);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return new SqliteCatalogStore(file);
}

export function createServices(config: Config): AppServices {
  const catalog = createCatalogStore(config.catalog);
  const agents = createAgentRunner({
    store: catalog,
    resolveModel: createModelResolver(config.llm),
    costOf: (model, usage) => costOf(model, usage, config.llm.prices),
    contextWindows: config.llm.contextWindows,
  });
  return { config, catalog, agents, runs: createRunStore(config.runs) };
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
