/**
 * The one route table of the HTTP API. `functions/` registers its triggers from it and openapi.ts
 * documents it, so the documentation and the registrations cannot drift apart (a test checks every
 * registered HTTP trigger against the document). Schemas are named, not imported: registering the
 * functions must not load zod and the schemas (cold start); openapi.ts resolves the names.
 */
import { CONVERSATION_ROUTES } from './conversations-routes';
import { RUN_ROUTES } from './run-routes';
import type { SchemaName } from './schemas';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteResponse {
  description: string;
  /** The body's schema (a key of NAMED_SCHEMAS); none for bodiless or non-JSON responses. */
  schema?: SchemaName;
  /** Default application/json. */
  contentType?: string;
  headers?: Record<string, string>;
}

export interface RouteSpec {
  /** The function name it is registered under. */
  name: string;
  method: Method;
  /** The Functions route template, without the `api` prefix. */
  route: string;
  summary: string;
  description?: string;
  tag: string;
  /** Descriptions of the path parameters (each `{name}` in the route). */
  params?: Record<string, string>;
  requestHeaders?: { name: string; description: string }[];
  request?: { schema: SchemaName; required: boolean; contentType?: string };
  responses: Record<number, RouteResponse>;
  /** Statuses answered with application/problem+json. */
  problems: number[];
}

export const API_TITLE = 'agent-functions API';
export const API_VERSION = '1.0.0';

/** host.json `extensions.http.routePrefix`. */
export const ROUTE_PREFIX = 'api';

const MODEL_PROBLEMS = [422, 429, 500, 502, 503, 504];
const ETAG = 'Entity tag of the stored definition (quoted); send it back in If-Match';
const WORKFLOW_ETAG = 'Entity tag of this version (quoted); send it back in If-Match to add the next one';

export const ROUTES = {
  health: {
    name: 'health',
    method: 'GET',
    route: 'health',
    summary: 'Liveness',
    tag: 'system',
    responses: { 200: { description: 'The app is up', schema: 'Health' } },
    problems: [],
  },
  startOrchestration: {
    name: 'startOrchestration',
    method: 'POST',
    route: 'orchestrators/{orchestratorName}',
    summary: 'Start an orchestration',
    description: 'Starts any orchestration by name with the JSON body as its input.',
    tag: 'orchestrations',
    params: { orchestratorName: 'The orchestration to start, e.g. `helloSequence`' },
    request: { schema: 'OrchestrationInput', required: false },
    responses: {
      202: {
        description: 'Started; follow it with the URLs returned (and the Location header)',
        schema: 'OrchestrationStarted',
        headers: { location: 'The status query URL' },
      },
    },
    problems: [500],
  },
  executeAgent: {
    name: 'executeAgent',
    method: 'POST',
    route: 'agents/execute',
    summary: 'Run an agent task',
    description: 'Runs one agent on a prompt and answers with its result, token usage and cost.',
    tag: 'agents',
    request: { schema: 'ExecuteRequest', required: true },
    responses: { 200: { description: 'The agent result', schema: 'AgentResult' } },
    problems: [400, ...MODEL_PROBLEMS],
  },
  streamAgent: {
    name: 'streamAgent',
    method: 'POST',
    route: 'agents/stream',
    summary: 'Run an agent task, streaming its output (SSE)',
    description:
      'Server-Sent Events, each with an `id:`. `event: delta` with `data: {"delta": "..."}` (StreamDelta) ' +
      'per piece of output, then one `event: result` with the AgentResult (usage and cost included), or ' +
      '`event: error` with a Problem if the run fails after the stream started. Failures before the first ' +
      'delta are answered with their status and problem+json instead.',
    tag: 'agents',
    request: { schema: 'ExecuteRequest', required: true },
    responses: { 200: { description: 'An event stream', contentType: 'text/event-stream' } },
    problems: [400, ...MODEL_PROBLEMS],
  },
  agentCapabilities: {
    name: 'agentCapabilities',
    method: 'GET',
    route: 'agents/capabilities',
    summary: 'List the agents that can be run and their capabilities',
    tag: 'agents',
    responses: { 200: { description: 'The agents', schema: 'Capabilities' } },
    problems: [500],
  },
  listAgents: {
    name: 'listAgents',
    method: 'GET',
    route: 'v1/agents',
    summary: 'List agent definitions (built-in and custom)',
    tag: 'registry',
    responses: { 200: { description: 'Every agent', schema: 'AgentList' } },
    problems: [500],
  },
  createAgent: {
    name: 'createAgent',
    method: 'POST',
    route: 'v1/agents',
    summary: 'Create a custom agent',
    tag: 'registry',
    request: { schema: 'AgentDefinitionRequest', required: true },
    responses: {
      201: {
        description: 'Created',
        schema: 'AgentDefinition',
        headers: { location: 'The URL of the new agent', etag: ETAG },
      },
    },
    problems: [400, 409, 500],
  },
  getAgent: {
    name: 'getAgent',
    method: 'GET',
    route: 'v1/agents/{id}',
    summary: 'Read an agent definition',
    tag: 'registry',
    params: { id: 'Agent id (a built-in also by its name)' },
    responses: { 200: { description: 'The agent', schema: 'AgentDefinition', headers: { etag: ETAG } } },
    problems: [404, 500],
  },
  updateAgent: {
    name: 'updateAgent',
    method: 'PUT',
    route: 'v1/agents/{id}',
    summary: 'Replace a custom agent definition',
    description: 'With If-Match, the update only applies over the version the client read (else 412).',
    tag: 'registry',
    params: { id: 'Agent id' },
    requestHeaders: [{ name: 'If-Match', description: 'The ETag the client read' }],
    request: { schema: 'AgentDefinitionRequest', required: true },
    responses: { 200: { description: 'Updated', schema: 'AgentDefinition', headers: { etag: ETAG } } },
    problems: [400, 404, 409, 412, 500],
  },
  deleteAgent: {
    name: 'deleteAgent',
    method: 'DELETE',
    route: 'v1/agents/{id}',
    summary: 'Delete a custom agent',
    tag: 'registry',
    params: { id: 'Agent id' },
    responses: { 204: { description: 'Deleted' } },
    problems: [404, 409, 500],
  },
  listWorkflows: {
    name: 'listWorkflows',
    method: 'GET',
    route: 'v1/workflows',
    summary: 'List workflows (built-in templates and the latest version of each stored one)',
    tag: 'workflows',
    responses: { 200: { description: 'Every workflow', schema: 'WorkflowList' } },
    problems: [500],
  },
  createWorkflow: {
    name: 'createWorkflow',
    method: 'POST',
    route: 'v1/workflows',
    summary: 'Store a new workflow (its first version)',
    description:
      'The body is JSON, or YAML with Content-Type application/yaml or text/yaml. The definition is ' +
      'validated in full (agents, built-in or custom, step references, cycles, templates); a 400 lists ' +
      'every violation with its path. `version` defaults to "1".',
    tag: 'workflows',
    request: { schema: 'WorkflowDefinitionRequest', required: true },
    responses: {
      201: {
        description: 'Created',
        schema: 'Workflow',
        headers: { location: 'The URL of the new workflow', etag: WORKFLOW_ETAG },
      },
    },
    problems: [400, 409, 500],
  },
  getWorkflow: {
    name: 'getWorkflow',
    method: 'GET',
    route: 'v1/workflows/{id}',
    summary: 'Read a workflow: the latest version, or the one in `?version=`',
    description:
      'Query parameter `version` (optional): the version to read; without it, the latest. The answer ' +
      'lists every version in `versions`. Built-in templates are readable by id.',
    tag: 'workflows',
    params: { id: 'Workflow id (a built-in template id too)' },
    responses: { 200: { description: 'The workflow', schema: 'Workflow', headers: { etag: WORKFLOW_ETAG } } },
    problems: [404, 500],
  },
  updateWorkflow: {
    name: 'updateWorkflow',
    method: 'PUT',
    route: 'v1/workflows/{id}',
    summary: 'Store a new version of a workflow',
    description:
      'Adds a version, which becomes the latest; stored versions never change (runs pin theirs). Without ' +
      '`version` in the body the next whole number is taken. JSON or YAML, validated as on POST; a body ' +
      '`id` must match the path. With If-Match, only over the latest version the client read (else 412). ' +
      'Repeating the same version with the same content answers it again; with other content it is a ' +
      '409 (CATALOG.WORKFLOW_VERSION_EXISTS). Built-in templates cannot be changed (409 WORKFLOW.BUILTIN).',
    tag: 'workflows',
    params: { id: 'Workflow id' },
    requestHeaders: [{ name: 'If-Match', description: 'The ETag of the latest version the client read' }],
    request: { schema: 'WorkflowDefinitionRequest', required: true },
    responses: {
      200: {
        description: 'The stored version',
        schema: 'Workflow',
        headers: { etag: WORKFLOW_ETAG, 'content-location': 'The URL of this version' },
      },
    },
    problems: [400, 404, 409, 412, 500],
  },
  deleteWorkflow: {
    name: 'deleteWorkflow',
    method: 'DELETE',
    route: 'v1/workflows/{id}',
    summary: 'Delete a workflow, every version',
    description:
      'Runs already started keep the definition they pinned. Built-in templates cannot be deleted (409).',
    tag: 'workflows',
    params: { id: 'Workflow id' },
    responses: { 204: { description: 'Deleted' } },
    problems: [404, 409, 500],
  },
  openApiDocument: {
    name: 'openApiDocument',
    method: 'GET',
    route: 'openapi.json',
    summary: 'This OpenAPI 3.1 document',
    tag: 'system',
    responses: { 200: { description: 'The OpenAPI document' } },
    problems: [],
  },
  apiDocs: {
    name: 'apiDocs',
    method: 'GET',
    route: 'docs',
    summary: 'API documentation (HTML)',
    tag: 'system',
    responses: { 200: { description: 'The documentation page', contentType: 'text/html' } },
    problems: [],
  },
  ...RUN_ROUTES,
  ...CONVERSATION_ROUTES,
} satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof ROUTES;

/** The options `app.http` needs for a route (typed loosely so src/ stays free of Functions types). */
export function httpOptions(spec: RouteSpec): { methods: Method[]; route: string; authLevel: 'anonymous' } {
  return { methods: [spec.method], route: spec.route, authLevel: 'anonymous' };
}

/** `v1/agents/{id:int}` → `/api/v1/agents/{id}` (OpenAPI paths carry no constraints). */
export function openApiPath(route: string, prefix = ROUTE_PREFIX): string {
  const path = route.replace(/^\/+/, '').replace(/\{\*?([^}:?=]+)[^}]*\}/g, '{$1}');
  return `/${prefix ? `${prefix}/` : ''}${path}`;
}
