/**
 * Custom agent definitions as the API receives them. The wire format is snake_case (as the seed's
 * API); camelCase aliases are accepted and renamed before validation, so the OpenAPI document shows
 * one spelling. Everything that would only fail at run time (a template that does not parse, an output
 * schema that cannot be validated) is rejected here, when the definition is saved.
 */
import { z } from 'zod';
import { PROVIDERS } from '../config';
import { ConflictError, ValidationError, type Violation } from '../errors';
import { isBuiltInName } from './catalog';
import { AgentError } from './errors';
import { outputSchemaProblems } from './json-schema';
import { compileTemplate } from './template';
import type { AgentDefinition } from './types';

export const AGENT_ID_PATTERN = /^[a-z][a-z0-9-]{1,62}$/;

/** camelCase alias → wire (snake_case) name. */
const ALIASES: Record<string, string> = {
  systemPrompt: 'system_prompt',
  maxTokens: 'max_tokens',
  outputSchema: 'output_schema',
  builtIn: 'built_in',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};

/** Renames camelCase keys to snake_case; a key given both ways (differently) is left for `strict` to flag. */
function renameAliases(body: unknown): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const out: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const [camel, snake] of Object.entries(ALIASES)) {
    if (!(camel in out)) continue;
    if (!(snake in out) || JSON.stringify(out[snake]) === JSON.stringify(out[camel])) {
      out[snake] = out[camel];
      delete out[camel];
    }
  }
  return out;
}

/** A prompt template that does not parse fails when saved, not on the first run. */
function checkTemplate(template: string, ctx: z.RefinementCtx): void {
  try {
    compileTemplate(template);
  } catch (err) {
    if (!(err instanceof AgentError)) throw err;
    ctx.addIssue({ code: 'custom', message: err.message });
  }
}

const wireFields = z
  .object({
    id: z
      .string()
      .regex(AGENT_ID_PATTERN, 'must be a lower-case slug: a letter, then 2-63 letters, digits or hyphens')
      .optional()
      .describe('Defaults to a slug of the name'),
    name: z.string().trim().min(1).max(100),
    description: z.string().max(2000).default(''),
    role: z.string().trim().min(1).max(64).default('custom').describe('The role the agent plays'),
    system_prompt: z
      .string()
      .min(1)
      .max(100_000)
      .superRefine(checkTemplate)
      .describe(
        "Jinja-like template: {{ var }}, filters, {% if %}, {% for %}; rendered with the task's variables",
      ),
    provider: z.enum(PROVIDERS).optional(),
    model: z.string().min(1).optional(),
    deployment: z.string().min(1).optional().describe('Azure OpenAI deployment name'),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().min(1).max(32_000).optional(),
    output_schema: z
      .record(z.string(), z.unknown())
      .superRefine((schema, ctx) =>
        outputSchemaProblems(schema).forEach((message) => ctx.addIssue({ code: 'custom', message })),
      )
      .optional()
      .describe('JSON Schema (type: object) the output must satisfy'),
    capabilities: z.array(z.string().min(1).max(64)).max(50).default([]),
    // Read-only fields of a definition read back from the API; accepted (so GET → edit → PUT works) and ignored.
    built_in: z.boolean().optional().describe('Read-only; ignored'),
    created_at: z.string().optional().describe('Read-only; ignored'),
    updated_at: z.string().optional().describe('Read-only; ignored'),
    etag: z.string().optional().describe('Read-only; ignored (send If-Match instead)'),
  })
  .strict();

/** `Data Pipeline Reviewer!` → `data-pipeline-reviewer`; undefined when nothing usable is left. */
export function slugify(name: string): string | undefined {
  let slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!slug) return undefined;
  if (!/^[a-z]/.test(slug) || slug.length < 2) slug = `agent-${slug}`;
  return slug.slice(0, 63).replace(/-+$/, '');
}

/**
 * The custom agent definition schema (snake_case input, camelCase aliases accepted) → a normalized
 * AgentDefinition. Use `z.toJSONSchema(agentDefinitionSchema, { io: 'input' })` for OpenAPI.
 */
export const agentDefinitionSchema = z
  .preprocess(renameAliases, wireFields)
  .superRefine((v, ctx) => {
    if (v.id === undefined && !slugify(v.name)) {
      ctx.addIssue({ code: 'custom', path: ['id'], message: 'cannot be derived from the name; give an id' });
    }
  })
  .transform((v): AgentDefinition => ({
    id: v.id ?? slugify(v.name) ?? '',
    name: v.name,
    description: v.description,
    role: v.role,
    systemPrompt: v.system_prompt,
    ...(v.provider !== undefined && { provider: v.provider }),
    ...(v.model !== undefined && { model: v.model }),
    ...(v.deployment !== undefined && { deployment: v.deployment }),
    ...(v.temperature !== undefined && { temperature: v.temperature }),
    ...(v.max_tokens !== undefined && { maxTokens: v.max_tokens }),
    ...(v.output_schema !== undefined && { outputSchema: v.output_schema }),
    capabilities: v.capabilities,
    builtIn: false,
  }));

export type AgentDefinitionInput = z.input<typeof wireFields>;

function violationOf(issue: z.core.$ZodIssue): Violation {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const both = issue.keys.filter((k) => ALIASES[k]);
    if (both.length) {
      return { path, message: `give ${both.map((k) => `${ALIASES[k]} or ${k}`).join(', ')}, not both` };
    }
  }
  return { path, message: issue.message };
}

/**
 * Validates a custom agent definition from the API. Throws ValidationError (AGENT.INVALID_DEFINITION)
 * listing every violation, or ConflictError (AGENT.BUILTIN) when the id or name is a built-in's.
 */
export function parseAgentDefinition(body: unknown): AgentDefinition {
  const parsed = agentDefinitionSchema.safeParse(body);
  if (!parsed.success) {
    const violations = parsed.error.issues.map(violationOf);
    throw new ValidationError(
      violations,
      `The agent definition is not valid: ${violations.map((v) => `${v.path || '(body)'}: ${v.message}`).join('; ')}`,
      'AGENT.INVALID_DEFINITION',
    );
  }
  const def = parsed.data;
  for (const taken of [def.id, def.name]) {
    if (isBuiltInName(taken)) {
      throw new ConflictError(
        'AGENT.BUILTIN',
        `'${taken}' is a built-in agent; a custom agent needs another ${taken === def.id ? 'id' : 'name'}`,
      );
    }
  }
  return def;
}

/** The snake_case API representation of a definition (built-in or custom). */
export function toWire(def: AgentDefinition): Record<string, unknown> {
  const wire: Record<string, unknown> = {
    id: def.id,
    name: def.name,
    description: def.description,
    role: def.role,
    system_prompt: def.systemPrompt,
    provider: def.provider,
    model: def.model,
    deployment: def.deployment,
    temperature: def.temperature,
    max_tokens: def.maxTokens,
    output_schema: def.outputSchema,
    capabilities: def.capabilities,
    built_in: def.builtIn,
    created_at: def.createdAt,
    updated_at: def.updatedAt,
    etag: def.etag,
  };
  return Object.fromEntries(Object.entries(wire).filter(([, v]) => v !== undefined));
}
