/**
 * One schema over the app settings (process.env): every setting the app reads is named here, with
 * its default. Parsed once at start-up; a bad value fails fast, naming the setting. Domain code gets
 * the typed Config, never process.env.
 */
import { z } from 'zod';
import { ConfigError } from '../errors';

export const PROVIDERS = ['offline', 'openai', 'azure-openai', 'openai-compatible'] as const;
export type ProviderName = (typeof PROVIDERS)[number];
export const STORES = ['sqlite', 'memory', 'cosmos'] as const;
export type StoreKind = (typeof STORES)[number];
/** What conversation memory does with older turns when it outgrows its budget. */
export const MEMORY_STRATEGIES = ['summarize', 'trim'] as const;
export type MemoryStrategy = (typeof MEMORY_STRATEGIES)[number];

/** An empty value (as local.settings.json templates have) means "not set". */
const unsetIfEmpty = (v: unknown): unknown => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const int = (def: number, min = 0) =>
  z.preprocess(unsetIfEmpty, z.coerce.number().int().min(min).default(def));
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const json = <T extends z.ZodType>(schema: T, def: z.input<T>) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      try {
        return JSON.parse(v) as unknown;
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `not valid JSON: ${(err as Error).message}` });
        return z.NEVER;
      }
    })
    .pipe(schema);

/** Per-model price in USD per 1M tokens. */
const priceTable = z.record(z.string(), z.object({ input: z.number().min(0), output: z.number().min(0) }));
const rateLimits = z.record(
  z.string(),
  z.object({ rpm: z.number().int().min(0).optional(), tpm: z.number().int().min(0).optional() }),
);
const contextWindows = z.record(z.string(), z.number().int().positive());

/** The raw settings, by their app-setting names. */
export const settingsSchema = z.object({
  LLM_PROVIDER: z.preprocess(unsetIfEmpty, z.enum(PROVIDERS).default('offline')),
  LLM_MODEL: optionalString,
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalString,
  AZURE_OPENAI_ENDPOINT: optionalString,
  AZURE_OPENAI_API_KEY: optionalString,
  AZURE_OPENAI_API_VERSION: z.preprocess(unsetIfEmpty, z.string().default('2024-10-21')),
  AZURE_OPENAI_DEPLOYMENT: optionalString,
  OPENAI_COMPATIBLE_BASE_URL: optionalString,
  OPENAI_COMPATIBLE_API_KEY: optionalString,
  /** Per-agent overrides as JSON: {"architect": {"provider": "azure-openai", "deployment": "gpt-4o"}}. */
  AGENT_MODELS: json(
    z.record(
      z.string(),
      z.object({
        provider: z.enum(PROVIDERS).optional(),
        model: z.string().optional(),
        deployment: z.string().optional(),
      }),
    ),
    {},
  ),
  LLM_TIMEOUT_MS: int(60_000, 1),
  LLM_MAX_RETRIES: int(3),
  LLM_RETRY_BASE_MS: int(500),
  LLM_RETRY_MAX_MS: int(30_000),
  LLM_MAX_CONCURRENCY: int(16, 1),
  LLM_RATE_LIMITS: json(rateLimits, {}),
  LLM_BREAKER_FAILURES: int(5, 1),
  LLM_BREAKER_COOLDOWN_MS: int(30_000),
  LLM_PRICES: json(priceTable, {}),
  LLM_CONTEXT_WINDOWS: json(contextWindows, {}),
  LLM_CACHE_TTL_SECONDS: int(0),
  LLM_CACHE_MAX_ENTRIES: int(1000, 1),
  /** Offline model: latency before the first token, per-token delay while streaming. */
  OFFLINE_LATENCY_MS: int(0),
  OFFLINE_TOKEN_DELAY_MS: int(0),
  /** Offline model: injected faults, in order, e.g. "429,500,timeout" (each consumed by one call). */
  OFFLINE_FAULTS: optionalString,
  CATALOG_STORE: z.preprocess(unsetIfEmpty, z.enum(STORES).default('sqlite')),
  CATALOG_SQLITE_PATH: z.preprocess(unsetIfEmpty, z.string().default('.data/catalog.sqlite')),
  /** Workflow runs, their step outputs and event logs. */
  RUN_STORE: z.preprocess(unsetIfEmpty, z.enum(STORES).default('sqlite')),
  RUN_SQLITE_PATH: z.preprocess(unsetIfEmpty, z.string().default('.data/runs.sqlite')),
  /** Events of finished runs are deleted after this many hours (0 keeps them). */
  RUN_EVENTS_TTL_HOURS: int(168),
  /** Model output chunks are coalesced into one `step.delta` event per this many ms (0: no deltas). */
  RUN_DELTA_FLUSH_MS: int(100),
  /** SSE heartbeat comment interval on run event streams. */
  RUN_SSE_HEARTBEAT_MS: int(15_000, 10),
  /** Conversations (actor-per-conversation agents): the transcript store. */
  CONVERSATION_STORE: z.preprocess(unsetIfEmpty, z.enum(STORES).default('sqlite')),
  CONVERSATION_SQLITE_PATH: z.preprocess(unsetIfEmpty, z.string().default('.data/conversations.sqlite')),
  /** Conversations idle this long are deleted, transcript and actor (0 keeps them). */
  CONVERSATION_TTL_SECONDS: int(86_400),
  /** When the expiry timer runs (NCRONTAB with seconds). */
  CONVERSATION_EXPIRY_SCHEDULE: z.preprocess(unsetIfEmpty, z.string().default('0 */5 * * * *')),
  /** Older turns, when the memory outgrows its budget: summarized by the agent's model, or trimmed. */
  CONVERSATION_MEMORY_STRATEGY: z.preprocess(unsetIfEmpty, z.enum(MEMORY_STRATEGIES).default('summarize')),
  /** The memory budget in tokens (0: half the context window of the agent's model). */
  CONVERSATION_MEMORY_MAX_TOKENS: int(0),
  /** How long POST /agents/{name}/run waits for the reply before it answers 202 (pending). */
  CONVERSATION_TURN_TIMEOUT_MS: int(120_000, 1),
  /** Cosmos DB (CATALOG_STORE / RUN_STORE = cosmos): account endpoint, database. */
  COSMOS_ENDPOINT: optionalString,
  /** Account key, for local stand-ins only; without it the app signs in with DefaultAzureCredential. */
  COSMOS_KEY: optionalString,
  COSMOS_DATABASE: z.preprocess(unsetIfEmpty, z.string().default('agentfunctions')),
  /** Client id of the user-assigned managed identity (read by DefaultAzureCredential). */
  AZURE_CLIENT_ID: optionalString,
  /** Service Bus: a connection string (local) or, on Azure, the namespace for managed identity. */
  ServiceBusConnection: optionalString,
  ServiceBusConnection__fullyQualifiedNamespace: optionalString,
  /** Application Insights; telemetry is off without it. */
  APPLICATIONINSIGHTS_CONNECTION_STRING: optionalString,
  /** `Authorization=AAD;ClientId=<id>`: export with the managed identity (App Insights local auth off). */
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: optionalString,
  /** Record prompts and model outputs on spans (off by default: they may hold personal data). */
  TELEMETRY_RECORD_CONTENT: z.preprocess(
    unsetIfEmpty,
    z
      .enum(['true', 'false', '1', '0'])
      .default('false')
      .transform((v) => v === 'true' || v === '1'),
  ),
});

export type Settings = z.infer<typeof settingsSchema>;

export interface Config {
  llm: {
    provider: ProviderName;
    model: string | undefined;
    openai: { apiKey?: string; baseUrl?: string };
    azure: { endpoint?: string; apiKey?: string; apiVersion: string; deployment?: string };
    compatible: { baseUrl?: string; apiKey?: string };
    agentModels: Settings['AGENT_MODELS'];
    timeoutMs: number;
    maxRetries: number;
    retryBaseMs: number;
    retryMaxMs: number;
    maxConcurrency: number;
    rateLimits: Settings['LLM_RATE_LIMITS'];
    breakerFailures: number;
    breakerCooldownMs: number;
    prices: Settings['LLM_PRICES'];
    contextWindows: Settings['LLM_CONTEXT_WINDOWS'];
    cacheTtlSeconds: number;
    cacheMaxEntries: number;
    offline: { latencyMs: number; tokenDelayMs: number; faults: string[] };
  };
  catalog: { store: StoreKind; sqlitePath: string };
  runs: {
    store: StoreKind;
    sqlitePath: string;
    eventsTtlHours: number;
    deltaFlushMs: number;
    sseHeartbeatMs: number;
  };
  conversations: {
    store: StoreKind;
    sqlitePath: string;
    ttlSeconds: number;
    expirySchedule: string;
    memory: { strategy: MemoryStrategy; maxTokens: number };
    turnTimeoutMs: number;
  };
  cosmos: { endpoint?: string; key?: string; database: string; clientId?: string };
  serviceBus: { connectionString?: string; fullyQualifiedNamespace?: string; clientId?: string };
  telemetry: { connectionString?: string; authenticationString?: string; recordContent: boolean };
}

/** Parses the settings; throws a ConfigError naming every bad setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid app settings: ${problems.join('; ')}`);
  }
  const s = parsed.data;
  return {
    llm: {
      provider: s.LLM_PROVIDER,
      model: s.LLM_MODEL,
      openai: { apiKey: s.OPENAI_API_KEY, baseUrl: s.OPENAI_BASE_URL },
      azure: {
        endpoint: s.AZURE_OPENAI_ENDPOINT,
        apiKey: s.AZURE_OPENAI_API_KEY,
        apiVersion: s.AZURE_OPENAI_API_VERSION,
        deployment: s.AZURE_OPENAI_DEPLOYMENT,
      },
      compatible: { baseUrl: s.OPENAI_COMPATIBLE_BASE_URL, apiKey: s.OPENAI_COMPATIBLE_API_KEY },
      agentModels: s.AGENT_MODELS,
      timeoutMs: s.LLM_TIMEOUT_MS,
      maxRetries: s.LLM_MAX_RETRIES,
      retryBaseMs: s.LLM_RETRY_BASE_MS,
      retryMaxMs: s.LLM_RETRY_MAX_MS,
      maxConcurrency: s.LLM_MAX_CONCURRENCY,
      rateLimits: s.LLM_RATE_LIMITS,
      breakerFailures: s.LLM_BREAKER_FAILURES,
      breakerCooldownMs: s.LLM_BREAKER_COOLDOWN_MS,
      prices: s.LLM_PRICES,
      contextWindows: s.LLM_CONTEXT_WINDOWS,
      cacheTtlSeconds: s.LLM_CACHE_TTL_SECONDS,
      cacheMaxEntries: s.LLM_CACHE_MAX_ENTRIES,
      offline: {
        latencyMs: s.OFFLINE_LATENCY_MS,
        tokenDelayMs: s.OFFLINE_TOKEN_DELAY_MS,
        faults: s.OFFLINE_FAULTS
          ? s.OFFLINE_FAULTS.split(',')
              .map((f) => f.trim())
              .filter(Boolean)
          : [],
      },
    },
    catalog: { store: s.CATALOG_STORE, sqlitePath: s.CATALOG_SQLITE_PATH },
    runs: {
      store: s.RUN_STORE,
      sqlitePath: s.RUN_SQLITE_PATH,
      eventsTtlHours: s.RUN_EVENTS_TTL_HOURS,
      deltaFlushMs: s.RUN_DELTA_FLUSH_MS,
      sseHeartbeatMs: s.RUN_SSE_HEARTBEAT_MS,
    },
    conversations: {
      store: s.CONVERSATION_STORE,
      sqlitePath: s.CONVERSATION_SQLITE_PATH,
      ttlSeconds: s.CONVERSATION_TTL_SECONDS,
      expirySchedule: s.CONVERSATION_EXPIRY_SCHEDULE,
      memory: { strategy: s.CONVERSATION_MEMORY_STRATEGY, maxTokens: s.CONVERSATION_MEMORY_MAX_TOKENS },
      turnTimeoutMs: s.CONVERSATION_TURN_TIMEOUT_MS,
    },
    cosmos: {
      endpoint: s.COSMOS_ENDPOINT,
      key: s.COSMOS_KEY,
      database: s.COSMOS_DATABASE,
      clientId: s.AZURE_CLIENT_ID,
    },
    serviceBus: {
      connectionString: s.ServiceBusConnection,
      fullyQualifiedNamespace: s.ServiceBusConnection__fullyQualifiedNamespace,
      clientId: s.AZURE_CLIENT_ID,
    },
    telemetry: {
      connectionString: s.APPLICATIONINSIGHTS_CONNECTION_STRING,
      authenticationString: s.APPLICATIONINSIGHTS_AUTHENTICATION_STRING,
      recordContent: s.TELEMETRY_RECORD_CONTENT,
    },
  };
}

/** The names of every app setting the code reads (local.settings.example.json and bicep must agree). */
export const SETTING_NAMES = Object.keys(settingsSchema.shape);
