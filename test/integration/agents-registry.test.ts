/**
 * The agent registry (/api/v1/agents) over real HTTP on the embedded local host, with the real
 * composition (SQLite catalog, offline model): the CRUD round trip with etags, built-in protection,
 * and a custom agent run through /api/agents/execute.
 */
import { agentDefinitionSchema } from '../../src/api/schemas';
import { startProjectHost, type ProjectHost } from '../helpers/project-host';

const prompt = 'Review this pull request: it adds retries with exponential backoff to the HTTP client';

let project: ProjectHost;
let base: string;

beforeAll(async () => {
  project = await startProjectHost('agents-registry');
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

describe('/api/v1/agents registry', () => {
  const def = {
    name: 'Code Reviewer',
    description: 'Reviews pull requests',
    role: 'reviewer',
    system_prompt: 'You review {{ language | default("TypeScript") }} code for bugs.',
    temperature: 0.2,
    capabilities: ['code-review'],
  };

  it('creates, reads, updates with If-Match, runs and deletes a custom agent', async () => {
    const created = await send('POST', '/api/v1/agents', def);
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/api/v1/agents/code-reviewer');
    const etag1 = created.headers.get('etag')!;
    expect(agentDefinitionSchema.parse(await created.json())).toMatchObject({
      id: 'code-reviewer',
      built_in: false,
    });

    expect((await problemOf(await send('POST', '/api/v1/agents', def), 409)).code).toBe(
      'CATALOG.AGENT_EXISTS',
    );

    const read = await fetch(`${base}/api/v1/agents/code-reviewer`);
    expect(read.headers.get('etag')).toBe(etag1);
    expect(await read.json()).toMatchObject({ name: 'Code Reviewer', system_prompt: def.system_prompt });

    const updated = await send(
      'PUT',
      '/api/v1/agents/code-reviewer',
      { ...def, description: 'v2' },
      { 'if-match': etag1 },
    );
    expect(updated.status).toBe(200);
    expect(updated.headers.get('etag')).not.toBe(etag1);
    expect(((await updated.json()) as { description: string }).description).toBe('v2');
    const stale = await send(
      'PUT',
      '/api/v1/agents/code-reviewer',
      { ...def, description: 'v3' },
      { 'if-match': etag1 },
    );
    expect((await problemOf(stale, 412)).code).toBe('CATALOG.ETAG_MISMATCH');

    const listed = (await (await fetch(`${base}/api/v1/agents`)).json()) as { id: string }[];
    expect(listed.map((a) => a.id)).toContain('code-reviewer');

    const run = await send('POST', '/api/agents/execute', {
      agent_type: 'code-reviewer',
      prompt,
      variables: { language: 'Go' },
    });
    expect(run.status).toBe(200);
    expect(await run.json()).toMatchObject({
      agent_type: 'Code Reviewer',
      metadata: { agent_id: 'code-reviewer' },
    });

    expect((await send('DELETE', '/api/v1/agents/code-reviewer')).status).toBe(204);
    await problemOf(await send('DELETE', '/api/v1/agents/code-reviewer'), 404);
    await problemOf(await fetch(`${base}/api/v1/agents/code-reviewer`), 404);
  });

  it('keeps built-ins readable but not modifiable', async () => {
    expect(await (await fetch(`${base}/api/v1/agents/architect`)).json()).toMatchObject({ built_in: true });
    expect((await problemOf(await send('PUT', '/api/v1/agents/architect', def), 409)).code).toBe(
      'AGENT.BUILTIN',
    );
    expect((await problemOf(await send('DELETE', '/api/v1/agents/scribe'), 409)).code).toBe('AGENT.BUILTIN');
    expect(
      (await problemOf(await send('POST', '/api/v1/agents', { ...def, name: 'Builder' }), 409)).code,
    ).toBe('AGENT.BUILTIN');
  });

  it('answers 404 for a missing agent and 400 for an invalid definition', async () => {
    await problemOf(await fetch(`${base}/api/v1/agents/nobody`), 404);
    await problemOf(await send('PUT', '/api/v1/agents/nobody', def), 404);
    const bad = await problemOf(await send('POST', '/api/v1/agents', { name: '', temperature: 9 }), 400);
    expect(bad.violations.length).toBeGreaterThanOrEqual(2);
  });
});
