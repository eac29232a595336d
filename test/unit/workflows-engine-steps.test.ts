import {
  feedbackText,
  REVIEW_VALIDATOR_PROMPT,
  runWorkflow,
  type AgentActivityInput,
  type WorkflowOutcome,
} from '../../src/workflows/engine';
import type { WorkflowDefinition } from '../../src/workflows/definition';
import { validateWorkflow } from '../../src/workflows/validate';
import {
  after,
  agentResult,
  FakeWorkflowContext,
  outputRef,
  withRecord,
  type Handler,
} from '../fixtures/fake-workflow-context';
import { agentStep, workflow } from '../fixtures/workflows/builders';

const flow = (steps: Record<string, unknown>[]): WorkflowDefinition => validateWorkflow(workflow(steps));

function run(
  def: WorkflowDefinition,
  script: Record<string, Handler>,
  input: unknown = {},
): { fake: FakeWorkflowContext; outcome: WorkflowOutcome } {
  const fake = new FakeWorkflowContext(script);
  return { fake, outcome: fake.run(runWorkflow(fake, { runId: 'r', definition: def, input })) };
}

const echo = (ms = 0): Record<string, Handler> =>
  withRecord({
    agent_echo: (i: AgentActivityInput) => after(ms, agentResult(i.call)),
    agent_scribe: (i: AgentActivityInput) => after(ms, agentResult(i.call)),
  });

describe('parallel steps', () => {
  it('fans out branches at once and joins their outputs when there is no aggregate', () => {
    const def = flow([
      {
        id: 'p',
        kind: 'parallel',
        branches: [
          { id: 'left', agent: 'echo', prompt: 'L' },
          { agent: 'scribe', prompt: 'R' },
        ],
      },
      agentStep('after', '{{ steps.p.output }} {{ steps.p.results | length }}', { dependsOn: ['p'] }),
    ]);
    const { fake, outcome } = run(def, echo(100));
    expect(fake.trace.filter((l) => l.includes('agent_')).slice(0, 3)).toEqual([
      'call agent_echo p/left',
      'call agent_scribe p/branch-2',
      'done agent_echo p/left',
    ]);
    expect(outcome.steps.p).toMatchObject({
      status: 'completed',
      calls: 2,
      summary: 'p/left\n\np/branch-2',
      results: [
        { outputRef: outputRef('p/left'), summary: 'p/left' },
        { outputRef: outputRef('p/branch-2'), summary: 'p/branch-2' },
      ],
    });
    expect(outcome.steps.p!.outputRef).toBeUndefined();
    expect(fake.agentCalls().at(-1)!.input.vars.steps.p).toEqual({
      output: { $text: [outputRef('p/left'), outputRef('p/branch-2')], separator: '\n\n' },
      results: [{ $text: [outputRef('p/left')] }, { $text: [outputRef('p/branch-2')] }],
    });
  });

  it('runs one call per item with item and loop, then the aggregate with the results', () => {
    const def = validateWorkflow(
      workflow(
        [
          {
            id: 'p',
            kind: 'parallel',
            forEach: { items: '{{ input.topics }}', agent: 'echo', prompt: '{{ item }} {{ loop.index }}' },
            aggregate: { agent: 'scribe', prompt: '{{ results | join(", ") }}' },
            timeout: 'PT1M',
          },
        ],
        { input: { type: 'object', properties: { topics: { type: 'array' } } } },
      ),
    );
    const { fake, outcome } = run(def, echo(), { topics: ['x', 'y', 'z'] });
    const calls = fake.agentCalls();
    expect(calls.map((c) => [c.input.call, c.input.vars.item, c.input.vars.loop])).toEqual([
      ['p/item-1', 'x', { index: 1, index0: 0, first: true, last: false, length: 3, revindex: 3 }],
      ['p/item-2', 'y', { index: 2, index0: 1, first: false, last: false, length: 3, revindex: 2 }],
      ['p/item-3', 'z', { index: 3, index0: 2, first: false, last: true, length: 3, revindex: 1 }],
      ['p/aggregate', undefined, undefined],
    ]);
    expect(calls[3]!.name).toBe('agent_scribe');
    expect(calls[3]!.input.vars.results).toEqual(
      ['p/item-1', 'p/item-2', 'p/item-3'].map((t) => ({ $text: [outputRef(t)] })),
    );
    expect(outcome.steps.p).toMatchObject({
      agent: 'scribe',
      calls: 4,
      outputRef: outputRef('p/aggregate'),
      tokens: { total: 40 },
    });
    expect(outcome.steps.p!.cost).toBeCloseTo(0.004);
    expect(fake.timers.map((t) => t.canceled)).toEqual([true, true, true, true]);
  });

  it('fails with STEP.ITEMS_NOT_A_LIST when the items are not a list, and completes on an empty list', () => {
    const def = flow([
      { id: 'p', kind: 'parallel', forEach: { items: 'input.topics', agent: 'echo', prompt: '{{ item }}' } },
    ]);
    const bad = run(def, echo(), { topics: 'x' });
    expect(bad.outcome.steps.p!.error).toEqual({
      code: 'STEP.ITEMS_NOT_A_LIST',
      message: "Step 'p': forEach.items 'input.topics' is not a list",
    });
    const empty = run(def, echo(), { topics: [] });
    expect(empty.outcome.status).toBe('completed');
    expect(empty.outcome.steps.p).toMatchObject({ status: 'completed', calls: 0, results: [] });
  });

  it('fails the step when a branch fails, and cancels the other timers', () => {
    const def = flow([
      {
        id: 'p',
        kind: 'parallel',
        timeout: 'PT1M',
        branches: [
          { agent: 'echo', prompt: 'A' },
          { agent: 'scribe', prompt: 'B' },
        ],
      },
    ]);
    const script = withRecord({
      agent_echo: () => {
        throw new Error('boom');
      },
      agent_scribe: () => after(100, agentResult('b')),
    });
    const { fake, outcome } = run(def, script);
    expect(outcome.steps.p!.error).toEqual({ code: 'STEP.FAILED', message: 'boom' });
    expect(fake.timers.map((t) => t.canceled)).toEqual([true, true]);
  });
});

describe('review steps', () => {
  const reviewFlow = (maxIterations: number) =>
    flow([
      {
        id: 'rv',
        kind: 'review',
        builder: 'builder',
        validator: 'validator',
        maxIterations,
        prompt: 'Build it {{ iteration }} {{ feedback }}',
      },
    ]);
  const issues = [
    { severity: 'error', message: 'no tests' },
    { severity: 'warning', message: 'long lines' },
  ];
  const script = (passOn: number): Record<string, Handler> => {
    let n = 0;
    return withRecord({
      agent_builder: (i: AgentActivityInput) => agentResult(i.call),
      agent_validator: (i: AgentActivityInput) =>
        agentResult(i.call, { parsed: { score: 50, pass: ++n === passOn, issues } }),
    });
  };

  it('loops until the validator passes, giving the builder the iteration and the feedback', () => {
    const { fake, outcome } = run(reviewFlow(3), script(2));
    const calls = fake.agentCalls();
    expect(calls.map((c) => [c.name, c.input.call, c.input.attempt])).toEqual([
      ['agent_builder', 'rv/builder-1', 1],
      ['agent_validator', 'rv/validator-1', 1],
      ['agent_builder', 'rv/builder-2', 2],
      ['agent_validator', 'rv/validator-2', 2],
    ]);
    expect(calls[0]!.input.vars).toMatchObject({ iteration: 1, feedback: '' });
    expect(calls[2]!.input.vars).toMatchObject({
      iteration: 2,
      feedback: '- error: no tests\n- warning: long lines',
    });
    expect(calls[3]!.input).toMatchObject({
      prompt: REVIEW_VALIDATOR_PROMPT,
      context: { task: 'Build it {{ iteration }} {{ feedback }}' },
      vars: { iteration: 2, work: { $text: [outputRef('rv/builder-2')] } },
    });
    expect(outcome.steps.rv).toMatchObject({
      status: 'completed',
      approved: true,
      iterations: 2,
      calls: 4,
      outputRef: outputRef('rv/builder-2'),
      verdict: { pass: true },
    });
  });

  it('gives up after maxIterations: the step completes with approved false', () => {
    const { fake, outcome } = run(reviewFlow(2), script(99));
    expect(fake.agentCalls()).toHaveLength(4);
    expect(outcome.status).toBe('completed');
    expect(outcome.steps.rv).toMatchObject({ status: 'completed', approved: false, iterations: 2 });
  });

  it('feedbackText lists the issues, or says the work did not pass', () => {
    expect(feedbackText({ issues: [{ severity: 'info', message: 'ok' }, 'plain'] })).toBe(
      '- info: ok\n- plain',
    );
    expect(feedbackText(undefined)).toBe('The validator did not pass the work.');
  });
});

describe('conditions', () => {
  it('fails a step whose when cannot be evaluated with STEP.CONDITION_FAILED', () => {
    const def = flow([
      agentStep('a', 'A'),
      agentStep('b', 'B', { dependsOn: ['a'], when: 'steps.a.parsed.ok' }),
    ]);
    const { outcome } = run(def, echo());
    expect(outcome.steps.b!.status).toBe('failed');
    expect(outcome.steps.b!.error!.code).toBe('STEP.CONDITION_FAILED');
    expect(outcome.error!.code).toBe('STEP.CONDITION_FAILED');
  });

  it('reads review and approval results in when conditions', () => {
    const def = flow([
      { id: 'gate', kind: 'approval', prompt: 'Go?', timeout: 'PT1H', onTimeout: 'approve' },
      agentStep('yes', 'Y', { dependsOn: ['gate'], when: "steps.gate.output == 'approved'" }),
    ]);
    const { fake, outcome } = run(def, echo());
    expect(outcome.steps.yes!.status).toBe('completed');
    expect(fake.clock).toBe(3_600_000);
  });
});

describe('group chat steps', () => {
  it('times out a group chat that runs too long', () => {
    const def = flow([
      {
        id: 'chat',
        kind: 'groupChat',
        participants: ['architect', 'builder'],
        prompt: 'Talk',
        timeout: 'PT5M',
      },
    ]);
    const { outcome } = run(def, withRecord({ workflow_group_chat: () => after(600_000, {}) }));
    expect(outcome.steps.chat!.error!.code).toBe('STEP.TIMEOUT');
    expect(outcome.status).toBe('failed');
  });
});
