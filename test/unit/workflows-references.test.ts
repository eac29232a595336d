/** validateWorkflow on templates: syntax, variables each template may use, step references and dependencies. */
import { validateWorkflow } from '../../src/workflows/validate';
import { agentStep, violations, workflow, type StepSpec } from '../fixtures/workflows/builders';

describe('templates', () => {
  test('a syntax error names the line and column', () => {
    expect(violations(workflow([agentStep('a', 'Design {{ input.topic ')]))).toEqual([
      {
        path: 'steps[0].prompt',
        message: "Template syntax error at line 1, column 8: '{{' is never closed with '}}'",
      },
    ]);
  });

  test('a step id with a hyphen gets a hint on how to write it', () => {
    const def = workflow([
      agentStep('write-docs', 'x'),
      agentStep('b', '{{ steps.write-docs.output }}', { dependsOn: ['write-docs'] }),
    ]);
    expect(violations(def)).toEqual([
      {
        path: 'steps[1].prompt',
        message:
          "Template syntax error at line 1, column 15: unexpected character '-'. A step id with '-' is written steps['my-step'].output",
      },
    ]);
    const fixed = workflow([
      agentStep('write-docs', 'x'),
      agentStep('b', "{{ steps['write-docs'].output }}", { dependsOn: ['write-docs'] }),
    ]);
    expect(validateWorkflow(fixed).steps).toHaveLength(2);
  });

  test('a reference to an unknown step', () => {
    expect(
      violations(
        workflow([
          agentStep('design', 'x'),
          agentStep('docs', '{{ steps.desgn.output }}', { dependsOn: ['design'] }),
        ]),
      ),
    ).toEqual([
      {
        path: 'steps[1].prompt',
        message:
          "uses 'steps.desgn.output', but there is no step 'desgn' (steps: design, docs); did you mean 'design'?",
      },
    ]);
  });

  test('a reference to a step that is not a dependency: its output may not exist yet', () => {
    const def = workflow([agentStep('design', 'x'), agentStep('docs', 'Document {{ steps.design.output }}')]);
    expect(violations(def)).toEqual([
      {
        path: 'steps[1].prompt',
        message:
          "uses 'steps.design.output', but 'design' is not a dependency of 'docs' (direct or indirect), so its output may not exist yet when 'docs' runs; add 'design' to dependsOn",
      },
    ]);
  });

  test('indirect dependencies may be read; own result, bare steps and unknown result fields may not', () => {
    const ok = workflow([
      agentStep('a', 'x'),
      agentStep('b', 'y', { dependsOn: ['a'] }),
      agentStep('c', '{{ steps.a.output }}', { dependsOn: ['b'] }),
    ]);
    expect(validateWorkflow(ok).steps).toHaveLength(3);
    const def = workflow([
      agentStep('a', 'x'),
      agentStep('b', '{{ steps.b.output }} {{ steps }} {{ steps.a.outptu }}', { dependsOn: ['a'] }),
    ]);
    expect(violations(def)).toEqual([
      { path: 'steps[1].prompt', message: "uses 'steps.b.output': a step cannot read its own result" },
      { path: 'steps[1].prompt', message: "uses 'steps' without a step id; write steps.<id>.output" },
      {
        path: 'steps[1].prompt',
        message:
          "uses 'steps.a.outptu', but the result of agent step 'a' has no 'outptu' (it has: output, parsed); did you mean 'output'?",
      },
    ]);
  });

  test('an unknown root variable, with what the template can use instead', () => {
    const def = workflow([
      agentStep('design', 'Design {{ topic }} for {{ item }}'),
      agentStep('docs', '{{ design }}', { dependsOn: ['design'], context: { extra: '{{ results }}' } }),
    ]);
    expect(violations(def)).toEqual([
      {
        path: 'steps[0].prompt',
        message:
          "uses 'topic', but 'topic' is not defined in an agent step prompt (it can use: input, steps); did you mean 'input.topic'?",
      },
      {
        path: 'steps[0].prompt',
        message:
          "uses 'item', but 'item' is not defined in an agent step prompt (it can use: input, steps); 'item' is only defined in a forEach prompt",
      },
      {
        path: 'steps[1].prompt',
        message:
          "uses 'design', but 'design' is not defined in an agent step prompt (it can use: input, steps); did you mean 'steps.design.output'?",
      },
      {
        path: 'steps[1].context.extra',
        message:
          "uses 'results', but 'results' is not defined in an agent step context value (it can use: input, steps); 'results' is only defined in an aggregate prompt",
      },
    ]);
  });

  test('the variables each kind provides: item/loop in forEach, results in aggregate, iteration/feedback in review', () => {
    const def = workflow([
      {
        id: 'fan',
        kind: 'parallel',
        forEach: { items: 'input.topics', agent: 'echo', prompt: '{{ loop.index }}. {{ item }}' },
        aggregate: { agent: 'scribe', prompt: '{% for r in results %}{{ r }}{% endfor %}' },
      },
      {
        id: 'fix',
        kind: 'review',
        builder: 'builder',
        validator: 'validator',
        prompt: '{{ iteration }} {{ feedback }}',
        dependsOn: ['fan'],
      },
      {
        id: 'chat',
        kind: 'groupChat',
        participants: ['architect', 'builder'],
        prompt: '{{ steps.fix.verdict.score }}',
        dependsOn: ['fix'],
      },
    ]);
    expect(validateWorkflow(def).steps).toHaveLength(3);
  });

  test('input variables are checked against the properties the input schema declares', () => {
    const input = { type: 'object', properties: { topic: { type: 'string' } } };
    expect(violations(workflow([agentStep('a', '{{ input.topci }}')], { input }))).toEqual([
      {
        path: 'steps[0].prompt',
        message:
          "uses 'input.topci', but the input schema declares no property 'topci' (it declares: topic); did you mean 'topic'?",
      },
    ]);
    const open = { ...input, additionalProperties: true };
    expect(validateWorkflow(workflow([agentStep('a', '{{ input.topci }}')], { input: open })).input).toEqual(
      open,
    );
  });

  test('forEach items must be a path into input or steps, and a steps path must be a dependency', () => {
    const fan = (items: string, more: StepSpec = {}): StepSpec => ({
      id: 'fan',
      kind: 'parallel',
      forEach: { items, agent: 'echo', prompt: '{{ item }}' },
      ...more,
    });
    expect(violations(workflow([fan('topics')]))).toEqual([
      {
        path: 'steps[0].forEach.items',
        message:
          "must be a path into input or steps (e.g. input.topics or steps.plan.parsed.items), not 'topics'",
      },
    ]);
    expect(violations(workflow([agentStep('plan', 'x'), fan('steps.plan.parsed.items')]))[0]).toEqual({
      path: 'steps[1].forEach.items',
      message:
        "uses 'steps.plan.parsed.items', but 'plan' is not a dependency of 'fan' (direct or indirect), so its output may not exist yet when 'fan' runs; add 'plan' to dependsOn",
    });
    expect(
      validateWorkflow(
        workflow([agentStep('plan', 'x'), fan('steps.plan.parsed.items', { dependsOn: ['plan'] })]),
      ).steps,
    ).toHaveLength(2);
  });
});
