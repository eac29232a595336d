/** The built-in agents, the capabilities listing and the seed's context formatting. */
import { z } from 'zod';
import {
  builtInAgents,
  capabilitiesOf,
  findBuiltIn,
  isBuiltInName,
  validatorVerdictSchema,
} from '../../src/agents/catalog';
import { contextMessage, formatContext } from '../../src/agents/context';
import { jsonSchemaToZod } from '../../src/agents/json-schema';
import { renderTemplate } from '../../src/agents/template';
import type { AgentDefinition } from '../../src/agents/types';

describe('built-in agents', () => {
  test('Architect, Builder, Validator, Scribe and Echo, with lower-case ids and the seed names', () => {
    const agents = builtInAgents();
    expect(agents.map((a) => [a.id, a.name, a.role])).toEqual([
      ['architect', 'Architect', 'architect'],
      ['builder', 'Builder', 'builder'],
      ['validator', 'Validator', 'validator'],
      ['scribe', 'Scribe', 'scribe'],
      ['echo', 'Echo', 'echo'],
    ]);
    expect(agents.every((a) => a.builtIn)).toBe(true);
  });

  test('prompts as in ADR-005, and every prompt renders without variables', () => {
    const byId = Object.fromEntries(builtInAgents().map((a) => [a.id, a]));
    expect(byId.architect!.systemPrompt).toMatch(/^You are a senior software architect with 15 years/);
    expect(byId.architect!.systemPrompt).toContain('Azure cloud infrastructure and services');
    expect(byId.architect!.systemPrompt).toContain('Include diagrams where helpful (Mermaid format).');
    expect(byId.builder!.systemPrompt).toMatch(/fenced code block/);
    expect(byId.validator!.systemPrompt).toMatch(/Answer ONLY with a JSON object/);
    expect(byId.scribe!.capabilities).toEqual(['documentation', 'technical-writing', 'api-specs']);
    for (const a of builtInAgents()) expect(renderTemplate(a.systemPrompt, {})).toBe(a.systemPrompt);
  });

  test('only the Validator has an output schema, derived from the zod verdict schema', () => {
    const schemas = builtInAgents().filter((a) => a.outputSchema);
    expect(schemas.map((a) => a.id)).toEqual(['validator']);
    const schema = schemas[0]!.outputSchema!;
    expect(schema).toMatchObject({
      type: 'object',
      required: ['score', 'pass', 'issues'],
      additionalProperties: false,
      properties: { score: { type: 'number', minimum: 0, maximum: 100 } },
    });
    expect(schema).not.toHaveProperty('$schema');
    const { $schema: _drop, ...derived } = z.toJSONSchema(validatorVerdictSchema) as Record<string, unknown>;
    expect(schema).toEqual(derived);
    // The JSON Schema and the zod schema accept and reject the same verdicts.
    const good = { score: 80, pass: true, issues: [{ severity: 'warning', message: 'naming' }] };
    const bad = { score: 120, pass: 'yes', issues: [{ severity: 'fatal', message: 'x' }] };
    expect(jsonSchemaToZod(schema).safeParse(good).success).toBe(true);
    expect(validatorVerdictSchema.safeParse(good).success).toBe(true);
    expect(jsonSchemaToZod(schema).safeParse(bad).success).toBe(false);
    expect(validatorVerdictSchema.safeParse(bad).success).toBe(false);
  });

  test('findBuiltIn by id or name, case-insensitively; the definitions are frozen', () => {
    expect(findBuiltIn('ARCHITECT')?.id).toBe('architect');
    expect(findBuiltIn(' Scribe ')?.name).toBe('Scribe');
    expect(findBuiltIn('nobody')).toBeUndefined();
    // Shared and frozen: a caller cannot change the catalog by accident.
    expect(() => findBuiltIn('builder')!.capabilities.push('hacked')).toThrow(TypeError);
    expect(findBuiltIn('builder')!.capabilities).not.toContain('hacked');
    expect(isBuiltInName('Validator')).toBe(true);
    expect(isBuiltInName('reviewer')).toBe(false);
  });
});

describe('capabilitiesOf', () => {
  test("the seed's shape, built-ins first, then custom agents", () => {
    const custom: AgentDefinition = {
      id: 'reviewer',
      name: 'Reviewer',
      description: 'Reviews code',
      role: 'reviewer',
      systemPrompt: 'Review.',
      capabilities: ['code-review'],
      builtIn: false,
    };
    const body = capabilitiesOf([custom]);
    expect(body.agents[0]).toEqual({
      type: 'Architect',
      description: 'Designs system architecture and technical specifications',
      capabilities: ['system-design', 'architecture-review', 'technology-selection'],
    });
    expect(body.agents.map((a) => a.type)).toEqual([
      'Architect',
      'Builder',
      'Validator',
      'Scribe',
      'Echo',
      'Reviewer',
    ]);
    expect(body.agents[5]).toEqual({
      type: 'Reviewer',
      description: 'Reviews code',
      capabilities: ['code-review'],
    });
    expect(capabilitiesOf().agents).toHaveLength(5);
  });
});

describe('context formatting', () => {
  test('one "- key: value" line per entry, nested values as compact JSON', () => {
    expect(
      formatContext({
        scale: '100K daily active users',
        cloud: 'Azure',
        replicas: 3,
        ha: true,
        regions: ['westeurope', 'northeurope'],
        design: { db: 'cosmos', queues: ['orders'] },
        nothing: null,
        skipped: undefined,
      }),
    ).toBe(
      [
        '- scale: 100K daily active users',
        '- cloud: Azure',
        '- replicas: 3',
        '- ha: true',
        '- regions: ["westeurope","northeurope"]',
        '- design: {"db":"cosmos","queues":["orders"]}',
        '- nothing: null',
      ].join('\n'),
    );
  });

  test('a "Project Context:" system message, or none for an empty or absent context', () => {
    expect(contextMessage({ cloud: 'Azure' })).toEqual({
      role: 'system',
      content: 'Project Context:\n- cloud: Azure',
    });
    expect(contextMessage({})).toBeUndefined();
    expect(contextMessage(undefined)).toBeUndefined();
  });
});
