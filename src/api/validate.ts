/**
 * Request validation: zod issues become one ValidationError that lists every violation at once (a
 * client fixes its request in one round trip, not one field per try). Alias fields (`maxTokens` for
 * `max_tokens`) are accepted and violations name the field the way the client spelled it.
 */
import type { z } from 'zod';
import type { AgentDefinition, AgentService } from '../agents/types';
import { ValidationError, type Violation } from '../errors';
import { EXECUTE_ALIASES, executeRequestSchema, type ExecuteRequest } from './schemas';

/** How many agents an unknown-agent violation names. */
const LISTED_AGENTS = 20;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Copies alias fields onto their canonical names (the canonical name wins when both are sent) and
 * remembers which spelling the client used, to name it in violations.
 */
export function normalizeAliases(
  body: Record<string, unknown>,
  aliases: Record<string, string[]>,
): { body: Record<string, unknown>; spelledAs: Map<string, string> } {
  const out = { ...body };
  const spelledAs = new Map<string, string>();
  for (const [canonical, names] of Object.entries(aliases)) {
    for (const name of names) {
      if (!(name in out)) continue;
      if (out[canonical] === undefined) {
        out[canonical] = out[name];
        spelledAs.set(canonical, name);
      }
      delete out[name];
    }
  }
  return { body: out, spelledAs };
}

/** Zod issues as violations: `max_tokens`, `context.scale`, `capabilities.0`. */
export function toViolations(error: z.ZodError, spelledAs: Map<string, string> = new Map()): Violation[] {
  return error.issues.map((issue) => {
    const [head, ...rest] = issue.path.map(String);
    const path = head === undefined ? '' : [spelledAs.get(head) ?? head, ...rest].join('.');
    return { path, message: issue.message };
  });
}

/** Parses `body` with `schema` or throws a ValidationError naming every violation. */
export function parseBody<S extends z.ZodType>(
  schema: S,
  body: unknown,
  aliases: Record<string, string[]> = {},
): z.infer<S> {
  if (!isPlainObject(body)) throw new ValidationError([{ path: '', message: 'must be a JSON object' }]);
  const { body: normalized, spelledAs } = normalizeAliases(body, aliases);
  const parsed = schema.safeParse(normalized);
  if (!parsed.success) throw new ValidationError(toViolations(parsed.error, spelledAs));
  return parsed.data;
}

export interface ValidExecuteRequest {
  request: ExecuteRequest;
  agent: AgentDefinition;
}

/**
 * Validates an agent task: the body against the schema and the agent against the AgentService, with
 * an unknown agent reported in the same list as the field violations.
 */
export async function validateExecuteRequest(
  body: unknown,
  agents: AgentService,
): Promise<ValidExecuteRequest> {
  if (!isPlainObject(body)) throw new ValidationError([{ path: '', message: 'must be a JSON object' }]);
  const { body: normalized, spelledAs } = normalizeAliases(body, EXECUTE_ALIASES);
  const parsed = executeRequestSchema.safeParse(normalized);
  const violations = parsed.success ? [] : toViolations(parsed.error, spelledAs);

  let agent: AgentDefinition | undefined;
  const name = typeof normalized.agent_type === 'string' ? normalized.agent_type.trim() : '';
  if (name !== '') {
    agent = await agents.resolve(name);
    if (!agent) {
      const known = (await agents.list()).map((a) => (a.builtIn ? a.name : a.id));
      violations.push({
        path: spelledAs.get('agent_type') ?? 'agent_type',
        message: `unknown agent '${name}' (known: ${known.slice(0, LISTED_AGENTS).join(', ')}${known.length > LISTED_AGENTS ? ', …' : ''})`,
      });
    }
  }
  if (!parsed.success || !agent) throw new ValidationError(violations);
  return { request: parsed.data, agent };
}
