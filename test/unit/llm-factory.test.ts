/** The model resolver: precedence, defaults, configuration errors, decorator wiring and reuse. */
import { loadConfig } from '../../src/config';
import { ConfigError } from '../../src/errors';
import { chooseModel, createAzureTokenProvider, createModelResolver } from '../../src/llm/factory';

const llm = (env: Record<string, string> = {}) =>
  loadConfig({ LLM_RETRY_BASE_MS: '0', LLM_RETRY_MAX_MS: '1', ...env }).llm;
const architect = { id: 'architect', role: 'architect' };
const messages = [{ role: 'user' as const, content: 'Design a queue.' }];

describe('precedence', () => {
  it('AGENT_MODELS[id] > the agent definition > the global settings', () => {
    const config = llm({
      LLM_PROVIDER: 'openai',
      LLM_MODEL: 'gpt-4.1',
      AGENT_MODELS: JSON.stringify({ builder: { provider: 'azure-openai', deployment: 'code-dep' } }),
    });
    expect(chooseModel(config, architect)).toMatchObject({ provider: 'openai', model: 'gpt-4.1' });
    expect(chooseModel(config, { ...architect, model: 'gpt-4o' })).toMatchObject({
      provider: 'openai',
      model: 'gpt-4o',
    });
    expect(
      chooseModel(config, { id: 'builder', role: 'builder', provider: 'offline', model: 'offline-2' }),
    ).toMatchObject({
      provider: 'azure-openai',
      deployment: 'code-dep',
    });
  });

  it("a layer's model only applies to its own provider", () => {
    const config = llm({ LLM_PROVIDER: 'openai', OPENAI_API_KEY: 'k', LLM_MODEL: 'gpt-4.1' });
    const resolve = createModelResolver(config);
    expect(resolve({ ...architect, provider: 'offline' })).toMatchObject({
      provider: 'offline',
      modelName: 'offline-1',
    });
    expect(resolve(architect)).toMatchObject({ provider: 'openai', modelName: 'gpt-4.1' });
    const override = llm({
      AGENT_MODELS: JSON.stringify({ architect: { provider: 'openai' } }),
      OPENAI_API_KEY: 'k',
    });
    expect(
      createModelResolver(override)({ ...architect, provider: 'offline', model: 'offline-9' }),
    ).toMatchObject({
      provider: 'openai',
      modelName: 'gpt-4o-mini',
    });
  });

  it('AZURE_OPENAI_DEPLOYMENT applies to agents moved to Azure', () => {
    const config = llm({
      AZURE_OPENAI_ENDPOINT: 'http://127.0.0.1:9',
      AZURE_OPENAI_DEPLOYMENT: 'dep-1',
      AZURE_OPENAI_API_KEY: 'k',
    });
    const resolved = createModelResolver(config)({ ...architect, provider: 'azure-openai' });
    expect(resolved).toMatchObject({ provider: 'azure-openai', modelName: 'dep-1' });
  });
});

describe('configuration errors', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ LLM_PROVIDER: 'openai' }, /Agent 'architect' uses provider openai, which needs OPENAI_API_KEY/],
    [{ LLM_PROVIDER: 'azure-openai', AZURE_OPENAI_DEPLOYMENT: 'd' }, /needs AZURE_OPENAI_ENDPOINT/],
    [
      { LLM_PROVIDER: 'azure-openai', AZURE_OPENAI_ENDPOINT: 'http://127.0.0.1:9' },
      /AZURE_OPENAI_DEPLOYMENT or AGENT_MODELS\.architect\.deployment/,
    ],
    [{ LLM_PROVIDER: 'openai-compatible', LLM_MODEL: 'llama3' }, /needs OPENAI_COMPATIBLE_BASE_URL/],
    [
      { LLM_PROVIDER: 'openai-compatible', OPENAI_COMPATIBLE_BASE_URL: 'http://127.0.0.1:9/v1' },
      /set LLM_MODEL or AGENT_MODELS\.architect\.model/,
    ],
  ];
  it.each(cases)('%j', (env, message) => {
    const resolve = createModelResolver(llm(env));
    expect(() => resolve(architect)).toThrow(ConfigError);
    expect(() => resolve(architect)).toThrow(message);
  });
});

describe('wiring', () => {
  it('reuses one decorated model per provider and deployment', () => {
    const config = llm({
      AZURE_OPENAI_ENDPOINT: 'http://127.0.0.1:9',
      AZURE_OPENAI_API_KEY: 'k',
      AGENT_MODELS: JSON.stringify({
        a: { provider: 'azure-openai', deployment: 'd1' },
        b: { provider: 'azure-openai', deployment: 'd2' },
        c: { provider: 'azure-openai', deployment: 'd1' },
      }),
    });
    const resolve = createModelResolver(config);
    expect(resolve(architect).model).toBe(resolve({ id: 'scribe', role: 'scribe' }).model);
    const [a, b, c] = ['a', 'b', 'c'].map((id) => resolve({ id, role: 'x' }).model);
    expect(a).toBe(c);
    expect(a).not.toBe(b);
    expect(a!.supportsJsonSchema).toBe(true);
  });

  it('offline calls go through retries (OFFLINE_FAULTS) and the cache', async () => {
    const resolve = createModelResolver(llm({ OFFLINE_FAULTS: '500,429:5', LLM_CACHE_TTL_SECONDS: '60' }));
    const { model, modelName } = resolve(architect);
    const first = await model.complete({ model: modelName, messages, agentRole: 'architect' });
    expect(first).toMatchObject({ provider: 'offline', model: 'offline-1', attempts: 3 });
    const again = await resolve({ id: 'other', role: 'architect' }).model.complete({
      model: modelName,
      messages,
      agentRole: 'architect',
    });
    expect(again).toMatchObject({ cached: true, content: first.content });
  });

  it('the breaker is shared by every agent of a provider', async () => {
    const resolve = createModelResolver(
      llm({ OFFLINE_FAULTS: '500,500', LLM_MAX_RETRIES: '0', LLM_BREAKER_FAILURES: '2' }),
    );
    const call = (id: string) =>
      resolve({ id, role: 'echo' }).model.complete({ model: 'offline-1', messages });
    await expect(call('a')).rejects.toMatchObject({ code: 'LLM.SERVER_ERROR' });
    await expect(call('b')).rejects.toMatchObject({ code: 'LLM.SERVER_ERROR' });
    await expect(call('c')).rejects.toMatchObject({ code: 'LLM.CIRCUIT_OPEN' });
  });

  it('createAzureTokenProvider gets Entra ID tokens from the given credential', async () => {
    const getToken = jest.fn(async () => ({ token: 't-1', expiresOnTimestamp: Date.now() + 3_600_000 }));
    await expect(createAzureTokenProvider({ getToken })()).resolves.toBe('t-1');
    expect(getToken).toHaveBeenCalledWith(
      ['https://cognitiveservices.azure.com/.default'],
      expect.anything(),
    );
  });
});
