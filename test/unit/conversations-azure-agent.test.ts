/**
 * The seed's `azure` agent: registered by the composition root only when the Azure OpenAI settings are
 * present, read-only, and run on Azure OpenAI (the real SDK against the local fake server) — the
 * default provider (offline) notwithstanding.
 */
import { createServices } from '../../src/app';
import { loadConfig } from '../../src/config';
import {
  AZURE_AGENT_ID,
  azureOpenAIAgent,
  CatalogWithFixedAgents,
} from '../../src/conversations/azure-agent';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';
import { startFakeOpenAI, type FakeOpenAI } from '../fixtures/fake-openai';

const memoryStores = { CATALOG_STORE: 'memory', RUN_STORE: 'memory', CONVERSATION_STORE: 'memory' };

it('is not registered without the Azure OpenAI endpoint and deployment', async () => {
  expect(azureOpenAIAgent(loadConfig({}).llm)).toBeUndefined();
  expect(
    azureOpenAIAgent(loadConfig({ AZURE_OPENAI_ENDPOINT: 'https://x.openai.azure.com' }).llm),
  ).toBeUndefined();
  const services = createServices(loadConfig(memoryStores));
  try {
    expect(services.catalog).toBeInstanceOf(MemoryCatalogStore);
    expect(await services.agents.resolve(AZURE_AGENT_ID)).toBeUndefined();
  } finally {
    services.catalog.close?.();
  }
});

describe('with the Azure OpenAI settings', () => {
  let fake: FakeOpenAI;
  beforeEach(async () => (fake = await startFakeOpenAI()));
  afterEach(async () => {
    await fake.close();
    expect(fake.errors).toEqual([]);
  });

  const settings = () =>
    loadConfig({
      ...memoryStores,
      AZURE_OPENAI_ENDPOINT: fake.url,
      AZURE_OPENAI_DEPLOYMENT: 'chat-prod',
      AZURE_OPENAI_API_KEY: 'azure-key',
      LLM_MAX_RETRIES: '0',
    });

  it('is listed, resolved and run on its deployment while other agents stay offline', async () => {
    const services = createServices(settings());
    fake.script({ content: 'Hello from Azure.' });
    const def = await services.agents.resolve('Azure');
    expect(def).toMatchObject({
      id: 'azure',
      provider: 'azure-openai',
      deployment: 'chat-prod',
      builtIn: true,
    });
    expect((await services.agents.list()).map((a) => a.id)).toContain('azure');
    const result = await services.agents.execute({ agent: 'azure', prompt: 'Say hello' });
    expect(result).toMatchObject({ output: 'Hello from Azure.', provider: 'azure-openai' });
    expect(fake.requests[0]!.path).toBe('/openai/deployments/chat-prod/chat/completions');
    expect((await services.agents.execute({ agent: 'echo', prompt: 'still offline' })).provider).toBe(
      'offline',
    );
  });

  it('cannot be created, changed or deleted through the catalog; other agents can', async () => {
    const catalog = new CatalogWithFixedAgents(new MemoryCatalogStore(), [azureOpenAIAgent(settings().llm)!]);
    const azure = (await catalog.getAgent('azure'))!;
    await expect(catalog.createAgent(azure)).rejects.toMatchObject({ code: 'AGENT.BUILTIN', status: 409 });
    await expect(catalog.updateAgent(azure)).rejects.toMatchObject({ code: 'AGENT.BUILTIN' });
    await expect(catalog.deleteAgent('azure')).rejects.toMatchObject({ code: 'AGENT.BUILTIN' });
    await catalog.createAgent({ ...azure, id: 'helper', name: 'Helper', builtIn: false });
    expect((await catalog.listAgents()).map((a) => a.id)).toEqual(['azure', 'helper']);
    expect(await catalog.deleteAgent('helper')).toBe(true);
    expect(await catalog.listWorkflows()).toEqual([]);
  });
});
