/**
 * The real `openai` SDK over real HTTP against the fake OpenAI server (127.0.0.1 only): request
 * shapes per provider, authentication, structured output, streaming with usage, and failures
 * through the resilience layer (retry-after, circuit breaker, timeouts, non-retryable errors).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config';
import { LlmError } from '../../src/llm/errors';
import { createModelResolver, type ModelResolverDeps } from '../../src/llm/factory';
import { OpenAIChatModel } from '../../src/llm/openai';
import type { ChatChunk, ChatRequest, ChatResult } from '../../src/llm/types';
import { startFakeOpenAI, type FakeOpenAI } from '../fixtures/fake-openai';

const agent = { id: 'architect', role: 'architect' };
const ask = (content = 'hello', extra: Partial<ChatRequest> = {}): Omit<ChatRequest, 'model'> => ({
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content },
  ],
  ...extra,
});

let fake: FakeOpenAI;

beforeEach(async () => {
  fake = await startFakeOpenAI();
});

afterEach(async () => {
  await fake.close();
  expect(fake.errors).toEqual([]);
});

function resolver(env: Record<string, string>, deps?: ModelResolverDeps) {
  const llm = loadConfig({ LLM_RETRY_BASE_MS: '1', LLM_RETRY_MAX_MS: '5', ...env }).llm;
  return createModelResolver(llm, deps);
}

const openaiEnv = () => ({
  LLM_PROVIDER: 'openai',
  OPENAI_API_KEY: 'sk-test-123456',
  OPENAI_BASE_URL: fake.baseURL,
});
const azureEnv = () => ({
  LLM_PROVIDER: 'azure-openai',
  AZURE_OPENAI_ENDPOINT: fake.url,
  AZURE_OPENAI_DEPLOYMENT: 'gpt4o-prod',
  AZURE_OPENAI_API_VERSION: '2024-10-21',
});

async function failure(p: Promise<unknown>): Promise<LlmError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LlmError);
  return err as LlmError;
}

async function drain(
  gen: AsyncGenerator<ChatChunk, ChatResult, void>,
): Promise<{ deltas: string[]; result: ChatResult }> {
  const deltas: string[] = [];
  for (;;) {
    const step = await gen.next();
    if (step.done) return { deltas, result: step.value };
    deltas.push(step.value.delta);
  }
}

describe('request shapes', () => {
  it('OpenAI: /v1/chat/completions, bearer key, model and parameters in the body', async () => {
    fake.script({ content: 'hi there', usage: { prompt_tokens: 9, completion_tokens: 2 } });
    const { model, modelName } = resolver({ ...openaiEnv(), LLM_MODEL: 'gpt-4.1' })(agent);
    const result = await model.complete({
      ...ask('hello', { maxTokens: 50, temperature: 0.2 }),
      model: modelName,
    });
    expect(result).toMatchObject({
      content: 'hi there',
      provider: 'openai',
      finishReason: 'stop',
      attempts: 1,
    });
    expect(result.usage).toEqual({ prompt: 9, completion: 2, total: 11 });
    const [req] = fake.requests;
    expect(req).toMatchObject({ method: 'POST', path: '/v1/chat/completions' });
    expect(req!.headers.authorization).toBe('Bearer sk-test-123456');
    expect(req!.headers['x-stainless-retry-count']).toBe('0');
    expect(req!.body).toMatchObject({ model: 'gpt-4.1', max_tokens: 50, temperature: 0.2 });
    expect(req!.body.messages).toEqual([
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'hello' },
    ]);
  });

  it('reasoning models get max_completion_tokens and no temperature', async () => {
    fake.script({});
    const model = new OpenAIChatModel({
      provider: 'openai',
      apiKey: 'k-1',
      baseUrl: fake.baseURL,
      timeoutMs: 5000,
    });
    await model.complete({ ...ask('x', { maxTokens: 64, temperature: 0.5 }), model: 'o3-mini' });
    expect(fake.requests[0]!.body).toMatchObject({ model: 'o3-mini', max_completion_tokens: 64 });
    expect(fake.requests[0]!.body).not.toHaveProperty('max_tokens');
    expect(fake.requests[0]!.body).not.toHaveProperty('temperature');
  });

  it('Azure OpenAI with a key: deployment path, api-version query, api-key header', async () => {
    fake.script({ content: 'from azure' });
    const { model, modelName, provider } = resolver({ ...azureEnv(), AZURE_OPENAI_API_KEY: 'azure-key-1' })(
      agent,
    );
    expect({ modelName, provider }).toEqual({ modelName: 'gpt4o-prod', provider: 'azure-openai' });
    const result = await model.complete({ ...ask(), model: modelName });
    expect(result.content).toBe('from azure');
    const [req] = fake.requests;
    expect(req).toMatchObject({
      path: '/openai/deployments/gpt4o-prod/chat/completions',
      query: { 'api-version': '2024-10-21' },
      deployment: 'gpt4o-prod',
    });
    expect(req!.headers['api-key']).toBe('azure-key-1');
    expect(req!.headers.authorization).toBeUndefined();
  });

  it('Azure OpenAI with Entra ID: bearer token from an injected token provider', async () => {
    fake.script({}, {});
    const tokens = jest.fn(async () => 'entra-token-1');
    const { model, modelName } = resolver(azureEnv(), { azureTokenProvider: tokens })(agent);
    await model.complete({ ...ask(), model: modelName });
    await model.complete({ ...ask('again'), model: modelName });
    expect(fake.requests.map((r) => r.headers.authorization)).toEqual([
      'Bearer entra-token-1',
      'Bearer entra-token-1',
    ]);
    expect(fake.requests[0]!.headers['api-key']).toBeUndefined();
    expect(tokens).toHaveBeenCalled();
  });

  it('Azure OpenAI with Entra ID: bearer token from an injected TokenCredential (no network)', async () => {
    fake.script({});
    const getToken = jest.fn(async () => ({
      token: 'cred-token-7',
      expiresOnTimestamp: Date.now() + 3_600_000,
    }));
    const { model, modelName } = resolver(azureEnv(), { credential: { getToken } })(agent);
    await model.complete({ ...ask(), model: modelName });
    expect(fake.requests[0]!.headers.authorization).toBe('Bearer cred-token-7');
    expect(getToken).toHaveBeenCalledWith(
      ['https://cognitiveservices.azure.com/.default'],
      expect.anything(),
    );
  });

  it('a failing credential is LLM.AUTH', async () => {
    const credential = { getToken: async () => Promise.reject(new Error('no identity here')) };
    const { model, modelName } = resolver(azureEnv(), { credential })(agent);
    const err = await failure(model.complete({ ...ask(), model: modelName }));
    expect(err.code).toBe('LLM.AUTH');
    expect(err.message).toContain('Entra ID token');
    expect(fake.requests).toHaveLength(0);
  });

  it('OpenAI-compatible: the configured base URL, the model name, json_object instead of json_schema', async () => {
    fake.script({ content: '{"a":1}' });
    const { model, modelName } = resolver({
      LLM_PROVIDER: 'openai-compatible',
      OPENAI_COMPATIBLE_BASE_URL: fake.baseURL,
      LLM_MODEL: 'llama3.1:8b',
    })(agent);
    expect(model.supportsJsonSchema).toBe(false);
    const responseFormat = { type: 'json_schema' as const, name: 'out', schema: { type: 'object' } };
    await model.complete({ ...ask('json please', { responseFormat }), model: modelName });
    const [req] = fake.requests;
    expect(req!.path).toBe('/v1/chat/completions');
    expect(req!.body.model).toBe('llama3.1:8b');
    expect(req!.body.response_format).toEqual({ type: 'json_object' });
    expect(req!.headers.authorization).toBe('Bearer not-needed');
  });

  it('json_schema response format is sent with name, schema and strict', async () => {
    fake.script({ content: '{"score":1}' });
    const { model, modelName } = resolver(openaiEnv())(agent);
    const schema = { type: 'object', properties: { score: { type: 'number' } }, required: ['score'] };
    await model.complete({
      ...ask('x', { responseFormat: { type: 'json_schema', name: 'verdict', schema, strict: true } }),
      model: modelName,
    });
    expect(fake.requests[0]!.body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'verdict', schema, strict: true },
    });
  });
});

describe('streaming', () => {
  it('deltas concatenate to the content; usage comes from the usage chunk', async () => {
    const content = 'Streaming works, token by token — with ünïcode too.';
    fake.script({ content, chunkSize: 3, usage: { prompt_tokens: 20, completion_tokens: 13 } });
    const { model, modelName } = resolver(openaiEnv())(agent);
    const { deltas, result } = await drain(model.stream({ ...ask(), model: modelName }));
    expect(deltas.length).toBeGreaterThan(5);
    expect(deltas.join('')).toBe(content);
    expect(result).toMatchObject({ content, finishReason: 'stop', attempts: 1, provider: 'openai' });
    expect(result.usage).toEqual({ prompt: 20, completion: 13, total: 33 });
    expect(fake.requests[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('without a usage chunk, tokens are counted with the tokenizer', async () => {
    fake.script({ content: 'hello world', usage: null });
    const { model, modelName } = resolver(openaiEnv())(agent);
    const { result } = await drain(model.stream({ ...ask(), model: modelName }));
    expect(result.usage.completion).toBe(2);
    expect(result.usage.prompt).toBeGreaterThan(5);
    expect(result.usage.total).toBe(result.usage.prompt + 2);
  });

  it('finish_reason content_filter is LLM.CONTENT_FILTERED', async () => {
    fake.script({ content: '', finishReason: 'content_filter' });
    const { model, modelName } = resolver(openaiEnv())(agent);
    expect((await failure(model.complete({ ...ask(), model: modelName }))).code).toBe('LLM.CONTENT_FILTERED');
  });
});

describe('failures through the resilience layer', () => {
  it('429 with retry-after-ms, then success: 2 attempts and the wait honoured', async () => {
    fake.script({ status: 429, headers: { 'retry-after-ms': '120' } }, { content: 'after the wait' });
    const { model, modelName } = resolver(openaiEnv())(agent);
    const started = Date.now();
    const result = await model.complete({ ...ask(), model: modelName });
    expect(Date.now() - started).toBeGreaterThanOrEqual(115);
    expect(result).toMatchObject({ content: 'after the wait', attempts: 2 });
    expect(fake.requests).toHaveLength(2);
  });

  it('a 500 storm opens the breaker, which fails fast and recovers after the cooldown (half-open)', async () => {
    fake.script({ status: 500 }, { status: 502 }, { status: 503 });
    const env = {
      ...openaiEnv(),
      LLM_MAX_RETRIES: '0',
      LLM_BREAKER_FAILURES: '3',
      LLM_BREAKER_COOLDOWN_MS: '200',
    };
    const { model, modelName } = resolver(env)(agent);
    const call = () => model.complete({ ...ask(), model: modelName });
    for (let i = 0; i < 3; i++) expect((await failure(call())).code).toBe('LLM.SERVER_ERROR');
    const open = await failure(call());
    expect(open.code).toBe('LLM.CIRCUIT_OPEN');
    expect(open.message).toMatch(
      /circuit open for provider openai after 3 consecutive failures; retry after/i,
    );
    expect(fake.requests).toHaveLength(3); // failed fast: the server never saw it
    await new Promise((r) => setTimeout(r, 220));
    fake.script({ content: 'recovered' });
    expect((await call()).content).toBe('recovered');
    fake.script({ content: 'closed again' });
    expect((await call()).content).toBe('closed again');
  });

  it('a slow answer is LLM.TIMEOUT', async () => {
    fake.script({ delayMs: 1_000 });
    const { model, modelName } = resolver({ ...openaiEnv(), LLM_TIMEOUT_MS: '100', LLM_MAX_RETRIES: '0' })(
      agent,
    );
    const err = await failure(model.complete({ ...ask(), model: modelName }));
    expect(err.code).toBe('LLM.TIMEOUT');
    expect(err.retryable).toBe(true);
  });

  it('a non-retryable 400 is not retried', async () => {
    fake.script({ status: 400, error: { message: 'bad parameter temperature' } });
    const { model, modelName } = resolver(openaiEnv())(agent);
    const err = await failure(model.complete({ ...ask(), model: modelName }));
    expect(err.code).toBe('LLM.BAD_REQUEST');
    expect(err.message).toContain('bad parameter temperature');
    expect(fake.requests).toHaveLength(1);
  });

  it('401 is LLM.AUTH naming the setting, never the key', async () => {
    fake.script({ status: 401, error: { message: 'Incorrect API key provided: sk-test-123456.' } });
    const { model, modelName } = resolver(openaiEnv())(agent);
    const err = await failure(model.complete({ ...ask(), model: modelName }));
    expect(err.code).toBe('LLM.AUTH');
    expect(err.message).toContain('OPENAI_API_KEY');
    expect(err.message).not.toContain('sk-test-123456');
    expect(fake.requests).toHaveLength(1);
  });

  it('404 on Azure names the deployment', async () => {
    fake.script({ status: 404, error: { code: 'DeploymentNotFound', message: 'not found' } });
    const { model, modelName } = resolver({ ...azureEnv(), AZURE_OPENAI_API_KEY: 'k-azure' })(agent);
    const err = await failure(model.complete({ ...ask(), model: modelName }));
    expect(err.code).toBe('LLM.NOT_FOUND');
    expect(err.message).toContain("deployment 'gpt4o-prod'");
  });

  it('context_length_exceeded and content_filter codes are classified', async () => {
    fake.script(
      {
        status: 400,
        error: { code: 'context_length_exceeded', message: "This model's maximum context length is 8192" },
      },
      { status: 400, error: { code: 'content_filter', message: 'The prompt was filtered' } },
    );
    const { model, modelName } = resolver(openaiEnv())(agent);
    expect((await failure(model.complete({ ...ask(), model: modelName }))).code).toBe('LLM.CONTEXT_OVERFLOW');
    expect((await failure(model.complete({ ...ask(), model: modelName }))).code).toBe('LLM.CONTENT_FILTERED');
  });

  it('connection refused is LLM.CONNECTION', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port } = closed.address() as AddressInfo;
    await new Promise((r) => closed.close(r));
    const model = new OpenAIChatModel({
      provider: 'openai',
      apiKey: 'k-1',
      baseUrl: `http://127.0.0.1:${port}/v1`,
      timeoutMs: 2000,
    });
    const err = await failure(model.complete({ ...ask(), model: 'gpt-4o' }));
    expect(err.code).toBe('LLM.CONNECTION');
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('an aborted call is LLM.CANCELLED', async () => {
    fake.script({ delayMs: 1_000 });
    const { model, modelName } = resolver(openaiEnv())(agent);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const err = await failure(model.complete({ ...ask(), model: modelName, signal: controller.signal }));
    expect(err.code).toBe('LLM.CANCELLED');
  });
});
