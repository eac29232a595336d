/** validateWorkflow: agents, the dependency graph, step settings, all problems at once; executionPlan. */
import { executionPlan, validateWorkflow, type ValidateOptions } from '../../src/workflows/validate';
import { agentStep, violations, workflow, type StepSpec } from '../fixtures/workflows/builders';

describe('agents', () => {
  test('an unknown agent is named, with the known ones and the closest', () => {
    expect(violations(workflow([{ id: 'a', agent: 'archtect', prompt: 'x' }]))).toEqual([
      {
        path: 'steps[0].agent',
        message:
          "unknown agent 'archtect' (built-in agents: architect, builder, validator, scribe, echo); did you mean 'architect'?",
      },
    ]);
  });

  test('every agent field is checked, with the caller’s notion of known agents', () => {
    const options: ValidateOptions = {
      knownAgent: (name) => ['architect', 'reviewer'].includes(name),
      agentNames: ['architect', 'reviewer'],
    };
    const def = workflow([
      {
        id: 'p',
        kind: 'parallel',
        branches: [
          { agent: 'architect', prompt: 'x' },
          { agent: 'ghost', prompt: 'y' },
        ],
      },
      {
        id: 'f',
        kind: 'parallel',
        forEach: { items: 'input.xs', agent: 'nobody', prompt: '{{ item }}' },
        aggregate: { agent: 'scribe', prompt: '{{ results }}' },
      },
      {
        id: 'c',
        kind: 'groupChat',
        participants: ['architect', 'reviewr'],
        manager: 'selector',
        selector: 'judge',
        prompt: 'x',
      },
      { id: 'r', kind: 'review', builder: 'builder', validator: 'reviewer', prompt: 'x' },
    ]);
    expect(violations(def, options)).toEqual([
      {
        path: 'steps[0].branches[1].agent',
        message: "unknown agent 'ghost' (known agents: architect, reviewer)",
      },
      {
        path: 'steps[1].forEach.agent',
        message: "unknown agent 'nobody' (known agents: architect, reviewer)",
      },
      {
        path: 'steps[1].aggregate.agent',
        message: "unknown agent 'scribe' (known agents: architect, reviewer)",
      },
      {
        path: 'steps[2].participants[1]',
        message: "unknown agent 'reviewr' (known agents: architect, reviewer); did you mean 'reviewer'?",
      },
      { path: 'steps[2].selector', message: "unknown agent 'judge' (known agents: architect, reviewer)" },
      { path: 'steps[3].builder', message: "unknown agent 'builder' (known agents: architect, reviewer)" },
    ]);
  });

  test('built-in agents are found by name, case-insensitively', () => {
    expect(validateWorkflow(workflow([{ id: 'a', agent: 'Architect', prompt: 'x' }])).steps[0]).toMatchObject(
      {
        agent: 'Architect',
      },
    );
  });
});

describe('the dependency graph', () => {
  test('a duplicate step id', () => {
    expect(violations(workflow([agentStep('a', 'x'), agentStep('b', 'y'), agentStep('a', 'z')]))).toEqual([
      { path: 'steps[2].id', message: "duplicate step id 'a' (already used by steps[0])" },
    ]);
  });

  test('dependsOn naming an unknown step', () => {
    expect(
      violations(workflow([agentStep('design', 'x'), agentStep('docs', 'y', { dependsOn: ['desgin'] })])),
    ).toEqual([
      {
        path: 'steps[1].dependsOn[0]',
        message:
          "names 'desgin', which is not a step of this workflow (steps: design, docs); did you mean 'design'?",
      },
    ]);
  });

  test('a cycle is named in order, from the first step of the definition', () => {
    const def = workflow([
      agentStep('start', 'x'),
      agentStep('b', 'x', { dependsOn: ['c'] }),
      agentStep('a', 'x', { dependsOn: ['start', 'b'] }),
      agentStep('c', 'x', { dependsOn: ['a'] }),
    ]);
    expect(violations(def)).toEqual([
      {
        path: 'steps[1].dependsOn',
        message:
          'dependsOn forms a cycle: b → c → a → b (each step depends on the next), so none of them can start',
      },
    ]);
  });

  test('a step depending on itself is a cycle of one', () => {
    expect(violations(workflow([agentStep('a', 'x', { dependsOn: ['a'] })]))).toEqual([
      {
        path: 'steps[0].dependsOn',
        message: 'dependsOn forms a cycle: a → a (each step depends on the next), so none of them can start',
      },
    ]);
  });

  test('a step that depends on an invalid step can never run (through a chain too)', () => {
    const def = workflow([
      { id: 'broken', kind: 'agent', agent: 'echo' },
      agentStep('middle', 'x', { dependsOn: ['broken'] }),
      agentStep('last', 'x', { dependsOn: ['middle'] }),
    ]);
    expect(violations(def)).toEqual([
      { path: 'steps[0].prompt', message: 'is required' },
      {
        path: 'steps[1].dependsOn',
        message: "step 'middle' can never run: it depends on 'broken', which is not valid (see steps[0])",
      },
      {
        path: 'steps[2].dependsOn',
        message:
          "step 'last' can never run: it depends on 'middle', which depends on 'broken', which is not valid (see steps[0])",
      },
    ]);
  });

  test('a step outside a cycle that depends on it can never run', () => {
    const def = workflow([
      agentStep('a', 'x', { dependsOn: ['b'] }),
      agentStep('b', 'x', { dependsOn: ['a'] }),
      agentStep('c', 'x', { dependsOn: ['b'] }),
    ]);
    expect(violations(def)).toContainEqual({
      path: 'steps[2].dependsOn',
      message: "step 'c' can never run: it depends on 'b', which is part of a dependency cycle",
    });
  });

  test('a when condition that is always false: the step and its dependents never run', () => {
    const def = workflow([
      agentStep('a', 'x', { when: 'false' }),
      agentStep('b', 'x', { when: '1 == 2', dependsOn: [] }),
      agentStep('c', 'x', { dependsOn: ['a'] }),
      agentStep('d', 'x', { when: 'true' }),
      agentStep('e', 'x', { when: 'input.ship and not input.dry_run' }),
    ]);
    expect(violations(def)).toEqual([
      {
        path: 'steps[0].when',
        message:
          "is always false ('false'), so step 'a' never runs; remove the step or make the condition depend on input or steps",
      },
      {
        path: 'steps[1].when',
        message:
          "is always false ('1 == 2'), so step 'b' never runs; remove the step or make the condition depend on input or steps",
      },
      {
        path: 'steps[2].dependsOn',
        message:
          "step 'c' can never run: it depends on 'a', which never runs (its when condition is always false)",
      },
    ]);
  });

  test('a when condition that does not parse, or cannot be evaluated', () => {
    expect(
      violations(
        workflow([agentStep('a', 'x', { when: 'input.x ==' }), agentStep('b', 'x', { when: "1 < 'a'" })]),
      ),
    ).toEqual([
      {
        path: 'steps[0].when',
        message:
          'is not a valid condition: expected a variable, a string or a number, found end of tag (column 11)',
      },
      {
        path: 'steps[1].when',
        message: "cannot be evaluated: cannot compare number with string using '<'",
      },
    ]);
  });
});

describe('step settings', () => {
  test('groupChat: selector required for the selector manager, unused otherwise; participants distinct', () => {
    const chat = (more: StepSpec): StepSpec => ({
      id: 'chat',
      kind: 'groupChat',
      participants: ['architect', 'builder'],
      prompt: 'x',
      ...more,
    });
    expect(violations(workflow([chat({ manager: 'selector' })]))).toEqual([
      {
        path: 'steps[0].selector',
        message: "is required when manager is 'selector': name the agent that picks the next speaker",
      },
    ]);
    expect(
      violations(workflow([chat({ selector: 'architect', participants: ['builder', 'Builder'] })])),
    ).toEqual([
      { path: 'steps[0].selector', message: "is only used when manager is 'selector'" },
      { path: 'steps[0].participants[1]', message: "lists 'Builder' more than once" },
    ]);
    expect(violations(workflow([chat({ participants: ['architect'], maxRounds: 0 })]))).toEqual([
      { path: 'steps[0].participants', message: 'needs at least 2 participants' },
      { path: 'steps[0].maxRounds', message: 'must be at least 1, got 0' },
    ]);
  });

  test('durations: step timeout, retry interval and approval timeout', () => {
    const def = workflow([
      agentStep('a', 'x', {
        timeout: '10 minutes',
        retry: { maxAttempts: 3, firstInterval: 'P10M', backoffCoefficient: 0.5 },
      }),
      { id: 'gate', kind: 'approval', prompt: 'ok?', timeout: 'PT0S' },
      { id: 'gate2', kind: 'approval', prompt: 'ok?' },
    ]);
    expect(violations(def)).toEqual([
      {
        path: 'steps[0].retry.firstInterval',
        message:
          "'P10M' is not an ISO 8601 duration: months have no fixed length; write PT10M for 10 minutes, or days (P30D) for about a month",
      },
      { path: 'steps[0].retry.backoffCoefficient', message: 'must be at least 1, got 0.5' },
      {
        path: 'steps[0].timeout',
        message:
          "'10 minutes' is not an ISO 8601 duration: it must start with 'P' (e.g. PT10M for 10 minutes, P1D for a day)",
      },
      { path: 'steps[1].timeout', message: "'PT0S' must be longer than zero" },
      { path: 'steps[2].timeout', message: 'is required' },
    ]);
  });

  test('budget values must be positive', () => {
    expect(
      violations(workflow([agentStep('a', 'x')], { budget: { maxTokens: -5, max_cost_usd: -0.5 } })),
    ).toEqual([
      { path: 'budget.maxTokens', message: 'must be greater than 0 tokens, got -5' },
      { path: 'budget.maxCostUsd', message: 'must be greater than 0 USD, got -0.5' },
    ]);
  });

  test('the input schema must describe an object', () => {
    expect(violations(workflow([agentStep('a', 'x')], { input: { type: 'string' } }))).toEqual([
      { path: 'input', message: 'must describe a JSON object (type: "object" at the root)' },
    ]);
  });
});

test('a definition with many problems lists them all at once, top level first, then by step', () => {
  const def = {
    id: 'many',
    name: '',
    budget: { maxTokens: 0 },
    steps: [
      { id: 'design', agent: 'architekt', prompt: 'Design {{ topic }}', timeout: '5m' },
      { id: 'build', agent: 'builder', prompt: '{{ steps.docs.output }}', dependsOn: ['design', 'ghost'] },
      {
        id: 'design',
        kind: 'review',
        builder: 'builder',
        validator: 'validator',
        prompt: 'x',
        maxIterations: 11,
      },
      {
        id: 'chat',
        kind: 'groupChat',
        participants: ['architect', 'scribe'],
        manager: 'selector',
        prompt: '{% if %}',
      },
      { id: 'docs', agent: 'scribe', prompt: '{{ steps.build.output }}', dependsOn: ['build', 'docs2'] },
      { id: 'docs2', agent: 'scribe', prompt: 'x', dependsOn: ['docs'] },
      {
        id: 'gate',
        kind: 'approval',
        prompt: 'ok?',
        timeout: 'PT1H',
        onTimeout: 'later',
        dependsOn: ['chat'],
      },
      { id: 'ship', agent: 'echo', prompt: '{{ steps.gate.approved }}', dependsOn: ['gate'] },
    ],
  };
  const steps = 'steps: design, build, chat, docs, docs2, gate, ship';
  expect(violations(def)).toEqual([
    { path: 'name', message: 'must not be empty' },
    { path: 'budget.maxTokens', message: 'must be greater than 0 tokens, got 0' },
    {
      path: 'steps[0].timeout',
      message: "'5m' is not an ISO 8601 duration: it must start with 'P'; did you mean PT5M?",
    },
    {
      path: 'steps[0].agent',
      message:
        "unknown agent 'architekt' (built-in agents: architect, builder, validator, scribe, echo); did you mean 'architect'?",
    },
    {
      path: 'steps[0].prompt',
      message:
        "uses 'topic', but 'topic' is not defined in an agent step prompt (it can use: input, steps); did you mean 'input.topic'?",
    },
    {
      path: 'steps[1].dependsOn[1]',
      message: `names 'ghost', which is not a step of this workflow (${steps})`,
    },
    {
      path: 'steps[1].prompt',
      message:
        "uses 'steps.docs.output', but 'docs' is not a dependency of 'build' (direct or indirect), so its output may not exist yet when 'build' runs; add 'docs' to dependsOn",
    },
    { path: 'steps[2].maxIterations', message: 'must be at most 10, got 11' },
    { path: 'steps[2].id', message: "duplicate step id 'design' (already used by steps[0])" },
    {
      path: 'steps[3].selector',
      message: "is required when manager is 'selector': name the agent that picks the next speaker",
    },
    {
      path: 'steps[3].prompt',
      message:
        'Template syntax error at line 1, column 7: expected a variable, a string or a number, found end of tag',
    },
    {
      path: 'steps[4].dependsOn',
      message:
        'dependsOn forms a cycle: docs → docs2 → docs (each step depends on the next), so none of them can start',
    },
    { path: 'steps[6].onTimeout', message: "must be one of 'approve', 'reject', 'fail', got 'later'" },
    {
      path: 'steps[7].dependsOn',
      message: "step 'ship' can never run: it depends on 'gate', which is not valid (see steps[6])",
    },
  ]);
});

describe('executionPlan', () => {
  test('a DAG: independent steps share a level; order respects dependencies', () => {
    const def = validateWorkflow(
      workflow([
        agentStep('report', '{{ steps.merge.output }}', { dependsOn: ['merge'] }),
        agentStep('research', 'x'),
        agentStep('market', 'x'),
        agentStep('tech', 'x', { dependsOn: ['research'] }),
        agentStep('merge', 'x', { dependsOn: ['tech', 'market'] }),
        agentStep('costs', 'x', { dependsOn: ['research'] }),
      ]),
    );
    expect(executionPlan(def)).toEqual({
      order: ['research', 'market', 'tech', 'costs', 'merge', 'report'],
      levels: [['research', 'market'], ['tech', 'costs'], ['merge'], ['report']],
      dependents: {
        report: [],
        merge: ['report'],
        research: ['tech', 'costs'],
        market: ['merge'],
        tech: ['merge'],
        costs: [],
      },
    });
  });

  test('refuses a graph with a cycle or an unknown dependency', () => {
    expect(() =>
      executionPlan({
        steps: [
          { id: 'a', dependsOn: ['b'] },
          { id: 'b', dependsOn: ['a'] },
        ],
      }),
    ).toThrow('dependsOn forms a cycle: a → b → a');
    expect(() => executionPlan({ steps: [{ id: 'a', dependsOn: ['x'] }] })).toThrow(
      "steps[0].dependsOn[0]: names no step: 'x'",
    );
  });
});
