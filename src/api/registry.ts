/**
 * The agent registry (/api/v1/agents): built-in agents are listed and readable but never modifiable
 * (409 AGENT.BUILTIN); custom agents live in the CatalogStore with etags for optimistic concurrency
 * (a stale If-Match → 412). Definitions are validated by the agent layer (src/agents/definition.ts).
 */
import { builtInAgents, findBuiltIn, isBuiltInName } from '../agents/catalog';
import { parseAgentDefinition, toWire } from '../agents/definition';
import { AgentError } from '../agents/errors';
import type { AgentDefinition } from '../agents/types';
import { NotFoundError, ValidationError } from '../errors';
import type { ApiDeps } from './agents';
import { etagHeader, parseIfMatch, type ApiResponse } from './http';

export const AGENTS_PATH = '/api/v1/agents';

function assertNotBuiltIn(id: string): void {
  if (isBuiltInName(id)) {
    throw new AgentError(
      'AGENT.BUILTIN',
      `'${id}' is a built-in agent: it can be read but not changed or deleted.`,
    );
  }
}

const notFound = (id: string): NotFoundError =>
  new NotFoundError('CATALOG.AGENT_NOT_FOUND', `No agent with id '${id}'.`);

function isObject(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null && !Array.isArray(body);
}

/** Built-in agents, then custom agents from the catalog (sorted by id). */
export async function allAgents(deps: ApiDeps): Promise<AgentDefinition[]> {
  const custom = await deps.catalog.listAgents();
  return [...builtInAgents(), ...custom.filter((d) => !isBuiltInName(d.id))];
}

/** GET /api/v1/agents */
export async function listAgents(deps: ApiDeps): Promise<ApiResponse> {
  return { status: 200, json: (await allAgents(deps)).map(toWire) };
}

/** GET /api/v1/agents/{id} (a built-in also by its name) */
export async function getAgent(deps: ApiDeps, id: string): Promise<ApiResponse> {
  const def = findBuiltIn(id) ?? (await deps.catalog.getAgent(id));
  if (!def) throw notFound(id);
  return { status: 200, headers: etagHeader(def.etag), json: toWire(def) };
}

/** POST /api/v1/agents → 201 with Location and ETag. */
export async function createAgent(deps: ApiDeps, body: unknown): Promise<ApiResponse> {
  const created = await deps.catalog.createAgent(parseAgentDefinition(body));
  return {
    status: 201,
    headers: { location: `${AGENTS_PATH}/${encodeURIComponent(created.id)}`, ...etagHeader(created.etag) },
    json: toWire(created),
  };
}

/**
 * PUT /api/v1/agents/{id}: replaces the whole definition; with If-Match only over the version the
 * client read. The id comes from the path (a body id, if any, must agree).
 */
export async function updateAgent(
  deps: ApiDeps,
  id: string,
  body: unknown,
  ifMatch?: string | null,
): Promise<ApiResponse> {
  assertNotBuiltIn(id);
  if (isObject(body) && body.id !== undefined && body.id !== id) {
    throw new ValidationError([{ path: 'id', message: `must match the id in the path ('${id}')` }]);
  }
  const def = parseAgentDefinition(isObject(body) ? { ...body, id } : body);
  const updated = await deps.catalog.updateAgent(def, parseIfMatch(ifMatch));
  return { status: 200, headers: etagHeader(updated.etag), json: toWire(updated) };
}

/** DELETE /api/v1/agents/{id} → 204. */
export async function deleteAgent(deps: ApiDeps, id: string): Promise<ApiResponse> {
  assertNotBuiltIn(id);
  if (!(await deps.catalog.deleteAgent(id))) throw notFound(id);
  return { status: 204 };
}
