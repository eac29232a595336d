/**
 * The workflow registry (/api/v1/workflows) over real HTTP on the embedded local host, with the real
 * composition (SQLite catalog): versions with ETag/If-Match, JSON and YAML bodies, validation against
 * built-in and custom agents listing every violation, and built-in templates kept read-only.
 */
import { workflowListSchema, workflowSchema } from '../../src/api/schemas';
import { startProjectHost, type ProjectHost } from '../helpers/project-host';

let project: ProjectHost;
let base: string;

beforeAll(async () => {
  project = await startProjectHost('workflows-registry');
  ({ base } = project);
});

afterAll(async () => {
  await project?.stop();
});

const send = (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) =>
  project.send(method, route, body, headers);

async function problemOf(res: Response, status: number): Promise<any> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return res.json();
}

const definition = (extra: Record<string, unknown> = {}) => ({
  id: 'reviewed-design',
  name: 'Reviewed design',
  input: { type: 'object', properties: { topic: { type: 'string' } }, required: ['topic'] },
  steps: [
    { id: 'design', kind: 'agent', agent: 'architect', prompt: 'Design {{ input.topic }}.' },
    {
      id: 'review',
      kind: 'agent',
      agent: 'Code Reviewer',
      depends_on: ['design'],
      prompt: 'Review this design:\n\n{{ steps.design.output }}',
    },
  ],
  ...extra,
});

const YAML = `# A workflow sent as YAML
id: yaml-flow
name: From YAML
version: 3
steps:
  - id: design
    kind: agent
    agent: architect
    prompt: 'Design {{ input.topic }}'
  - id: docs
    kind: agent
    agent: scribe
    depends_on: [design]
    prompt: 'Document this design: {{ steps.design.output }}'
`;

describe('/api/v1/workflows registry', () => {
  beforeAll(async () => {
    const agent = await send('POST', '/api/v1/agents', {
      name: 'Code Reviewer',
      role: 'reviewer',
      system_prompt: 'You review designs.',
      capabilities: ['code-review'],
    });
    expect(agent.status).toBe(201);
  });

  it('creates, reads, versions with If-Match, lists and deletes a workflow', async () => {
    const created = await send('POST', '/api/v1/workflows', definition());
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/api/v1/workflows/reviewed-design');
    const etag1 = created.headers.get('etag')!;
    expect(workflowSchema.parse(await created.json())).toMatchObject({
      id: 'reviewed-design',
      version: '1',
      builtIn: false,
      latest: true,
      steps: [{}, { dependsOn: ['design'] }],
    });
    expect((await problemOf(await send('POST', '/api/v1/workflows', definition()), 409)).code).toBe(
      'CATALOG.WORKFLOW_EXISTS',
    );

    const read = await fetch(`${base}/api/v1/workflows/reviewed-design`);
    expect(read.headers.get('etag')).toBe(etag1);
    expect(await read.json()).toMatchObject({ name: 'Reviewed design', versions: ['1'] });

    const v2 = await send(
      'PUT',
      '/api/v1/workflows/reviewed-design',
      definition({ version: '2', description: 'Second version' }),
      { 'if-match': etag1 },
    );
    expect(v2.status).toBe(200);
    expect(v2.headers.get('content-location')).toBe('/api/v1/workflows/reviewed-design?version=2');
    const etag2 = v2.headers.get('etag')!;
    expect(etag2).not.toBe(etag1);
    expect(await v2.json()).toMatchObject({ version: '2', description: 'Second version', latest: true });

    const stale = await send('PUT', '/api/v1/workflows/reviewed-design', definition({ version: '3' }), {
      'if-match': etag1,
    });
    expect((await problemOf(stale, 412)).code).toBe('CATALOG.ETAG_MISMATCH');
    const clash = await send('PUT', '/api/v1/workflows/reviewed-design', definition({ version: '2' }));
    expect((await problemOf(clash, 409)).code).toBe('CATALOG.WORKFLOW_VERSION_EXISTS');
    const retry = await send(
      'PUT',
      '/api/v1/workflows/reviewed-design',
      definition({ version: '2', description: 'Second version' }),
      { 'if-match': etag1 },
    );
    expect(retry.status).toBe(200);
    expect(retry.headers.get('etag')).toBe(etag2);

    const latest = await fetch(`${base}/api/v1/workflows/reviewed-design`);
    expect(latest.headers.get('etag')).toBe(etag2);
    expect(await latest.json()).toMatchObject({ version: '2', versions: ['1', '2'] });
    const pinned = await fetch(`${base}/api/v1/workflows/reviewed-design?version=1`);
    expect(pinned.headers.get('etag')).toBe(etag1);
    expect(await pinned.json()).toMatchObject({ version: '1', latest: false });
    await problemOf(await fetch(`${base}/api/v1/workflows/reviewed-design?version=9`), 404);

    const listed = workflowListSchema.parse(await (await fetch(`${base}/api/v1/workflows`)).json());
    expect(listed.find((w) => w.id === 'reviewed-design')).toMatchObject({ version: '2', builtIn: false });

    expect((await send('DELETE', '/api/v1/workflows/reviewed-design')).status).toBe(204);
    expect((await problemOf(await send('DELETE', '/api/v1/workflows/reviewed-design'), 404)).code).toBe(
      'WORKFLOW.NOT_FOUND',
    );
    await problemOf(await fetch(`${base}/api/v1/workflows/reviewed-design?version=1`), 404);
  });

  it('takes YAML bodies with a YAML content type', async () => {
    const created = await send('POST', '/api/v1/workflows', YAML, { 'content-type': 'application/yaml' });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      id: 'yaml-flow',
      version: '3',
      steps: [{}, { dependsOn: ['design'] }],
    });
    const next = await send(
      'PUT',
      '/api/v1/workflows/yaml-flow',
      YAML.replace('version: 3\n', '').replace('From YAML', 'From YAML, edited'),
      { 'content-type': 'text/yaml; charset=utf-8', 'if-match': created.headers.get('etag')! },
    );
    expect(next.status).toBe(200);
    expect(await next.json()).toMatchObject({ version: '4', name: 'From YAML, edited' });

    const bad = await problemOf(
      await send('POST', '/api/v1/workflows', 'id: [broken\nname: x', { 'content-type': 'text/yaml' }),
      400,
    );
    expect(bad.code).toBe('WORKFLOW.INVALID_DEFINITION');
    expect(bad.violations[0].message).toMatch(/not valid YAML/);
    // Without a YAML content type the body is JSON.
    expect((await problemOf(await send('POST', '/api/v1/workflows', YAML), 400)).code).toBe(
      'REQUEST.MALFORMED_JSON',
    );
  });

  it('lists every violation with its path', async () => {
    const bad = await problemOf(
      await send('POST', '/api/v1/workflows', {
        id: 'broken-flow',
        name: 'Broken',
        steps: [
          { id: 'a', kind: 'agent', agent: 'ghost', prompt: 'x' },
          { id: 'b', kind: 'agent', agent: 'echo', prompt: 'x', dependsOn: ['c'] },
          { id: 'c', kind: 'agent', agent: 'echo', prompt: 'x', dependsOn: ['b'] },
          { id: 'd', kind: 'agent', agent: 'echo', prompt: 'x', dependsOn: ['nope'] },
        ],
      }),
      400,
    );
    expect(bad.code).toBe('WORKFLOW.INVALID_DEFINITION');
    const paths = bad.violations.map((v: { path: string }) => v.path);
    expect(paths).toEqual(
      expect.arrayContaining(['steps[0].agent', 'steps[1].dependsOn', 'steps[3].dependsOn[0]']),
    );
    expect(bad.violations.find((v: { path: string }) => v.path === 'steps[0].agent').message).toContain(
      'code-reviewer',
    );
    await problemOf(await fetch(`${base}/api/v1/workflows/broken-flow`), 404);
  });

  it('keeps built-in templates readable but not modifiable, and checks ids', async () => {
    const listed = (await (await fetch(`${base}/api/v1/workflows`)).json()) as {
      id: string;
      builtIn: boolean;
    }[];
    expect(listed.filter((w) => w.builtIn).map((w) => w.id)).toEqual([
      'agent-studio-pipeline',
      'design-review-chat',
      'parallel-analysis',
    ]);
    const template = await fetch(`${base}/api/v1/workflows/design-review-chat`);
    expect(template.status).toBe(200);
    const body = (await template.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ builtIn: true, versions: ['1'] });
    const put = await send('PUT', '/api/v1/workflows/design-review-chat', { ...body, version: '2' });
    expect((await problemOf(put, 409)).code).toBe('WORKFLOW.BUILTIN');
    expect((await problemOf(await send('DELETE', '/api/v1/workflows/parallel-analysis'), 409)).code).toBe(
      'WORKFLOW.BUILTIN',
    );
    expect((await problemOf(await send('POST', '/api/v1/workflows', body), 409)).code).toBe(
      'WORKFLOW.BUILTIN',
    );

    await problemOf(await send('PUT', '/api/v1/workflows/nobody', definition({ id: 'nobody' })), 404);
    await send('POST', '/api/v1/workflows', definition({ id: 'mine' }));
    const mismatch = await problemOf(
      await send('PUT', '/api/v1/workflows/mine', definition({ id: 'theirs' })),
      400,
    );
    expect(mismatch.violations).toEqual([{ path: 'id', message: "must match the id in the path ('mine')" }]);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${base}/api/openapi.json`)).json()) as { paths: Record<string, object> };
    expect(Object.keys(doc.paths['/api/v1/workflows']!).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/api/v1/workflows/{id}']!).sort()).toEqual(['delete', 'get', 'put']);
  });
});
