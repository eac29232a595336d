/**
 * The HTTP contract: zod schemas for every request and response body, on the wire in snake_case (as
 * the seed API). The same schemas validate requests and generate the OpenAPI document (openapi.ts),
 * so the docs cannot say something the code does not do. `.meta()` carries descriptions and examples.
 */
import { z } from 'zod';
import { agentDefinitionSchema as agentDefinitionInputSchema } from '../agents/definition';
import { DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE } from '../agents/runner';
import { PROVIDERS } from '../config';
import { CONVERSATION_SCHEMAS } from './conversations-schemas';
import {
  approvalAcceptedSchema,
  approvalRequestSchema,
  cancelAcceptedSchema,
  cancelRequestSchema,
  metricsSchema,
  runEventSchema,
  runPageSchema,
  runSchema,
  runStartedSchema,
  startRunRequestSchema,
} from './run-schemas';
import {
  stepSchema,
  workflowDefinitionSchema as workflowDefinitionInputSchema,
} from '../workflows/definition';

const jsonObject = z.record(z.string(), z.unknown());

export const PROMPT_MIN = 10;
export const PROMPT_MAX = 10_000;

/** Request fields that also go by another name (camelCase, the AgentTask's `agent`). */
export const EXECUTE_ALIASES: Record<string, string[]> = {
  agent_type: ['agentType', 'agent'],
  max_tokens: ['maxTokens'],
};

export const executeRequestSchema = z
  .object({
    agent_type: z
      .string({ error: 'is required (the agent to run)' })
      .trim()
      .min(1, 'is required (the agent to run)')
      .meta({
        description:
          'The agent to run: a built-in name (Architect, Builder, Validator, Scribe, Echo), any agent id, ' +
          'case-insensitive. Also accepted as `agentType` or `agent`.',
        example: 'Architect',
      }),
    prompt: z
      .string({ error: 'is required' })
      .trim()
      .refine((p) => p.length > 0, { message: 'must not be empty or whitespace', abort: true })
      .min(PROMPT_MIN, `must be at least ${PROMPT_MIN} characters`)
      .max(PROMPT_MAX, `must be at most ${PROMPT_MAX} characters`)
      .meta({
        description: `Task prompt or requirements; trimmed, ${PROMPT_MIN}–${PROMPT_MAX} characters.`,
        example: 'Design a microservices architecture for an e-commerce platform',
      }),
    context: jsonObject.optional().meta({
      description: 'Shared context from previous tasks, given to the agent with the prompt.',
      example: { scale: '100K daily active users', cloud: 'Azure' },
    }),
    max_tokens: z
      .number('must be a number')
      .int('must be an integer')
      .min(100, 'must be at least 100')
      .max(32_000, 'must be at most 32000')
      .optional()
      .meta({
        description: `Maximum tokens in the response (the agent's own setting, else ${DEFAULT_MAX_TOKENS}). Also \`maxTokens\`.`,
        default: DEFAULT_MAX_TOKENS,
        example: 4000,
      }),
    temperature: z
      .number('must be a number')
      .min(0, 'must be at least 0')
      .max(2, 'must be at most 2')
      .optional()
      .meta({
        description: `Sampling temperature (the agent's own setting, else ${DEFAULT_TEMPERATURE}).`,
        default: DEFAULT_TEMPERATURE,
        example: 0.7,
      }),
    variables: jsonObject.optional().meta({
      description: "Values for the agent's system prompt template (`{{ name }}`).",
      example: { language: 'TypeScript' },
    }),
  })
  .meta({
    description: 'An agent task (AgentTaskRequest).',
    example: {
      agent_type: 'Architect',
      prompt: 'Design a microservices architecture for an e-commerce platform',
      context: { scale: '100K daily active users', cloud: 'Azure' },
      max_tokens: 4000,
      temperature: 0.7,
    },
  });
export type ExecuteRequest = z.infer<typeof executeRequestSchema>;

export const tokenUsageSchema = z
  .object({
    prompt: z.number().int().meta({ description: 'Tokens in the prompt', example: 1200 }),
    completion: z.number().int().meta({ description: 'Tokens in the completion', example: 2800 }),
    total: z.number().int().meta({ description: 'Total tokens', example: 4000 }),
  })
  .meta({ description: 'Token consumption.' });

export const costSchema = z
  .object({
    currency: z.literal('USD'),
    input: z.number().meta({ example: 0.003 }),
    output: z.number().meta({ example: 0.028 }),
    total: z.number().meta({ example: 0.031 }),
    priced: z.boolean().optional().meta({ description: 'false when the model has no known price (cost 0)' }),
  })
  .meta({ description: 'What the call cost in USD, from the price table (LLM_PRICES over the defaults).' });

export const agentResultSchema = z
  .object({
    agent_type: z.string().meta({ description: 'The agent that ran', example: 'Architect' }),
    output: z.string().meta({ example: '# Microservices Architecture\n\n## Overview\n...' }),
    parsed: z
      .unknown()
      .optional()
      .meta({ description: 'The parsed output, for agents with an output schema' }),
    token_usage: tokenUsageSchema,
    model: z.string().meta({ example: 'gpt-4o' }),
    provider: z.enum(PROVIDERS).meta({ example: 'azure-openai' }),
    duration_ms: z.number().int().meta({ example: 8500 }),
    metadata: jsonObject.meta({ example: { finish_reason: 'stop', context_used: true } }),
    timestamp: z.string().meta({ format: 'date-time', example: '2025-10-14T10:00:00Z' }),
    cost: costSchema,
  })
  .meta({ description: 'The result of an agent task (AgentResult).' });
export type AgentResultWire = z.infer<typeof agentResultSchema>;

export const streamDeltaSchema = z
  .object({ delta: z.string().meta({ example: '## Overview\n' }) })
  .meta({ description: 'The `data` of an SSE `delta` event: the next piece of the output.' });

export const capabilitiesSchema = z
  .object({
    agents: z.array(
      z.object({
        type: z.string().meta({ description: 'Name to pass as agent_type', example: 'Architect' }),
        id: z.string().meta({ example: 'architect' }),
        description: z.string().meta({ example: 'Designs system architecture and technical specifications' }),
        capabilities: z.array(z.string()).meta({ example: ['system-design', 'architecture-review'] }),
        built_in: z.boolean(),
      }),
    ),
  })
  .meta({ description: 'The agents that can be run, with their capabilities.' });

export const violationSchema = z.object({
  path: z.string().meta({ description: 'JSON path of the bad field', example: 'max_tokens' }),
  message: z.string().meta({ example: 'must be at least 100' }),
});

export const problemSchema = z
  .object({
    type: z.string().meta({ example: 'urn:agent-functions:problem:request.invalid' }),
    title: z.string().meta({ example: 'Bad Request' }),
    status: z.number().int().meta({ example: 400 }),
    detail: z.string().meta({ example: 'The request is not valid: max_tokens: must be at least 100' }),
    code: z.string().meta({ description: 'Stable error code', example: 'REQUEST.INVALID' }),
    violations: z.array(violationSchema).optional().meta({ description: 'Every violation, for 400s' }),
  })
  .meta({ description: 'RFC 9457 problem details (application/problem+json).' });

export const healthSchema = z
  .object({
    status: z.literal('ok'),
    service: z.string().meta({ example: 'agent-functions' }),
    version: z.string().meta({ example: '0.1.0' }),
    uptimeSeconds: z.number().int(),
    node: z.string().meta({ example: 'v20.20.2' }),
  })
  .meta({ description: 'Liveness of the app.' });

export const orchestrationStartedSchema = z
  .object({
    id: z.string().meta({ description: 'The instance id' }),
    statusQueryGetUri: z.string(),
    sendEventPostUri: z.string(),
    terminatePostUri: z.string(),
    purgeHistoryDeleteUri: z.string(),
    suspendPostUri: z.string().optional(),
    resumePostUri: z.string().optional(),
  })
  .meta({ description: 'The Durable Functions check-status payload: URLs to follow the instance.' });

/**
 * A custom agent definition as clients send it: the agent layer's own schema (aliases, template and
 * output-schema checks), so the API documents exactly what it validates.
 */
export const agentDefinitionRequestSchema = agentDefinitionInputSchema.meta({
  description:
    'A custom agent definition (snake_case; camelCase aliases such as `systemPrompt` are accepted). ' +
    'Read-only fields of a definition read back from the API are accepted and ignored.',
  example: {
    id: 'code-reviewer',
    name: 'Code Reviewer',
    description: 'Reviews pull requests for bugs',
    role: 'reviewer',
    system_prompt: 'You review {{ language }} code.',
    temperature: 0.2,
    capabilities: ['code-review'],
  },
});

/** What the registry answers for one agent (`toWire` in src/agents/definition.ts). */
export const agentDefinitionSchema = z
  .object({
    id: z.string().meta({ example: 'code-reviewer' }),
    name: z.string().meta({ example: 'Code Reviewer' }),
    description: z.string(),
    role: z.string(),
    system_prompt: z.string(),
    provider: z.enum(PROVIDERS).optional(),
    model: z.string().optional(),
    deployment: z.string().optional(),
    temperature: z.number().optional(),
    max_tokens: z.number().int().optional(),
    output_schema: jsonObject.optional(),
    capabilities: z.array(z.string()),
    built_in: z.boolean().meta({ description: 'Built-in agents are read-only' }),
    created_at: z.string().optional().meta({ format: 'date-time' }),
    updated_at: z.string().optional().meta({ format: 'date-time' }),
    etag: z.string().optional().meta({ description: 'Send it back in If-Match to update safely' }),
  })
  .meta({ description: 'An agent definition, built-in or custom.' });

export const agentListSchema = z.array(agentDefinitionSchema).meta({ description: 'Every agent.' });

/**
 * A workflow definition as clients send it: the workflow layer's own schema (definition.ts), so the API
 * documents what it validates; validate.ts then checks agents, the step graph and templates as a whole.
 */
export const workflowDefinitionRequestSchema = workflowDefinitionInputSchema.meta({
  description:
    'A workflow definition, as JSON or as YAML (Content-Type application/yaml or text/yaml). Field names ' +
    'are camelCase; snake_case aliases such as `depends_on` are accepted. Read-only fields of a workflow ' +
    'read back from the API (builtIn, latest, createdAt, etag, versions) are accepted and ignored.',
  example: {
    id: 'design-and-document',
    name: 'Design and document',
    version: '1',
    input: { type: 'object', properties: { topic: { type: 'string' } }, required: ['topic'] },
    steps: [
      { id: 'design', kind: 'agent', agent: 'architect', prompt: 'Design {{ input.topic }}.' },
      {
        id: 'document',
        kind: 'agent',
        agent: 'scribe',
        dependsOn: ['design'],
        prompt: 'Document this design:\n\n{{ steps.design.output }}',
      },
    ],
  },
});

/** What the registry answers for one workflow version: the normalized definition and its metadata. */
export const workflowSchema = z
  .object({
    id: z.string().meta({ example: 'design-and-document' }),
    name: z.string().meta({ example: 'Design and document' }),
    version: z.string().meta({ description: 'This version; a run pins the version it started with' }),
    description: z.string().optional(),
    input: jsonObject.optional().meta({ description: 'JSON Schema of the run input' }),
    budget: z
      .object({ maxTokens: z.number().int().optional(), maxCostUsd: z.number().optional() })
      .optional(),
    steps: z.array(stepSchema),
    builtIn: z.boolean().meta({ description: 'Built-in templates are read-only' }),
    latest: z.boolean().meta({ description: 'Whether this is the latest version' }),
    createdAt: z
      .string()
      .optional()
      .meta({ format: 'date-time', description: 'When this version was stored' }),
    etag: z.string().optional().meta({ description: 'Send it back in If-Match to add a version safely' }),
    versions: z
      .array(z.string())
      .optional()
      .meta({ description: 'Every version, oldest first (GET /api/v1/workflows/{id} only)' }),
  })
  .meta({ description: 'A workflow version, built-in or stored (the definition with its metadata).' });

export const workflowListSchema = z
  .array(workflowSchema)
  .meta({ description: 'The built-in templates, then the latest version of every stored workflow.' });

/** The named schemas, as they appear under components.schemas in the OpenAPI document. */
export const NAMED_SCHEMAS = {
  ExecuteRequest: executeRequestSchema,
  AgentResult: agentResultSchema,
  TokenUsage: tokenUsageSchema,
  Cost: costSchema,
  StreamDelta: streamDeltaSchema,
  Capabilities: capabilitiesSchema,
  AgentDefinitionRequest: agentDefinitionRequestSchema,
  AgentDefinition: agentDefinitionSchema,
  AgentList: agentListSchema,
  WorkflowDefinitionRequest: workflowDefinitionRequestSchema,
  Workflow: workflowSchema,
  WorkflowList: workflowListSchema,
  Problem: problemSchema,
  Violation: violationSchema,
  Health: healthSchema,
  OrchestrationStarted: orchestrationStartedSchema,
  OrchestrationInput: z.unknown().meta({ description: 'Any JSON value: the orchestration input.' }),
  StartRunRequest: startRunRequestSchema,
  RunStarted: runStartedSchema,
  Run: runSchema,
  RunPage: runPageSchema,
  RunEvent: runEventSchema,
  ApprovalRequest: approvalRequestSchema,
  ApprovalAccepted: approvalAcceptedSchema,
  CancelRequest: cancelRequestSchema,
  CancelAccepted: cancelAcceptedSchema,
  Metrics: metricsSchema,
  ...CONVERSATION_SCHEMAS,
} satisfies Record<string, z.ZodType>;

export type SchemaName = keyof typeof NAMED_SCHEMAS;
