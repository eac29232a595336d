/** The OpenAPI document (3.1, from the route table and the zod schemas) and the docs page. */
import * as vm from 'node:vm';
import { docsHtml } from '../../src/api/docs';
import { buildOpenApiDocument, openApiJson } from '../../src/api/openapi';
import { httpOptions, openApiPath, ROUTES } from '../../src/api/routes';
import { NAMED_SCHEMAS } from '../../src/api/schemas';

type Json = Record<string, any>;
const doc: Json = buildOpenApiDocument();

function refsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refsIn(v, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

it('is an OpenAPI 3.1.0 document with info, paths and components', () => {
  expect(doc.openapi).toBe('3.1.0');
  expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
  expect(Object.keys(doc.components.schemas).sort()).toEqual(Object.keys(NAMED_SCHEMAS).sort());
  expect(JSON.parse(openApiJson())).toEqual(doc);
});

it('documents every route of the table, with the health and orchestration routes', () => {
  for (const spec of Object.values(ROUTES)) {
    const op = doc.paths[openApiPath(spec.route)]?.[spec.method.toLowerCase()];
    expect(op).toMatchObject({ operationId: spec.name, summary: spec.summary, tags: [spec.tag] });
  }
  expect(Object.keys(doc.paths).sort()).toEqual([
    '/api/agents/capabilities',
    '/api/agents/execute',
    '/api/agents/stream',
    '/api/agents/{name}/run',
    '/api/agents/{name}/run/stream',
    '/api/conversations/{id}',
    '/api/docs',
    '/api/health',
    '/api/openapi.json',
    '/api/orchestrators/{orchestratorName}',
    '/api/v1/agents',
    '/api/v1/agents/broadcast',
    '/api/v1/agents/{id}',
    '/api/v1/agents/{id}/message',
    '/api/v1/agents/{id}/messages',
    '/api/v1/monitoring/metrics',
    '/api/v1/runs',
    '/api/v1/runs/{id}',
    '/api/v1/runs/{id}/approval',
    '/api/v1/runs/{id}/cancel',
    '/api/v1/runs/{id}/events',
    '/api/v1/runs/{id}/steps/{stepId}/output',
    '/api/v1/workflows',
    '/api/v1/workflows/{id}',
  ]);
  expect(Object.keys(doc.paths['/api/v1/agents/{id}']).sort()).toEqual(['delete', 'get', 'put']);
});

it('declares every path parameter and has unique operation ids', () => {
  const ids: string[] = [];
  for (const [path, ops] of Object.entries<Json>(doc.paths)) {
    const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const op of Object.values<Json>(ops)) {
      ids.push(op.operationId);
      const declared = (op.parameters ?? []).filter((p: Json) => p.in === 'path').map((p: Json) => p.name);
      expect(declared).toEqual(inPath);
      expect(Object.keys(op.responses).length).toBeGreaterThan(0);
    }
  }
  expect(new Set(ids).size).toBe(ids.length);
});

it('resolves every $ref, and carries no $schema or $id inside', () => {
  const refs = refsIn(doc);
  expect(refs.length).toBeGreaterThan(10);
  for (const ref of refs) {
    expect(ref).toMatch(/^#\/components\/schemas\//);
    expect(doc.components.schemas[ref.split('/').pop()!]).toBeDefined();
  }
  expect(openApiJson()).not.toMatch(/"\$schema"|"\$id"/);
});

it('describes the execute request with its limits, defaults, aliases and examples', () => {
  const s = doc.components.schemas.ExecuteRequest;
  expect(s.required).toEqual(['agent_type', 'prompt']);
  expect(s.properties.prompt).toMatchObject({ type: 'string', minLength: 10, maxLength: 10000 });
  expect(s.properties.max_tokens).toMatchObject({
    type: 'integer',
    minimum: 100,
    maximum: 32000,
    default: 4000,
  });
  expect(s.properties.temperature).toMatchObject({ minimum: 0, maximum: 2, default: 0.7 });
  expect(s.properties.agent_type.description).toContain('agentType');
  expect(s.example).toMatchObject({ agent_type: 'Architect' });
  const execute = doc.paths['/api/agents/execute'].post;
  expect(execute.requestBody.content['application/json'].schema).toEqual({
    $ref: '#/components/schemas/ExecuteRequest',
  });
  expect(execute.responses['200'].content['application/json'].schema).toEqual({
    $ref: '#/components/schemas/AgentResult',
  });
  expect(execute.responses['429'].headers['retry-after']).toBeDefined();
  expect(execute.responses['400'].content['application/problem+json'].schema).toEqual({
    $ref: '#/components/schemas/Problem',
  });
  expect(doc.paths['/api/agents/stream'].post.responses['200'].content['text/event-stream']).toBeDefined();
  expect(doc.components.schemas.AgentResult.required).toEqual(
    expect.arrayContaining([
      'agent_type',
      'output',
      'token_usage',
      'model',
      'duration_ms',
      'metadata',
      'timestamp',
      'cost',
    ]),
  );
});

it('documents the registry: If-Match, ETag, Location, 412 and 409', () => {
  const put = doc.paths['/api/v1/agents/{id}'].put;
  expect(put.parameters.map((p: Json) => `${p.in}:${p.name}`)).toEqual(['path:id', 'header:If-Match']);
  expect(Object.keys(put.responses).sort()).toEqual(['200', '400', '404', '409', '412', '500']);
  expect(Object.keys(doc.paths['/api/v1/agents'].post.responses['201'].headers).sort()).toEqual([
    'etag',
    'location',
  ]);
  expect(doc.paths['/api/v1/agents/{id}'].delete.responses['204'].content).toBeUndefined();
  expect(doc.components.schemas.AgentDefinitionRequest.properties.system_prompt).toBeDefined();
});

it('turns Functions route templates into OpenAPI paths and registration options', () => {
  expect(openApiPath('v1/agents/{id:int}')).toBe('/api/v1/agents/{id}');
  expect(openApiPath('/files/{*rest}')).toBe('/api/files/{rest}');
  expect(openApiPath('x', '')).toBe('/x');
  expect(httpOptions(ROUTES.updateAgent)).toEqual({
    methods: ['PUT'],
    route: 'v1/agents/{id}',
    authLevel: 'anonymous',
  });
});

describe('docs page', () => {
  const html = docsHtml();

  it('is self-contained: no external scripts, styles or fonts', () => {
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/@import|url\(/);
  });

  it('renders the document with its own script', async () => {
    const root = { innerHTML: '', textContent: '' };
    const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
    let fetched = '';
    vm.runInNewContext(script, {
      document: { getElementById: () => root },
      location: { pathname: '/api/docs' },
      fetch: async (url: string) => {
        fetched = url;
        return { ok: true, json: async () => JSON.parse(openApiJson()) };
      },
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(fetched).toBe('/api/openapi.json');
    for (const text of [
      '/api/agents/execute',
      '/api/v1/agents/{id}',
      'If-Match',
      'id="schema-AgentResult"',
      'Architect',
    ])
      expect(root.innerHTML).toContain(text);
    expect(root.innerHTML).not.toContain('<script');
  });

  it('says so when the document cannot be loaded', async () => {
    const root = { innerHTML: '', textContent: '' };
    const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
    vm.runInNewContext(script, {
      document: { getElementById: () => root },
      location: { pathname: '/api/docs/' },
      fetch: async () => ({ ok: false, status: 500 }),
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(root.textContent).toContain('HTTP 500');
  });
});
