/** Request validation: every violation at once, aliases, the unknown agent in the same list. */
import { z } from 'zod';
import { builtInAgents, findBuiltIn } from '../../src/agents/catalog';
import type { AgentDefinition, AgentService } from '../../src/agents/types';
import { AppError, ValidationError } from '../../src/errors';
import { parseJsonBody } from '../../src/api/http';
import { normalizeAliases, parseBody, validateExecuteRequest } from '../../src/api/validate';

const custom: AgentDefinition = {
  id: 'reviewer',
  name: 'Reviewer',
  description: 'Reviews',
  role: 'reviewer',
  systemPrompt: 'Review.',
  capabilities: [],
  builtIn: false,
};

const agents = {
  resolve: async (name: string) =>
    findBuiltIn(name) ?? (name.toLowerCase() === 'reviewer' ? custom : undefined),
  list: async () => [...builtInAgents(), custom],
} as unknown as AgentService;

const prompt = 'Design a microservices architecture for a shop';

async function violationsOf(body: unknown): Promise<{ path: string; message: string }[]> {
  const err = await validateExecuteRequest(body, agents).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ValidationError);
  expect(err).toMatchObject({ code: 'REQUEST.INVALID', status: 400 });
  return (err as ValidationError).violations;
}

it('accepts the seed request and trims the prompt', async () => {
  const { request, agent } = await validateExecuteRequest(
    {
      agent_type: 'Architect',
      prompt: `  ${prompt}  `,
      context: { cloud: 'Azure' },
      max_tokens: 4000,
      temperature: 0.7,
    },
    agents,
  );
  expect(agent.id).toBe('architect');
  expect(request).toEqual({
    agent_type: 'Architect',
    prompt,
    context: { cloud: 'Azure' },
    max_tokens: 4000,
    temperature: 0.7,
  });
});

it('accepts agentType / agent / maxTokens, ids and custom agents, any case', async () => {
  for (const [body, id] of [
    [{ agentType: 'builder', prompt, maxTokens: 200 }, 'builder'],
    [{ agent: 'SCRIBE', prompt }, 'scribe'],
    [{ agent_type: 'reviewer', prompt, variables: { language: 'Go' } }, 'reviewer'],
  ] as const) {
    const { request, agent } = await validateExecuteRequest(body, agents);
    expect(agent.id).toBe(id);
    expect(request.agent_type).toBeDefined();
  }
  const { request } = await validateExecuteRequest({ agentType: 'builder', prompt, maxTokens: 200 }, agents);
  expect(request.max_tokens).toBe(200);
});

it('lists every violation at once, the unknown agent included', async () => {
  const violations = await violationsOf({
    agent_type: 'Wizard',
    prompt: 'short',
    max_tokens: 50,
    temperature: 3,
  });
  expect(violations).toHaveLength(4);
  expect(violations).toEqual(
    expect.arrayContaining([
      { path: 'prompt', message: 'must be at least 10 characters' },
      { path: 'max_tokens', message: 'must be at least 100' },
      { path: 'temperature', message: 'must be at most 2' },
      {
        path: 'agent_type',
        message: expect.stringMatching(/^unknown agent 'Wizard' \(known: Architect, .*reviewer\)$/),
      },
    ]),
  );
});

it('names a violation the way the client spelled the field', async () => {
  const violations = await violationsOf({ agentType: 'Nobody', prompt, maxTokens: 40_000 });
  expect(violations.map((v) => v.path).sort()).toEqual(['agentType', 'maxTokens']);
});

it('rejects blank and missing prompts, wrong types and a missing agent', async () => {
  expect(await violationsOf({ agent_type: 'Architect', prompt: '            ' })).toEqual([
    { path: 'prompt', message: 'must not be empty or whitespace' },
  ]);
  const many = await violationsOf({
    prompt: 'x'.repeat(10_001),
    max_tokens: 100.5,
    temperature: 'hot',
    context: [1],
  });
  expect(many.map((v) => v.path).sort()).toEqual([
    'agent_type',
    'context',
    'max_tokens',
    'prompt',
    'temperature',
  ]);
  expect(many.find((v) => v.path === 'prompt')?.message).toBe('must be at most 10000 characters');
});

it('rejects a body that is not an object', async () => {
  for (const body of [undefined, null, [], 'text', 42]) {
    expect(await violationsOf(body)).toEqual([{ path: '', message: 'must be a JSON object' }]);
  }
});

it('the canonical field wins over its alias', () => {
  const { body, spelledAs } = normalizeAliases(
    { max_tokens: 1, maxTokens: 2 },
    { max_tokens: ['maxTokens'] },
  );
  expect(body).toEqual({ max_tokens: 1 });
  expect(spelledAs.size).toBe(0);
});

it('parseBody reports nested paths', () => {
  const schema = z.object({ a: z.object({ b: z.array(z.string()) }) });
  expect(() => parseBody(schema, { a: { b: ['x', 1] } })).toThrow(
    expect.objectContaining({ violations: [{ path: 'a.b.1', message: expect.any(String) }] }),
  );
  expect(parseBody(schema, { a: { b: [] } })).toEqual({ a: { b: [] } });
});

it('malformed JSON is a 400 of its own; an empty body is no body', () => {
  expect(parseJsonBody('')).toBeUndefined();
  expect(parseJsonBody('{"a":1}')).toEqual({ a: 1 });
  const err = (() => {
    try {
      parseJsonBody('{"a":');
    } catch (e) {
      return e;
    }
  })();
  expect(err).toBeInstanceOf(AppError);
  expect(err).toMatchObject({ code: 'REQUEST.MALFORMED_JSON', status: 400 });
});
