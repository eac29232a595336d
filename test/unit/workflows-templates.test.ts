/** Built-in workflow templates: they validate, have the documented shape and read only their dependencies. */
import { templateReferences } from '../../src/agents/template';
import { builtInWorkflows, findBuiltInWorkflow } from '../../src/workflows/templates';
import { executionPlan, validateWorkflow } from '../../src/workflows/validate';

describe('built-in workflows', () => {
  test('the three templates, each validating against the built-in agents', () => {
    const all = builtInWorkflows();
    expect(all.map((w) => w.id)).toEqual([
      'agent-studio-pipeline',
      'design-review-chat',
      'parallel-analysis',
    ]);
    for (const w of all) expect(validateWorkflow(w)).toEqual(w);
  });

  test('agent-studio-pipeline: Architect → Builder → review loop (3 iterations) → Scribe, input {topic}', () => {
    const w = findBuiltInWorkflow('agent-studio-pipeline')!;
    expect(w.input).toMatchObject({ type: 'object', required: ['topic'] });
    expect(w.steps.map((s) => [s.id, s.kind, s.dependsOn])).toEqual([
      ['design', 'agent', []],
      ['implement', 'agent', ['design']],
      ['review', 'review', ['implement']],
      ['document', 'agent', ['review']],
    ]);
    expect(w.steps[0]).toMatchObject({ agent: 'architect' });
    expect(w.steps[1]).toMatchObject({ agent: 'builder' });
    expect(w.steps[2]).toMatchObject({ builder: 'builder', validator: 'validator', maxIterations: 3 });
    expect(w.steps[3]).toMatchObject({ agent: 'scribe' });
    expect(executionPlan(w).levels).toEqual([['design'], ['implement'], ['review'], ['document']]);
  });

  test('design-review-chat: architect, builder and validator, round-robin, 6 rounds, ends on approval', () => {
    const w = findBuiltInWorkflow('design-review-chat')!;
    expect(w.steps).toHaveLength(1);
    expect(w.steps[0]).toMatchObject({
      kind: 'groupChat',
      participants: ['architect', 'builder', 'validator'],
      manager: 'round-robin',
      maxRounds: 6,
      terminate: { keyword: 'APPROVED', validatorApproves: true },
    });
  });

  test('parallel-analysis: a forEach over input.aspects, aggregated by the scribe', () => {
    const w = findBuiltInWorkflow('parallel-analysis')!;
    expect(w.input).toMatchObject({ required: ['topic', 'aspects'] });
    expect(w.steps[0]).toMatchObject({
      kind: 'parallel',
      forEach: { items: 'input.aspects', agent: 'architect' },
      aggregate: { agent: 'scribe' },
    });
  });

  test('templates read only the input and their (indirect) dependencies', () => {
    for (const w of builtInWorkflows()) {
      const before = new Map<string, Set<string>>();
      for (const step of w.steps) {
        const ancestors = new Set(step.dependsOn.flatMap((d) => [d, ...(before.get(d) ?? [])]));
        before.set(step.id, ancestors);
        const prompts = [
          'prompt' in step ? step.prompt : '',
          step.kind === 'parallel' ? (step.forEach?.prompt ?? '') : '',
          step.kind === 'parallel' ? (step.aggregate?.prompt ?? '') : '',
        ];
        for (const ref of prompts.flatMap((p) => templateReferences(p))) {
          const [root, id] = ref.path.split('.');
          if (root === 'steps') expect(ancestors).toContain(id);
          else expect(['input', 'item', 'loop', 'results', 'iteration', 'feedback']).toContain(root);
        }
      }
    }
    const pipeline = findBuiltInWorkflow('agent-studio-pipeline')!;
    const refs = (i: number): string[] =>
      templateReferences((pipeline.steps[i] as { prompt: string }).prompt).map((r) => r.path);
    expect(refs(3)).toEqual(['input.topic', 'steps.design.output', 'steps.review.output']);
  });

  test('callers get copies; unknown ids are undefined', () => {
    const w = findBuiltInWorkflow('design-review-chat')!;
    w.name = 'changed';
    expect(findBuiltInWorkflow('design-review-chat')!.name).toBe('Design review chat');
    expect(findBuiltInWorkflow('nope')).toBeUndefined();
  });
});
