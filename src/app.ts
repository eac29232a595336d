/**
 * The composition root of the Functions app: settings → catalog, run and conversation stores → models →
 * agent runner. Built lazily on first use (so a cold start that only serves /api/health pays for
 * nothing) and once per process; `functions/` asks it for services, domain code never reads process.env.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createAgentRunner } from './agents/runner';
import type { AgentService } from './agents/types';
import { withSettingsAgents } from './conversations/azure-agent';
import { loadConfig, type Config } from './config';
import { costOf } from './llm/cost';
import { createModelResolver, type ModelResolver } from './llm/factory';
import type { CatalogStore } from './store/catalog';
import type { ConversationStore } from './store/conversations';
import { MemoryCatalogStore } from './store/memory-catalog';
import { MemoryConversationStore } from './store/memory-conversations';
import { MemoryRunStore } from './store/memory-runs';
import type { EventLog, RunStore } from './store/runs';
import { SqliteCatalogStore } from './store/sqlite-catalog';
import { SqliteConversationStore } from './store/sqlite-conversations';
import { SqliteRunStore } from './store/sqlite-runs';

export interface AppServices {
  config: Config;
  catalog: CatalogStore;
  agents: AgentService;
  /** Workflow runs, their outputs and event logs (one adapter serves both ports). */
  runs: RunStore & EventLog;
  /** Conversation transcripts (src/conversations: the actors hold the working memory). */
  conversations: ConversationStore;
  /** The models agents run on (conversation memory summarizes with the agent's own model). */
  resolveModel: ModelResolver;
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

/** The conversation store the settings ask for (SQLite by default, next to the others; or Cosmos DB). */
export function createConversationStore(config: Config): ConversationStore {
  const settings = config.conversations;
  if (settings.store === 'memory') return new MemoryConversationStore();
  if (settings.store === 'cosmos') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the Cosmos SDK loads only on demand
    const cosmos = require('./store/cosmos') as typeof import('./store/cosmos');
    return new cosmos.CosmosConversationStore({
      client: cosmos.createCosmosClient(config.cosmos),
      database: config.cosmos.database,
    });
  }
  const file = path.resolve(settings.sqlitePath);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return new SqliteConversationStore(file);
}

/** Closes the conversation store of composed services, if it was ever opened. */
const conversationClosers = new WeakMap<AppServices, () => void>();

/**
 * The services with a conversation store opened on first use: apps and tests that never hold a
 * conversation open no file for it.
 */
function withLazyConversations(
  services: Omit<AppServices, 'conversations'>,
  open: () => ConversationStore,
): AppServices {
  let store: ConversationStore | undefined;
  const composed = {
    ...services,
    get conversations(): ConversationStore {
      return (store ??= open());
    },
  };
  conversationClosers.set(composed, () => store?.close?.());
  return composed;
}

export function createServices(config: Config): AppServices {
  // With the Azure OpenAI settings present, the seed's `azure` agent is registered too.
  const catalog = withSettingsAgents(createCatalogStore(config), config.llm);
  const resolveModel = createModelResolver(config.llm);
  const agents = createAgentRunner({
    store: catalog,
    resolveModel,
    costOf: (model, usage) => costOf(model, usage, config.llm.prices),
    contextWindows: config.llm.contextWindows,
  });
  try {
    return withLazyConversations(
      { config, catalog, agents, runs: createRunStore(config), resolveModel },
      () => createConversationStore(config),
    );
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
  if (services) conversationClosers.get(services)?.();
  services = undefined;
}

/**
 * Tests: run the HTTP layer over a scripted AgentService (and optionally another catalog). Passing
 * nothing drops the overrides and closes the store, so the next call composes from settings again.
 */
export function setAgentServiceForTests(agents?: AgentService, catalog?: CatalogStore): void {
  if (!agents) return closeServices();
  const config = services?.config ?? loadConfig(process.env);
  const previous = services;
  services = withLazyConversations(
    {
      config,
      catalog: catalog ?? previous?.catalog ?? new MemoryCatalogStore(),
      agents,
      runs: previous?.runs ?? new MemoryRunStore(),
      resolveModel: previous?.resolveModel ?? createModelResolver(config.llm),
    },
    () => (previous ? previous.conversations : new MemoryConversationStore()),
  );
}
