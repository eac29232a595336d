/** Workflow definitions: the issue's example as JSON and YAML, snake_case aliases, shape errors, OpenAPI. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../../src/errors';
import { parseWorkflow, workflowDefinitionSchema } from '../../src/workflows/definition';
import { validateWorkflow } from '../../src/workflows/validate';

const fixture = (name: string): string =>
  readFileSync(join(__dirname, '../fixtures/workflows', name), 'utf8');

function rejection(run: () => unknown): ValidationError {
  try {
    run();
  } catch (err) {
    if (err instanceof ValidationError) {
      expect(err.code).toBe('WORKFLOW.INVALID_DEFINITION');
      return err;
    }
    throw err;
  }
  throw new Error('expected a ValidationError');
}

const EXAMPLE_NORMALIZED = {
  id: 'design-and-document',
  name: 'Design and document',
  version: '1',
  steps: [
    {
      id: 'design',
      kind: 'agent',
      agent: 'architect',
      prompt: 'Design {{ input.topic }}',
      dependsOn: [],
      long: false,
    },
    {
      id: 'gate',
      kind: 'approval',
      prompt: 'Ship it?',
      timeout: 'PT10M',
      onTimeout: 'reject',
      dependsOn: ['design'],
      long: false,
    },
    {
      id: 'docs',
      kind: 'agent',
      agent: 'scribe',
      prompt: 'Document this design: {{ steps.design.output }}',
      dependsOn: ['gate'],
      long: false,
    },
  ],
};

/** The issue's text, character for character (the fixture holds the same, formatted by Prettier). */
const ISSUE_TEXT = `{"id": "design-and-document", "name": "Design and document", "version": "1",
 "steps": [
   {"id": "design", "kind": "agent", "agent": "architect", "prompt": "Design {{ input.topic }}"},
   {"id": "gate", "kind": "approval", "prompt": "Ship it?", "timeout": "PT10M", "onTimeout": "reject",
    "dependsOn": ["design"]},
   {"id": "docs", "kind": "agent", "agent": "scribe",
    "prompt": "Document this design: {{ steps.design.output }}", "dependsOn": ["gate"]}]}`;

describe('the example of the issue', () => {
  test('is accepted exactly as written (JSON text, parsed object, validated)', () => {
    expect(validateWorkflow(ISSUE_TEXT)).toEqual(EXAMPLE_NORMALIZED);
    const text = fixture('design-and-document.json');
    expect(JSON.parse(text)).toEqual(JSON.parse(ISSUE_TEXT));
    expect(parseWorkflow(text)).toEqual(EXAMPLE_NORMALIZED);
    expect(parseWorkflow(JSON.parse(text) as object)).toEqual(EXAMPLE_NORMALIZED);
    expect(validateWorkflow(text)).toEqual(EXAMPLE_NORMALIZED);
    expect(validateWorkflow(JSON.parse(text), { knownAgent: () => true })).toEqual(EXAMPLE_NORMALIZED);
  });

  test('the same in YAML gives the same definition', () => {
    const text = fixture('design-and-document.yaml');
    expect(parseWorkflow(text)).toEqual(EXAMPLE_NORMALIZED);
    expect(parseWorkflow(text, { format: 'yaml' })).toEqual(EXAMPLE_NORMALIZED);
    expect(validateWorkflow(text)).toEqual(EXAMPLE_NORMALIZED);
    // YAML is a superset of JSON: the JSON text read as YAML works too.
    expect(parseWorkflow(fixture('design-and-document.json'), { format: 'yaml' })).toEqual(
      EXAMPLE_NORMALIZED,
    );
  });
});

describe('aliases and defaults', () => {
  test('snake_case field names are renamed to camelCase at every level', () => {
    const def = validateWorkflow(fixture('snake-case.yaml'));
    expect(def.version).toBe('2');
    expect(def.budget).toEqual({ maxTokens: 50000, maxCostUsd: 1.5 });
    const [plan, chat, fix, fan, gate] = def.steps;
    expect(plan).toMatchObject({
      kind: 'agent',
      retry: { maxAttempts: 3, firstInterval: 'PT2S', backoffCoefficient: 2 },
    });
    expect(chat).toMatchObject({
      kind: 'groupChat',
      dependsOn: ['plan'],
      manager: 'round-robin',
      maxRounds: 4,
      terminate: { validatorApproves: true, tokenBudget: 20000 },
    });
    expect(fix).toMatchObject({ kind: 'review', maxIterations: 2 });
    expect(fan).toMatchObject({ kind: 'parallel', forEach: { items: 'input.topics', agent: 'scribe' } });
    expect(gate).toMatchObject({
      kind: 'approval',
      onTimeout: 'fail',
      timeout: 'P1DT2H',
      dependsOn: ['fix', 'fan'],
    });
  });

  test('defaults: version 1, kind agent when an agent is named, retry interval, manager, limits, onTimeout', () => {
    const def = parseWorkflow({
      id: 'defaults',
      name: 'Defaults',
      steps: [
        { id: 'a', agent: 'echo', prompt: 'hi', retry: { maxAttempts: 2 } },
        { id: 'b', kind: 'groupChat', participants: ['architect', 'builder'], prompt: 'talk' },
        { id: 'c', kind: 'review', builder: 'builder', validator: 'validator', prompt: 'build' },
        { id: 'd', kind: 'approval', prompt: 'ok?', timeout: 'PT1H' },
      ],
    });
    expect(def.version).toBe('1');
    expect(def.steps[0]).toMatchObject({ kind: 'agent', retry: { maxAttempts: 2, firstInterval: 'PT1S' } });
    expect(def.steps[1]).toMatchObject({ manager: 'round-robin', maxRounds: 10 });
    expect(def.steps[2]).toMatchObject({ maxIterations: 3 });
    expect(def.steps[3]).toMatchObject({ onTimeout: 'reject', long: false, dependsOn: [] });
  });

  test('a condition or items path may be written in braces', () => {
    const def = parseWorkflow({
      id: 'braces',
      name: 'Braces',
      steps: [
        {
          id: 'fan',
          kind: 'parallel',
          when: '{{ input.go }}',
          forEach: { items: '{{ input.topics }}', agent: 'echo', prompt: '{{ item }}' },
        },
      ],
    });
    expect(def.steps[0]).toMatchObject({ when: 'input.go', forEach: { items: 'input.topics' } });
  });

  test('a field given in both spellings, differently, is an error naming both', () => {
    const err = rejection(() =>
      parseWorkflow({
        id: 'both',
        name: 'Both',
        steps: [{ id: 'a', agent: 'echo', prompt: 'x', dependsOn: [], depends_on: ['b'] }],
      }),
    );
    expect(err.violations).toEqual([
      {
        path: 'steps[0].depends_on',
        message:
          'give dependsOn or depends_on, not both (an agent step takes: id, kind, agent, prompt, context, dependsOn, retry, timeout, when, long)',
      },
    ]);
  });
});

describe('shape errors', () => {
  test('unknown fields, kinds and wrong types are listed with their paths', () => {
    const err = rejection(() =>
      parseWorkflow({
        id: 'Bad Id',
        name: 'Shapes',
        extra: true,
        steps: [
          { id: 'a', kind: 'agent', agnet: 'echo', prompt: 'x' },
          { id: 'b', kind: 'chat', prompt: 'x' },
          { id: 'c', prompt: 'no kind, no agent' },
          { id: 'd', kind: 'approval', prompt: 'ok?', timeout: 'PT1M', onTimeout: 'maybe' },
          {
            id: 'e',
            kind: 'parallel',
            branches: [{ agent: 'echo', prompt: 'x' }],
            forEach: { items: 'input.x', agent: 'echo', prompt: 'y' },
          },
          'not a step',
        ],
      }),
    );
    expect(err.violations).toEqual([
      {
        path: 'id',
        message: 'must be a slug: a lower-case letter, then 1-62 lower-case letters, digits or hyphens',
      },
      {
        path: 'extra',
        message:
          "unknown field 'extra' (a workflow takes: id, name, version, description, input, budget, steps)",
      },
      { path: 'steps[0].agent', message: 'is required' },
      {
        path: 'steps[0].agnet',
        message:
          "unknown field 'agnet'; did you mean 'agent'? (an agent step takes: id, kind, agent, prompt, context, dependsOn, retry, timeout, when, long)",
      },
      {
        path: 'steps[1].kind',
        message: 'unknown step kind "chat" (kinds: agent, parallel, groupChat, review, approval)',
      },
      { path: 'steps[2].kind', message: 'is required: one of agent, parallel, groupChat, review, approval' },
      { path: 'steps[3].onTimeout', message: "must be one of 'approve', 'reject', 'fail', got 'maybe'" },
      { path: 'steps[4].branches', message: 'give either branches or forEach, not both' },
      { path: 'steps[5]', message: "must be an object, got 'not a step'" },
    ]);
  });

  test('syntax errors in the text name the format and the position', () => {
    expect(rejection(() => parseWorkflow('{"id": "x",')).violations[0]!.message).toMatch(
      /^is not valid JSON: /,
    );
    const yaml = rejection(() => parseWorkflow('id: x\nsteps: [1\n')).violations;
    expect(yaml[0]!.message).toMatch(/^is not valid YAML: .* at line \d+, column \d+$/);
    expect(rejection(() => parseWorkflow('id: a\nid: b\n')).violations[0]!.message).toMatch(/unique/);
    expect(rejection(() => parseWorkflow('  ')).violations).toEqual([{ path: '', message: 'is empty' }]);
    expect(rejection(() => parseWorkflow('just text')).violations).toEqual([
      { path: '', message: 'must be an object (a workflow)' },
    ]);
  });

  test('the schema generates JSON Schema for OpenAPI (input side)', () => {
    const schema = z.toJSONSchema(workflowDefinitionSchema, {
      io: 'input',
      unrepresentable: 'any',
    }) as unknown as {
      properties: { steps: { items: { oneOf: unknown[] } } };
      required: string[];
    };
    expect(schema.required).toEqual(['id', 'name', 'steps']);
    expect(schema.properties.steps.items.oneOf).toHaveLength(5);
  });
});
