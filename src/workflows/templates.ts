/**
 * Built-in workflow templates: the seed patterns ready to run with the built-in agents. They are
 * written as an author would write them and go through validateWorkflow on first use, so a template
 * that stops validating fails its test, and callers get the normalized form (defaults filled in).
 */
import type { WorkflowDefinition, WorkflowDefinitionInput } from './definition';
import { validateWorkflow } from './validate';

const topicInput = {
  type: 'object',
  properties: { topic: { type: 'string', minLength: 1, description: 'What to design, build and document' } },
  required: ['topic'],
};

/** Architect → Builder → Builder/Validator review loop → Scribe (seed ADR-002's sequential pipeline). */
const agentStudioPipeline: WorkflowDefinitionInput = {
  id: 'agent-studio-pipeline',
  name: 'Agent studio pipeline',
  version: '1',
  description:
    'The Architect designs, the Builder implements, the Builder and the Validator iterate until the ' +
    'Validator passes the work (3 iterations at most), then the Scribe documents the result.',
  input: topicInput,
  steps: [
    { id: 'design', kind: 'agent', agent: 'architect', prompt: 'Design {{ input.topic }}.' },
    {
      id: 'implement',
      kind: 'agent',
      agent: 'builder',
      dependsOn: ['design'],
      prompt: 'Implement {{ input.topic }} following this design:\n\n{{ steps.design.output }}',
    },
    {
      id: 'review',
      kind: 'review',
      builder: 'builder',
      validator: 'validator',
      maxIterations: 3,
      dependsOn: ['implement'],
      prompt:
        'Improve this implementation of {{ input.topic }} until it passes review.\n\n' +
        'Design:\n{{ steps.design.output }}\n\nImplementation:\n{{ steps.implement.output }}' +
        '{% if feedback %}\n\nReviewer feedback (iteration {{ iteration }}):\n{{ feedback }}{% endif %}',
    },
    {
      id: 'document',
      kind: 'agent',
      agent: 'scribe',
      dependsOn: ['review'],
      prompt:
        'Document {{ input.topic }} for developers: what it does, how it is built and how to use it.\n\n' +
        'Design:\n{{ steps.design.output }}\n\nImplementation:\n{{ steps.review.output }}',
    },
  ],
};

/** Architect, Builder and Validator in a round-robin group chat (seed ADR-002's group chat). */
const designReviewChat: WorkflowDefinitionInput = {
  id: 'design-review-chat',
  name: 'Design review chat',
  version: '1',
  description:
    'The Architect, the Builder and the Validator discuss a design in turn, for 6 rounds at most; the ' +
    'chat ends early when the Validator approves or a message says APPROVED.',
  input: topicInput,
  steps: [
    {
      id: 'discussion',
      kind: 'groupChat',
      participants: ['architect', 'builder', 'validator'],
      manager: 'round-robin',
      maxRounds: 6,
      terminate: { keyword: 'APPROVED', validatorApproves: true },
      prompt:
        'Review and improve a design for {{ input.topic }}. The architect proposes, the builder checks ' +
        'that it can be built, the validator judges it; say APPROVED once the design is ready.',
    },
  ],
};

/** One Architect analysis per aspect, side by side, combined by the Scribe (seed's concurrent pattern). */
const parallelAnalysis: WorkflowDefinitionInput = {
  id: 'parallel-analysis',
  name: 'Parallel analysis',
  version: '1',
  description:
    'The Architect analyses the topic from each of the given aspects at the same time; the Scribe ' +
    'combines the analyses into one report.',
  input: {
    type: 'object',
    properties: {
      topic: { type: 'string', minLength: 1, description: 'What to analyse' },
      aspects: {
        type: 'array',
        items: { type: 'string' },
        minItems: 1,
        description: 'One analysis per aspect (security, cost, scalability …)',
      },
    },
    required: ['topic', 'aspects'],
  },
  steps: [
    {
      id: 'analysis',
      kind: 'parallel',
      forEach: {
        items: 'input.aspects',
        agent: 'architect',
        prompt:
          'Analyse {{ input.topic }} from the {{ item }} point of view ' +
          '(aspect {{ loop.index }} of {{ loop.length }}). Be specific and list risks and recommendations.',
      },
      aggregate: {
        agent: 'scribe',
        prompt:
          'Combine these analyses of {{ input.topic }} into one report with a section per aspect and a ' +
          'summary of the top recommendations:\n\n{{ results | join("\n\n---\n\n") }}',
      },
    },
  ],
};

const SOURCES = [agentStudioPipeline, designReviewChat, parallelAnalysis];

let normalized: readonly WorkflowDefinition[] | undefined;

function all(): readonly WorkflowDefinition[] {
  normalized ??= SOURCES.map((s) => validateWorkflow(s));
  return normalized;
}

/** Copies of the built-in workflows, normalized (callers may change them freely). */
export function builtInWorkflows(): WorkflowDefinition[] {
  return structuredClone(all()) as WorkflowDefinition[];
}

/** A built-in workflow by id, or undefined. */
export function findBuiltInWorkflow(id: string): WorkflowDefinition | undefined {
  const hit = all().find((w) => w.id === id);
  return hit && structuredClone(hit);
}
