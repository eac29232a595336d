/** Structured output: native json_schema or an instruction, fenced JSON, one repair, then AGENT.INVALID_OUTPUT. */
import { AgentError } from '../../src/agents/errors';
import { isStrictCompatible, jsonSchemaToZod } from '../../src/agents/json-schema';
import {
  checkOutput,
  completeStructured,
  responseFormatFor,
  schemaInstruction,
  type OutputSpec,
} from '../../src/agents/structured';
import type { ChatRequest } from '../../src/llm/types';
import { ScriptedModel } from '../fixtures/scripted-model';

const schema = {
  type: 'object',
  properties: {
    score: { type: 'number', minimum: 0, maximum: 100 },
    pass: { type: 'boolean' },
  },
  required: ['score', 'pass'],
  additionalProperties: false,
};
const spec: OutputSpec = { schema, agentId: 'grader', agentName: 'Grader' };
const request: ChatRequest = {
  model: 'gpt-4o',
  maxTokens: 500,
  messages: [
    { role: 'system', content: 'Grade it.' },
    { role: 'user', content: 'The work.' },
  ],
};

test('asks natively with response_format json_schema when the model supports it', async () => {
  const model = new ScriptedModel(['{"score": 90, "pass": true}'], { supportsJsonSchema: true });
  const format = responseFormatFor(model, spec);
  expect(format).toEqual({ type: 'json_schema', name: 'grader', schema, strict: true });
  const outcome = await completeStructured({ model, request: { ...request, responseFormat: format }, spec });
  expect(outcome.parsed).toEqual({ score: 90, pass: true });
  expect(outcome.output).toBe('{"score": 90, "pass": true}');
  expect(model.requests[0]!.responseFormat).toEqual(format);
});

test('without native support there is no response format; the schema goes in an instruction', () => {
  const model = new ScriptedModel([]);
  expect(responseFormatFor(model, spec)).toBeUndefined();
  const msg = schemaInstruction(schema);
  expect(msg.role).toBe('system');
  expect(msg.content).toMatch(/^Answer with only a JSON value that matches this JSON Schema/);
  expect(msg.content).toContain(JSON.stringify(schema));
});

test('strict only when every object requires all its properties and forbids others', () => {
  expect(isStrictCompatible(schema)).toBe(true);
  expect(isStrictCompatible({ ...schema, required: ['score'] })).toBe(false);
  expect(isStrictCompatible({ type: 'object', properties: {} })).toBe(false);
  const nested = {
    type: 'object',
    properties: {
      items: { type: 'array', items: { type: 'object', properties: { a: { type: 'string' } } } },
    },
    required: ['items'],
    additionalProperties: false,
  };
  expect(isStrictCompatible(nested)).toBe(false);
  const model = new ScriptedModel([], { supportsJsonSchema: true });
  expect(responseFormatFor(model, { ...spec, schema: nested, agentId: 'my agent.v2' })).toMatchObject({
    name: 'my_agent_v2',
    strict: false,
  });
});

test('accepts JSON in a ```json fence, with or without prose around it', () => {
  expect(checkOutput('```json\n{"score": 1, "pass": false}\n```', schema)).toEqual({
    ok: true,
    output: '{"score": 1, "pass": false}',
    parsed: { score: 1, pass: false },
  });
  expect(checkOutput('Here it is:\n```\n{"score": 2, "pass": true}\n```\nDone.', schema)).toMatchObject({
    ok: true,
    parsed: { score: 2, pass: true },
  });
  // A reply that is JSON as is wins, even when a string in it holds a fence.
  const withFence = { type: 'object', properties: { code: { type: 'string' } } };
  expect(checkOutput('{"code": "```json\\n[1]\\n```"}', withFence)).toMatchObject({ ok: true });
});

test('reports what is wrong: not JSON, empty, or each schema violation with its path', () => {
  expect(checkOutput('', schema)).toEqual({ ok: false, problems: ['the reply is empty, not JSON'] });
  expect(checkOutput('Sure! The score is 90.', schema)).toMatchObject({
    ok: false,
    problems: [expect.stringMatching(/^the reply is not JSON/)],
  });
  const checked = checkOutput('{"score": 120, "extra": 1}', schema);
  expect(checked.ok).toBe(false);
  expect(!checked.ok && checked.problems).toEqual([
    'score: Too big: expected number to be <=100',
    'pass: Invalid input: expected boolean, received undefined',
    '(root): Unrecognized key: "extra"',
  ]);
});

test('invalid, then valid: two calls, the retry shows the reply and the validation error; usage summed', async () => {
  const model = new ScriptedModel([
    { content: '{"score": "high"}', usage: { prompt: 100, completion: 10, total: 110 } },
    { content: '{"score": 75, "pass": true}', usage: { prompt: 150, completion: 12, total: 162 } },
  ]);
  const outcome = await completeStructured({ model, request, spec });
  expect(model.requests).toHaveLength(2);
  const retry = model.requests[1]!.messages;
  expect(retry.slice(0, 2)).toEqual(request.messages);
  expect(retry[2]).toEqual({ role: 'assistant', content: '{"score": "high"}' });
  expect(retry[3]!.role).toBe('user');
  expect(retry[3]!.content).toBe(
    'Your previous reply was not valid: score: Invalid input: expected number, received string; ' +
      'pass: Invalid input: expected boolean, received undefined. Reply again with only JSON matching the schema.',
  );
  expect(outcome.parsed).toEqual({ score: 75, pass: true });
  expect(outcome.results).toHaveLength(2);
  expect(outcome.usage).toEqual({ prompt: 250, completion: 22, total: 272 });
});

test('the retry goes through the re-budget when one is given', async () => {
  const model = new ScriptedModel(['nope', '{"score": 1, "pass": true}']);
  const rebudget = jest.fn((trailing: ChatRequest['messages']) => ({
    messages: [request.messages[1]!, ...trailing],
    maxTokens: 123,
  }));
  await completeStructured({ model, request, spec, rebudget });
  expect(rebudget).toHaveBeenCalledTimes(1);
  expect(model.requests[1]!.maxTokens).toBe(123);
  expect(model.requests[1]!.messages).toHaveLength(3);
});

test('invalid twice: AGENT.INVALID_OUTPUT (not retryable) naming the violations, with the usage of both', async () => {
  const model = new ScriptedModel([
    { content: '{"score": -1, "pass": true}', usage: { prompt: 10, completion: 5, total: 15 } },
    { content: '{"score": 101, "pass": true}', usage: { prompt: 20, completion: 5, total: 25 } },
  ]);
  const err: unknown = await completeStructured({ model, request, spec }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AgentError);
  const agentErr = err as AgentError;
  expect(agentErr.code).toBe('AGENT.INVALID_OUTPUT');
  expect(agentErr.retryable).toBe(false);
  expect(agentErr.status).toBe(502);
  expect(agentErr.message).toBe(
    "Agent 'Grader' did not produce output matching its output schema after 2 attempts: " +
      'score: Too big: expected number to be <=100',
  );
  expect(agentErr.details).toMatchObject({
    violations: ['score: Too big: expected number to be <=100'],
    attempts: 2,
    tokenUsage: { prompt: 30, completion: 10, total: 40 },
  });
  expect(model.remaining).toBe(0);
});

test('model errors are not swallowed by the repair logic', async () => {
  const model = new ScriptedModel(['bad', new Error('boom')]);
  await expect(completeStructured({ model, request, spec })).rejects.toThrow('boom');
});

test('OpenAPI-style nullable is honoured by the converter', () => {
  const v = jsonSchemaToZod({
    type: 'object',
    properties: { note: { type: 'string', nullable: true, description: 'optional note' } },
    required: ['note'],
  });
  expect(v.safeParse({ note: null }).success).toBe(true);
  expect(v.safeParse({ note: 'x' }).success).toBe(true);
  expect(v.safeParse({ note: 3 }).success).toBe(false);
});
