/**
 * The agent runner over the real openai SDK against the local fake OpenAI server: the Validator's
 * structured output (json_schema request, malformed JSON from the model repaired once, then a clear
 * failure) and an Architect call on the Azure path.
 */
import { AgentError } from '../../src/agents/errors';
import { createAgentRunner } from '../../src/agents/runner';
import { loadConfig } from '../../src/config';
import { costOf } from '../../src/llm/cost';
import { createModelResolver } from '../../src/llm/factory';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';
import { startFakeOpenAI, type FakeOpenAI } from '../fixtures/fake-openai';

let fake: FakeOpenAI;

beforeEach(async () => {
  fake = await startFakeOpenAI();
});

afterEach(async () => {
  await fake.close();
  expect(fake.errors).toEqual([]);
});

function runner(env: Record<string, string>) {
  const config = loadConfig({ LLM_RETRY_BASE_MS: '1', LLM_RETRY_MAX_MS: '5', ...env });
  return createAgentRunner({
    store: new MemoryCatalogStore(),
    resolveModel: createModelResolver(config.llm),
    costOf: (model, usage) => costOf(model, usage, config.llm.prices),
  });
}

const openai = (): Record<string, string> => ({
  LLM_PROVIDER: 'openai',
  OPENAI_API_KEY: 'sk-test-123456',
  OPENAI_BASE_URL: fake.baseURL,
  LLM_MODEL: 'gpt-4o',
});

const verdict = JSON.stringify({
  score: 92,
  pass: true,
  issues: [{ severity: 'info', message: 'Clear design.' }],
});

test('the Validator asks for json_schema output, repairs malformed JSON once, and returns the verdict', async () => {
  fake.script({ content: 'Looks good to me!' }, { content: verdict });
  const result = await runner(openai()).execute({
    agent: 'Validator',
    prompt: 'Review this design: # Design',
  });
  expect(result.parsed).toEqual(JSON.parse(verdict));
  expect(result.metadata).toMatchObject({ output_attempts: 2 });
  expect(fake.requests).toHaveLength(2);
  const first = fake.requests[0]!.body as {
    response_format: { type: string; json_schema: { name: string } };
  };
  expect(first.response_format.type).toBe('json_schema');
  const retry = fake.requests[1]!.body as { messages: { role: string; content: string }[] };
  expect(retry.messages.map((m) => m.content).join('\n')).toMatch(/not valid/i);
  expect(result.tokenUsage.total).toBeGreaterThan(0);
});

test('malformed JSON twice fails with AGENT.INVALID_OUTPUT naming the problem', async () => {
  fake.script({ content: '{"score": "high"' }, { content: '{"score": 120, "pass": "yes"}' });
  const err = await runner(openai())
    .execute({ agent: 'Validator', prompt: 'Review this design: # Design' })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(AgentError);
  expect((err as AgentError).code).toBe('AGENT.INVALID_OUTPUT');
  expect((err as AgentError).retryable).toBe(false);
  expect(fake.requests).toHaveLength(2);
});

test('an Architect call on the Azure path uses the deployment, api-version and api-key', async () => {
  fake.script({ content: '# Design\n\n## Overview\nA design.' });
  const result = await runner({
    LLM_PROVIDER: 'azure-openai',
    AZURE_OPENAI_ENDPOINT: fake.url,
    AZURE_OPENAI_DEPLOYMENT: 'gpt4o-prod',
    AZURE_OPENAI_API_KEY: 'azure-key-123',
  }).execute({ agent: 'Architect', prompt: 'Design a URL shortener', context: { scale: '10K RPS' } });
  expect(result.output).toContain('# Design');
  const req = fake.requests[0]!;
  expect(req.path).toBe('/openai/deployments/gpt4o-prod/chat/completions');
  expect(req.query['api-version']).toBe('2024-10-21');
  expect(req.headers['api-key']).toBe('azure-key-123');
  const messages = (req.body as { messages: { role: string; content: string }[] }).messages;
  expect(messages[0]!.role).toBe('system');
  expect(messages.some((m) => m.content.startsWith('Project Context:\n- scale: 10K RPS'))).toBe(true);
  expect(messages[messages.length - 1]).toEqual({ role: 'user', content: 'Design a URL shortener' });
});
