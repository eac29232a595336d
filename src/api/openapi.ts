/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the route table (routes.ts) and the zod
 * schemas (schemas.ts) with zod 4's own JSON Schema output (OpenAPI 3.1 schemas are JSON Schema
 * 2020-12). Built once per process: it only depends on code.
 */
import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import { PROBLEM_CONTENT_TYPE } from './problem';
import { API_TITLE, API_VERSION, openApiPath, ROUTES, type RouteSpec } from './routes';
import { NAMED_SCHEMAS, type SchemaName } from './schemas';

type Json = Record<string, unknown>;

const componentRef = (name: string): string => `#/components/schemas/${name}`;

/** Named schemas as components (nested ones by $ref). `$schema`/`$id` do not belong in OpenAPI. */
function components(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [name, schema] of Object.entries(NAMED_SCHEMAS)) registry.add(schema, { id: name });
  const generated = z.toJSONSchema(registry, { uri: componentRef, io: 'input', unrepresentable: 'any' });
  const schemas: Record<string, Json> = {};
  for (const [name, schema] of Object.entries(generated.schemas)) {
    const { $schema: _s, $id: _i, ...rest } = schema as Json;
    schemas[name] = rest;
  }
  return schemas;
}

const schemaObject = (name: SchemaName): Json => ({ $ref: componentRef(name) });

function headerObjects(headers: Record<string, string> | undefined): Json | undefined {
  if (!headers) return undefined;
  return Object.fromEntries(
    Object.entries(headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }]),
  );
}

function operation(spec: RouteSpec): Json {
  const pathParams = [...spec.route.matchAll(/\{\*?([^}:?=]+)[^}]*\}/g)].map((m) => m[1]!);
  const parameters = [
    ...pathParams.map((name) => ({
      name,
      in: 'path',
      required: true,
      description: spec.params?.[name] ?? name,
      schema: { type: 'string' },
    })),
    ...(spec.requestHeaders ?? []).map((h) => ({
      name: h.name,
      in: 'header',
      required: false,
      description: h.description,
      schema: { type: 'string' },
    })),
  ];
  const responses: Json = {};
  for (const [status, r] of Object.entries(spec.responses)) {
    responses[status] = {
      description: r.description,
      ...(r.headers ? { headers: headerObjects(r.headers) } : {}),
      ...(status === '204'
        ? {}
        : {
            content: {
              [r.contentType ?? 'application/json']: {
                schema: r.schema ? schemaObject(r.schema) : { type: r.contentType ? 'string' : 'object' },
              },
            },
          }),
    };
  }
  for (const status of spec.problems) {
    responses[String(status)] = {
      description: STATUS_CODES[status] ?? 'Error',
      ...(status === 429 || status === 503
        ? { headers: headerObjects({ 'retry-after': 'Seconds to wait before trying again, when known' }) }
        : {}),
      content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: componentRef('Problem') } } },
    };
  }
  return {
    operationId: spec.name,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    tags: [spec.tag],
    ...(parameters.length ? { parameters } : {}),
    ...(spec.request
      ? {
          requestBody: {
            required: spec.request.required,
            content: {
              [spec.request.contentType ?? 'application/json']: { schema: schemaObject(spec.request.schema) },
            },
          },
        }
      : {}),
    responses,
  };
}

/** Builds the document (see `openApiDocument` for the cached one). */
export function buildOpenApiDocument(routes: RouteSpec[] = Object.values(ROUTES)): Json {
  const schemas = components();
  const paths: Record<string, Json> = {};
  for (const spec of routes) {
    const path = openApiPath(spec.route);
    paths[path] = { ...paths[path], [spec.method.toLowerCase()]: operation(spec) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: API_TITLE,
      version: API_VERSION,
      description:
        'Runs AI agents (Architect, Builder, Validator, Scribe, Echo and custom agents) and multi-agent ' +
        'workflows (durable orchestrations) on Azure Functions. ' +
        'Errors are RFC 9457 problem details (application/problem+json) with a stable `code`.',
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'agents', description: 'Run agents' },
      { name: 'registry', description: 'Agent definitions' },
      { name: 'workflows', description: 'Workflow definitions (versioned)' },
      { name: 'runs', description: 'Workflow runs: start, follow (SSE), approve, cancel' },
      { name: 'monitoring', description: 'Run metrics' },
      { name: 'conversations', description: 'Conversations with agents: one durable actor per conversation' },
      { name: 'messaging', description: 'Messages between agents: deliver, broadcast' },
      { name: 'orchestrations', description: 'Durable orchestrations' },
      { name: 'system', description: 'Health and documentation' },
    ],
    paths,
    components: { schemas },
  };
}

let cached: string | undefined;

/** The document as JSON text, built on first use. */
export function openApiJson(): string {
  cached ??= JSON.stringify(buildOpenApiDocument());
  return cached;
}
