/**
 * The workflow registry (/api/v1/workflows): built-in templates are listed and readable but never
 * modifiable (409 WORKFLOW.BUILTIN); stored workflows are versioned in the CatalogStore. A version never
 * changes once stored: PUT adds a new one (the latest), and a run pins the version it started with.
 * Definitions are validated in full (validate.ts) against the agents that exist, built-in and custom,
 * and every violation is listed with its path. Bodies are JSON, or YAML with a YAML content type.
 */
import { builtInAgents, findBuiltIn } from '../agents/catalog';
import { ConflictError, NotFoundError, ValidationError } from '../errors';
import type { CatalogStore, StoredWorkflow } from '../store/catalog';
import { loadWorkflowText, type WorkflowDefinition } from '../workflows/definition';
import { invalidDefinition } from '../workflows/errors';
import { builtInWorkflows, findBuiltInWorkflow } from '../workflows/templates';
import { validateWorkflow } from '../workflows/validate';
import type { ApiDeps } from './agents';
import { etagHeader, parseIfMatch, parseJsonBody, type ApiResponse } from './http';

export const WORKFLOWS_PATH = '/api/v1/workflows';

/** Fields the API adds to a definition it answers with; sent back in a body, they are ignored. */
const READ_ONLY = ['builtIn', 'built_in', 'createdAt', 'created_at', 'etag', 'latest', 'versions'];

/** `application/yaml`, `text/yaml`, and their `x-` forms, with or without parameters. */
export function isYamlContentType(contentType: string | null | undefined): boolean {
  return /^\s*(application|text)\/(x-)?yaml\s*(;|$)/i.test(contentType ?? '');
}

/**
 * A request body as a plain value: YAML when the content type says so (a syntax error is a 400
 * WORKFLOW.INVALID_DEFINITION with its line), else JSON (REQUEST.MALFORMED_JSON); empty is no body.
 */
export function parseDefinitionBody(text: string, contentType?: string | null): unknown {
  if (!isYamlContentType(contentType)) return parseJsonBody(text);
  return text.trim() === '' ? undefined : loadWorkflowText(text, { format: 'yaml' });
}

function isObject(body: unknown): body is Record<string, unknown> {
  return typeof body === 'object' && body !== null && !Array.isArray(body);
}

/** A copy of the body without the read-only fields (a non-object is returned as it is). */
function withoutReadOnly(body: unknown): unknown {
  if (!isObject(body)) return body;
  return Object.fromEntries(Object.entries(body).filter(([key]) => !READ_ONLY.includes(key)));
}

const notFound = (id: string, version?: string): NotFoundError =>
  new NotFoundError(
    'WORKFLOW.NOT_FOUND',
    version === undefined ? `No workflow with id '${id}'.` : `Workflow '${id}' has no version '${version}'.`,
  );

function assertNotBuiltIn(id: string): void {
  if (findBuiltInWorkflow(id)) {
    throw new ConflictError(
      'WORKFLOW.BUILTIN',
      `'${id}' is a built-in workflow: it can be read and run but not changed or deleted; ` +
        'store a copy under another id instead.',
    );
  }
}

/**
 * The full check of a definition (an object) against the agents that exist now: built-ins by id or
 * name, custom agents by id or name (case-insensitive, as the agent runner resolves them). Returns the
 * normalized definition; throws ValidationError (WORKFLOW.INVALID_DEFINITION) listing every problem.
 * Runs of inline definitions are checked with it too.
 */
export async function validateDefinition(catalog: CatalogStore, raw: unknown): Promise<WorkflowDefinition> {
  // validateWorkflow would read a string as YAML text: a JSON string body is not a definition.
  if (typeof raw === 'string') throw invalidDefinition([{ path: '', message: 'must be an object' }]);
  const custom = (await catalog.listAgents()).filter((a) => !findBuiltIn(a.id));
  const keys = new Set(custom.flatMap((a) => [a.id.toLowerCase(), a.name.toLowerCase()]));
  return validateWorkflow(raw, {
    knownAgent: (name) => findBuiltIn(name) !== undefined || keys.has(name.trim().toLowerCase()),
    agentNames: [...builtInAgents().map((a) => a.id), ...custom.map((a) => a.id)],
  });
}

type WorkflowWire = WorkflowDefinition & {
  builtIn: boolean;
  latest: boolean;
  createdAt?: string;
  etag?: string;
  versions?: string[];
};

const builtInWire = (def: WorkflowDefinition): WorkflowWire => ({ ...def, builtIn: true, latest: true });

const storedWire = (w: StoredWorkflow): WorkflowWire => ({
  ...w.definition,
  builtIn: false,
  latest: w.latest,
  createdAt: w.createdAt,
  etag: w.etag,
});

const location = (id: string): string => `${WORKFLOWS_PATH}/${encodeURIComponent(id)}`;

/**
 * The definition a run starts from: a built-in template or a stored workflow, the latest version or
 * the one given. Throws NotFoundError (WORKFLOW.NOT_FOUND). The run keeps this definition: deleting
 * or versioning the workflow later never changes a run that has started.
 */
export async function resolveWorkflow(
  catalog: CatalogStore,
  id: string,
  version?: string,
): Promise<WorkflowDefinition> {
  const builtIn = findBuiltInWorkflow(id);
  if (builtIn) {
    if (version !== undefined && version !== builtIn.version) throw notFound(id, version);
    return builtIn;
  }
  const stored = await catalog.getWorkflow(id, version);
  if (!stored) throw notFound(id, version);
  return stored.definition;
}

/** GET /api/v1/workflows: the built-in templates, then the latest version of each stored workflow. */
export async function listWorkflows(deps: ApiDeps): Promise<ApiResponse> {
  const stored = await deps.catalog.listWorkflows();
  return {
    status: 200,
    json: [
      ...builtInWorkflows().map(builtInWire),
      ...stored.filter((w) => !findBuiltInWorkflow(w.definition.id)).map(storedWire),
    ],
  };
}

/** GET /api/v1/workflows/{id}[?version=v]: the latest version (or the one asked for), with every version. */
export async function getWorkflow(deps: ApiDeps, id: string, version?: string | null): Promise<ApiResponse> {
  const wanted = version?.trim() || undefined;
  const builtIn = findBuiltInWorkflow(id);
  if (builtIn) {
    if (wanted !== undefined && wanted !== builtIn.version) throw notFound(id, wanted);
    return { status: 200, json: { ...builtInWire(builtIn), versions: [builtIn.version] } };
  }
  const all = await deps.catalog.listWorkflowVersions(id);
  if (!all.length) throw notFound(id);
  const found = wanted === undefined ? all[all.length - 1] : all.find((w) => w.definition.version === wanted);
  if (!found) throw notFound(id, wanted);
  return {
    status: 200,
    headers: etagHeader(found.etag),
    json: { ...storedWire(found), versions: all.map((w) => w.definition.version) },
  };
}

/** POST /api/v1/workflows → 201 with Location and ETag: the first version (default '1'). */
export async function createWorkflow(deps: ApiDeps, body: unknown): Promise<ApiResponse> {
  const def = await validateDefinition(deps.catalog, withoutReadOnly(body));
  assertNotBuiltIn(def.id);
  const created = await deps.catalog.createWorkflow(def);
  return {
    status: 201,
    headers: { location: location(def.id), ...etagHeader(created.etag) },
    json: storedWire(created),
  };
}

/** One more than the greatest whole-number version (versions that are not whole numbers aside). */
function nextVersion(versions: StoredWorkflow[]): string {
  const numbers = versions.map((w) => w.definition.version).filter((v) => /^\d+$/.test(v));
  return String(Math.max(0, ...numbers.map(Number)) + 1);
}

/**
 * PUT /api/v1/workflows/{id}: stores a new version, which becomes the latest. Without a `version` in
 * the body the next whole number is taken. With If-Match, only over the latest version the client
 * read (else 412). Repeating a PUT of a version with the same content answers it again (idempotent);
 * the same version with other content is a 409. The id comes from the path (a body id must agree).
 */
export async function updateWorkflow(
  deps: ApiDeps,
  id: string,
  body: unknown,
  ifMatch?: string | null,
): Promise<ApiResponse> {
  assertNotBuiltIn(id);
  if (isObject(body) && body.id !== undefined && body.id !== id) {
    throw new ValidationError([{ path: 'id', message: `must match the id in the path ('${id}')` }]);
  }
  const raw = withoutReadOnly(body);
  if (isObject(raw)) {
    raw.id = id;
    if (raw.version === undefined) {
      const versions = await deps.catalog.listWorkflowVersions(id);
      if (!versions.length) throw notFound(id);
      raw.version = nextVersion(versions);
    }
  }
  const def = await validateDefinition(deps.catalog, raw);
  const stored = await deps.catalog.putWorkflowVersion(def, parseIfMatch(ifMatch));
  return {
    status: 200,
    headers: {
      'content-location': `${location(id)}?version=${encodeURIComponent(def.version)}`,
      ...etagHeader(stored.etag),
    },
    json: storedWire(stored),
  };
}

/** DELETE /api/v1/workflows/{id} → 204: every version (runs keep the definition they pinned). */
export async function deleteWorkflow(deps: ApiDeps, id: string): Promise<ApiResponse> {
  assertNotBuiltIn(id);
  if (!(await deps.catalog.deleteWorkflow(id))) throw notFound(id);
  return { status: 204 };
}
