import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig, SETTING_NAMES } from '../../src/config';
import { ConfigError } from '../../src/errors';

const example = JSON.parse(
  fs.readFileSync(path.resolve(__dirname, '../../local.settings.example.json'), 'utf8'),
) as {
  Values: Record<string, string>;
};

test('no settings at all gives the offline defaults', () => {
  const c = loadConfig({});
  expect(c.llm.provider).toBe('offline');
  expect(c.llm.timeoutMs).toBe(60_000);
  expect(c.llm.cacheTtlSeconds).toBe(0);
  expect(c.llm.offline.faults).toEqual([]);
  expect(c.catalog).toEqual({ store: 'sqlite', sqlitePath: '.data/catalog.sqlite' });
});

test('local.settings.example.json lists every setting the config schema reads, and parses as is', () => {
  for (const name of SETTING_NAMES) expect(Object.keys(example.Values)).toContain(name);
  expect(() => loadConfig(example.Values)).not.toThrow();
});

test('empty values mean unset', () => {
  const c = loadConfig({ LLM_TIMEOUT_MS: '', LLM_PROVIDER: ' ', OPENAI_API_KEY: '', AGENT_MODELS: '' });
  expect(c.llm.timeoutMs).toBe(60_000);
  expect(c.llm.provider).toBe('offline');
  expect(c.llm.openai.apiKey).toBeUndefined();
  expect(c.llm.agentModels).toEqual({});
});

test('typed values are parsed', () => {
  const c = loadConfig({
    LLM_PROVIDER: 'azure-openai',
    AZURE_OPENAI_ENDPOINT: 'https://example.invalid',
    AZURE_OPENAI_DEPLOYMENT: 'gpt-4o',
    LLM_RATE_LIMITS: '{"gpt-4o":{"rpm":60,"tpm":90000}}',
    LLM_PRICES: '{"gpt-4o":{"input":2.5,"output":10}}',
    OFFLINE_FAULTS: '429, 500,timeout',
    AGENT_MODELS: '{"architect":{"provider":"openai","model":"gpt-4o"}}',
  });
  expect(c.llm.provider).toBe('azure-openai');
  expect(c.llm.rateLimits['gpt-4o']).toEqual({ rpm: 60, tpm: 90000 });
  expect(c.llm.prices['gpt-4o']).toEqual({ input: 2.5, output: 10 });
  expect(c.llm.offline.faults).toEqual(['429', '500', 'timeout']);
  expect(c.llm.agentModels.architect).toEqual({ provider: 'openai', model: 'gpt-4o' });
});

test('bad values fail fast, naming every bad setting', () => {
  try {
    loadConfig({ LLM_PROVIDER: 'gemini', LLM_TIMEOUT_MS: 'soon', LLM_PRICES: '{oops' });
    throw new Error('expected a ConfigError');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/LLM_PROVIDER/);
    expect(msg).toMatch(/LLM_TIMEOUT_MS/);
    expect(msg).toMatch(/LLM_PRICES: not valid JSON/);
  }
});
