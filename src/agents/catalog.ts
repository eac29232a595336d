/**
 * The built-in agents of ADR-005 (Architect, Builder, Validator, Scribe) plus Echo for tests and
 * demos. Their prompts carry no template variables, so they render with any task. The Validator's
 * verdict is a zod schema; its JSON Schema is derived from it so the two cannot drift apart.
 */
import { z } from 'zod';
import type { AgentDefinition } from './types';

/** What the Validator answers: a score, a pass/fail verdict and the issues found. */
export const validatorVerdictSchema = z
  .object({
    score: z.number().min(0).max(100).describe('Overall quality, 0 (unusable) to 100 (flawless)'),
    pass: z.boolean().describe('Whether the work passes the quality gates'),
    issues: z.array(
      z.object({
        severity: z.enum(['error', 'warning', 'info']),
        message: z.string(),
      }),
    ),
  })
  .describe('Validator verdict');

export type ValidatorVerdict = z.infer<typeof validatorVerdictSchema>;

/** JSON Schema of the verdict, without `$schema` (model APIs want the bare schema). */
function verdictJsonSchema(): Record<string, unknown> {
  const { $schema: _ignored, ...schema } = z.toJSONSchema(validatorVerdictSchema) as Record<string, unknown>;
  return schema;
}

const ARCHITECT_PROMPT = `You are a senior software architect with 15 years of experience designing cloud-native, scalable systems. Your expertise includes:
- Microservices and distributed systems architecture
- Azure cloud infrastructure and services
- Event-driven and CQRS patterns
- Performance optimization and scalability
- Security and compliance best practices

Provide detailed, actionable architectural recommendations with clear rationale.
Include diagrams where helpful (Mermaid format).`;

const BUILDER_PROMPT = `You are a senior software engineer who turns designs and requirements into working code. Your expertise includes:
- Code generation in the language and framework the task names (TypeScript when none is named)
- Project scaffolding: layout, configuration, build and test setup
- Refactoring existing code for clarity, testability and performance
- Idiomatic, secure, well-tested code with clear error handling

Put every file in its own fenced code block with the language, preceded by its path on its own line
(for example \`src/index.ts\`). Keep explanations short and after the code.`;

const VALIDATOR_PROMPT = `You are a meticulous reviewer who validates work against quality gates: correctness, completeness against the requirements, security, maintainability and consistency with the given context.

Answer ONLY with a JSON object, no prose and no code fences:
{"score": <number 0-100>, "pass": <true|false>, "issues": [{"severity": "error"|"warning"|"info", "message": "<what is wrong and how to fix it>"}]}

"pass" is false when any issue has severity "error". List every issue you find; an empty list means none.`;

const SCRIBE_PROMPT = `You are a technical writer who produces clear, comprehensive documentation. Your expertise includes:
- README files, guides and tutorials for developers and operators
- API specifications (OpenAPI) and reference documentation
- Architecture decision records and design documents
- Precise technical writing for a stated audience

Write in Markdown with a logical heading structure, concrete examples and code blocks where they help.`;

const ECHO_PROMPT = 'Repeat the user message back exactly as it was given, with nothing added.';

const BUILT_INS: readonly AgentDefinition[] = [
  {
    id: 'architect',
    name: 'Architect',
    description: 'Designs system architecture and technical specifications',
    role: 'architect',
    systemPrompt: ARCHITECT_PROMPT,
    capabilities: ['system-design', 'architecture-review', 'technology-selection'],
    builtIn: true,
  },
  {
    id: 'builder',
    name: 'Builder',
    description: 'Generates code and implementation artifacts',
    role: 'builder',
    systemPrompt: BUILDER_PROMPT,
    capabilities: ['code-generation', 'scaffolding', 'refactoring'],
    builtIn: true,
  },
  {
    id: 'validator',
    name: 'Validator',
    description: 'Validates outputs against quality gates',
    role: 'validator',
    systemPrompt: VALIDATOR_PROMPT,
    // A quality gate should give the same verdict for the same work.
    temperature: 0,
    outputSchema: verdictJsonSchema(),
    capabilities: ['quality-checks', 'validation', 'feedback'],
    builtIn: true,
  },
  {
    id: 'scribe',
    name: 'Scribe',
    description: 'Generates comprehensive documentation',
    role: 'scribe',
    systemPrompt: SCRIBE_PROMPT,
    capabilities: ['documentation', 'technical-writing', 'api-specs'],
    builtIn: true,
  },
  {
    id: 'echo',
    name: 'Echo',
    description: 'Repeats its input; for tests and demos',
    role: 'echo',
    systemPrompt: ECHO_PROMPT,
    capabilities: ['echo'],
    builtIn: true,
  },
];

/** Copies of the built-in definitions (callers may change them freely). */
export function builtInAgents(): AgentDefinition[] {
  return structuredClone(BUILT_INS) as AgentDefinition[];
}

const BY_KEY = new Map<string, AgentDefinition>();
for (const d of BUILT_INS) {
  deepFreeze(d);
  BY_KEY.set(d.id, d);
  BY_KEY.set(d.name.toLowerCase(), d);
}

/**
 * A built-in agent by id or name, case-insensitively. The definition is shared and frozen (it is
 * looked up on every call; copying its long prompt each time showed in profiles).
 */
export function findBuiltIn(agent: string): AgentDefinition | undefined {
  return BY_KEY.get(agent.trim().toLowerCase());
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/** Whether an id or name is taken by a built-in agent. */
export function isBuiltInName(idOrName: string): boolean {
  const key = idOrName.trim().toLowerCase();
  return BUILT_INS.some((d) => d.id === key || d.name.toLowerCase() === key);
}

export interface AgentCapabilities {
  agents: { type: string; description: string; capabilities: string[] }[];
}

/** The body of GET /api/agents/capabilities (the seed's shape), built-ins first, then custom agents. */
export function capabilitiesOf(custom: AgentDefinition[] = []): AgentCapabilities {
  const customOnly = custom.filter((d) => !isBuiltInName(d.id));
  return {
    agents: [...BUILT_INS, ...customOnly].map((d) => ({
      type: d.name,
      description: d.description,
      capabilities: [...d.capabilities],
    })),
  };
}
