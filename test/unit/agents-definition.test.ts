/** Custom agent definitions: wire format, aliases, defaults, slug ids, every violation, built-in clashes. */
import { z } from 'zod';
import { agentDefinitionSchema, parseAgentDefinition, slugify, toWire } from '../../src/agents/definition';
import { ConflictError, ValidationError } from '../../src/errors';

function rejection(body: unknown): ValidationError {
  try {
    parseAgentDefinition(body);
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('parseAgentDefinition', () => {
  test('snake_case body → normalized AgentDefinition', () => {
    const def = parseAgentDefinition({
      id: 'code-reviewer',
      name: 'Code Reviewer',
      description: 'Reviews pull requests',
      role: 'reviewer',
      system_prompt: 'You review {{ language }} code.',
      provider: 'azure-openai',
      deployment: 'gpt-4o',
      model: 'gpt-4o',
      temperature: 0.2,
      max_tokens: 2000,
      output_schema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
      capabilities: ['code-review'],
    });
    expect(def).toEqual({
      id: 'code-reviewer',
      name: 'Code Reviewer',
      description: 'Reviews pull requests',
      role: 'reviewer',
      systemPrompt: 'You review {{ language }} code.',
      provider: 'azure-openai',
      deployment: 'gpt-4o',
      model: 'gpt-4o',
      temperature: 0.2,
      maxTokens: 2000,
      outputSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
      capabilities: ['code-review'],
      builtIn: false,
    });
  });

  test('camelCase aliases are accepted; defaults fill description, role and capabilities', () => {
    const def = parseAgentDefinition({
      name: 'Summarizer',
      systemPrompt: 'Summarize.',
      maxTokens: 300,
      outputSchema: { type: 'object' },
    });
    expect(def).toEqual({
      id: 'summarizer',
      name: 'Summarizer',
      description: '',
      role: 'custom',
      systemPrompt: 'Summarize.',
      maxTokens: 300,
      outputSchema: { type: 'object' },
      capabilities: [],
      builtIn: false,
    });
  });

  test('read-only fields of a definition read back from the API are ignored', () => {
    const def = parseAgentDefinition({
      name: 'X Ray',
      system_prompt: 'p',
      built_in: true,
      created_at: '2025-01-01T00:00:00Z',
      etag: '"1"',
    });
    expect(def.builtIn).toBe(false);
    expect(def).not.toHaveProperty('createdAt');
    expect(def).not.toHaveProperty('etag');
  });

  test('the id is a slug of the name when absent', () => {
    expect(parseAgentDefinition({ name: 'Data Pipeline Reviewer!', system_prompt: 'p' }).id).toBe(
      'data-pipeline-reviewer',
    );
    expect(slugify('Café Ünïcode  Agent')).toBe('cafe-unicode-agent');
    expect(slugify('42 Things')).toBe('agent-42-things');
    expect(slugify('Q')).toBe('agent-q');
    expect(slugify('x'.repeat(80))).toHaveLength(63);
    expect(slugify('日本')).toBeUndefined();
    expect(rejection({ name: '日本', system_prompt: 'p' }).violations).toEqual([
      { path: 'id', message: 'cannot be derived from the name; give an id' },
    ]);
  });

  test('every violation is listed, with its wire path', () => {
    const err = rejection({
      id: 'Bad_Id',
      name: '',
      system_prompt: 'ok',
      temperature: 3,
      max_tokens: 40_000,
      provider: 'anthropic',
      capabilities: 'all',
      sytem_prompt: 'typo',
    });
    expect(err.code).toBe('AGENT.INVALID_DEFINITION');
    expect(err.status).toBe(400);
    expect(err.violations.map((v) => v.path).sort()).toEqual(
      ['', 'capabilities', 'id', 'max_tokens', 'name', 'provider', 'temperature'].sort(),
    );
    expect(err.violations.find((v) => v.path === '')?.message).toMatch(/sytem_prompt/);
    expect(err.message).toMatch(/^The agent definition is not valid: /);
  });

  test('a missing system prompt, or one given both ways differently, is a violation', () => {
    expect(rejection({ name: 'A b' }).violations.map((v) => v.path)).toEqual(['system_prompt']);
    const both = rejection({ name: 'A b', system_prompt: 'one', systemPrompt: 'two' });
    expect(both.violations).toEqual([{ path: '', message: 'give system_prompt or systemPrompt, not both' }]);
    // The same value both ways is fine.
    expect(
      parseAgentDefinition({ name: 'A b', system_prompt: 'one', systemPrompt: 'one' }).systemPrompt,
    ).toBe('one');
  });

  test('a system prompt template that does not compile is rejected with its position', () => {
    const err = rejection({ name: 'Broken', system_prompt: 'Hello\n{% if x %}never closed' });
    expect(err.violations).toHaveLength(1);
    expect(err.violations[0]!.path).toBe('system_prompt');
    expect(err.violations[0]!.message).toMatch(/line 2, column 4: '\{% if %\}' is never closed/);
  });

  test.each([
    [[1, 2], /expected record/],
    [{ type: 'string' }, /must describe a JSON object/],
    [{ type: 'object', properties: { a: 5 } }, /properties\.a must be a schema object/],
    [{ type: 'object', properties: { a: { type: 'strange' } } }, /not a usable JSON Schema: .*strange/],
    [{ type: 'object', if: { required: ['a'] } }, /not a usable JSON Schema/],
  ])('an output schema that is not an object JSON Schema is rejected: %j', (schema, message) => {
    const err = rejection({ name: 'Structured', system_prompt: 'p', output_schema: schema });
    expect(err.violations.map((v) => v.path)).toEqual(['output_schema']);
    expect(err.violations[0]!.message).toMatch(message);
  });

  test('an id or name of a built-in agent is a conflict (AGENT.BUILTIN)', () => {
    for (const body of [
      { id: 'architect', name: 'My Architect', system_prompt: 'p' },
      { name: 'Validator', system_prompt: 'p' },
      { id: 'my-echo', name: 'ECHO', system_prompt: 'p' },
    ]) {
      let caught: unknown;
      try {
        parseAgentDefinition(body);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConflictError);
      expect(caught).toMatchObject({ code: 'AGENT.BUILTIN', status: 409 });
    }
  });
});

describe('wire format', () => {
  test('the schema documents the snake_case body for OpenAPI', () => {
    const doc = z.toJSONSchema(agentDefinitionSchema, { io: 'input' }) as {
      properties: Record<string, unknown>;
      required: string[];
    };
    expect(Object.keys(doc.properties)).toEqual(
      expect.arrayContaining(['system_prompt', 'max_tokens', 'output_schema']),
    );
    expect(Object.keys(doc.properties)).not.toContain('systemPrompt');
    expect(doc.required).toEqual(['name', 'system_prompt']);
  });

  test('toWire maps a definition to snake_case and leaves out what is unset', () => {
    const def = parseAgentDefinition({ name: 'Writer', system_prompt: 'Write.', max_tokens: 100 });
    expect(toWire({ ...def, createdAt: '2025-01-01T00:00:00.000Z', etag: '"e1"' })).toEqual({
      id: 'writer',
      name: 'Writer',
      description: '',
      role: 'custom',
      system_prompt: 'Write.',
      max_tokens: 100,
      capabilities: [],
      built_in: false,
      created_at: '2025-01-01T00:00:00.000Z',
      etag: '"e1"',
    });
    // What toWire produces parses back to the same definition.
    expect(parseAgentDefinition(toWire(def))).toEqual(def);
  });
});
