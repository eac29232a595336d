/**
 * createModelResolver: which provider and model an agent talks to, and the ChatModel to call it
 * with: Caching(Resilient(adapter)). Adapters are made once per provider and Azure deployment and
 * reused (keep-alive connections, one fault list for the offline model); the breaker, concurrency
 * limit and rate limiter are shared per provider; the response cache is shared by all.
 */
import type { TokenCredential } from '@azure/identity';
import type { Config, ProviderName } from '../config';
import { ConfigError } from '../errors';
import { CachingChatModel, ResponseCache } from './cache';
import { systemClock, type Clock } from './limiter';
import { OfflineChatModel } from './offline';
import { OpenAIChatModel } from './openai';
import { createProviderGuards, ResilientChatModel, type ProviderGuards } from './resilience';
import type { ChatModel } from './types';

export { createAzureTokenProvider } from './openai';

/** What the resolver needs of an agent definition. */
export interface AgentModelRef {
  id: string;
  role: string;
  provider?: ProviderName;
  model?: string;
  deployment?: string;
}

export interface ResolvedModel {
  model: ChatModel;
  /** Sent as the request's model: the model name, or the deployment for Azure OpenAI. */
  modelName: string;
  provider: ProviderName;
}

export type ModelResolver = (agent: AgentModelRef) => ResolvedModel;

export interface ModelResolverDeps {
  /** Azure OpenAI without a key: the Entra ID credential (default: DefaultAzureCredential). */
  credential?: TokenCredential;
  /** Azure OpenAI without a key: a bearer token source, instead of `credential`. */
  azureTokenProvider?: () => Promise<string>;
  fetch?: typeof fetch;
  clock?: Clock;
  random?: () => number;
}

export const DEFAULT_MODELS = { offline: 'offline-1', openai: 'gpt-4o-mini' } as const;

interface Layer {
  provider?: ProviderName;
  model?: string;
  deployment?: string;
}

/**
 * AGENT_MODELS[agent.id] > the agent definition > LLM_PROVIDER / LLM_MODEL / AZURE_OPENAI_DEPLOYMENT.
 * A layer's model and deployment only count for the provider it names (or leaves open), so an
 * LLM_MODEL meant for OpenAI does not follow an agent moved to Ollama.
 */
export function chooseModel(
  llm: Config['llm'],
  agent: AgentModelRef,
): Required<Pick<Layer, 'provider'>> & Layer {
  const layers: Layer[] = [
    llm.agentModels[agent.id] ?? {},
    { provider: agent.provider, model: agent.model, deployment: agent.deployment },
    { provider: llm.provider, model: llm.model },
  ];
  const provider = layers.find((l) => l.provider)?.provider ?? llm.provider;
  const applies = (l: Layer) => l.provider === undefined || l.provider === provider;
  const model = layers.find((l) => applies(l) && l.model)?.model;
  const deployment = layers.find((l) => applies(l) && l.deployment)?.deployment ?? llm.azure.deployment;
  return { provider, model, deployment };
}

export function createModelResolver(llm: Config['llm'], deps: ModelResolverDeps = {}): ModelResolver {
  const clock = deps.clock ?? systemClock;
  const cache = new ResponseCache({
    ttlMs: llm.cacheTtlSeconds * 1000,
    maxEntries: llm.cacheMaxEntries,
    clock,
  });
  const guards = new Map<ProviderName, ProviderGuards>();
  const models = new Map<string, ChatModel>();
  const policy = {
    maxRetries: llm.maxRetries,
    retryBaseMs: llm.retryBaseMs,
    retryMaxMs: llm.retryMaxMs,
    timeoutMs: llm.timeoutMs,
  };

  /** The decorated model for a provider (and deployment), made on first use. */
  const modelFor = (
    provider: ProviderName,
    deployment: string | undefined,
    make: () => ChatModel,
  ): ChatModel => {
    const key = `${provider}\u0000${deployment ?? ''}`;
    let model = models.get(key);
    if (!model) {
      let shared = guards.get(provider);
      if (!shared) guards.set(provider, (shared = createProviderGuards(provider, llm, clock)));
      model = new CachingChatModel(
        new ResilientChatModel(make(), policy, shared, { clock, random: deps.random }),
        cache,
      );
      models.set(key, model);
    }
    return model;
  };

  return (agent) => {
    const { provider, model, deployment } = chooseModel(llm, agent);
    const who = `Agent '${agent.id}' uses provider ${provider}, which needs`;
    const remote = { timeoutMs: llm.timeoutMs, fetch: deps.fetch };
    switch (provider) {
      case 'offline': {
        const chat = modelFor(provider, undefined, () => new OfflineChatModel({ ...llm.offline, clock }));
        return { model: chat, modelName: model ?? DEFAULT_MODELS.offline, provider };
      }
      case 'openai': {
        const apiKey = need(llm.openai.apiKey, `${who} OPENAI_API_KEY.`);
        const make = () => new OpenAIChatModel({ ...remote, provider, apiKey, baseUrl: llm.openai.baseUrl });
        return {
          model: modelFor(provider, undefined, make),
          modelName: model ?? DEFAULT_MODELS.openai,
          provider,
        };
      }
      case 'azure-openai': {
        const endpoint = need(llm.azure.endpoint, `${who} AZURE_OPENAI_ENDPOINT.`);
        const dep = need(
          deployment,
          `${who} a deployment: set AZURE_OPENAI_DEPLOYMENT or AGENT_MODELS.${agent.id}.deployment.`,
        );
        const make = () =>
          new OpenAIChatModel({
            ...remote,
            provider,
            endpoint,
            deployment: dep,
            apiVersion: llm.azure.apiVersion,
            apiKey: llm.azure.apiKey,
            azureTokenProvider: deps.azureTokenProvider,
            credential: deps.credential,
          });
        return { model: modelFor(provider, dep, make), modelName: dep, provider };
      }
      case 'openai-compatible': {
        const baseUrl = need(llm.compatible.baseUrl, `${who} OPENAI_COMPATIBLE_BASE_URL.`);
        const name = need(model, `${who} a model name: set LLM_MODEL or AGENT_MODELS.${agent.id}.model.`);
        const make = () =>
          new OpenAIChatModel({
            ...remote,
            provider,
            baseUrl,
            apiKey: llm.compatible.apiKey ?? 'not-needed',
          });
        return { model: modelFor(provider, undefined, make), modelName: name, provider };
      }
    }
  };
}

function need<T>(value: T | undefined, message: string): T {
  if (value === undefined || value === '') throw new ConfigError(message);
  return value;
}
