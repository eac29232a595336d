/** The registry use cases (/api/v1/agents) over the in-memory catalog: CRUD, etags, built-ins. */
import type { AgentService } from '../../src/agents/types';
import type { ApiDeps } from '../../src/api/agents';
import { answer } from '../../src/api/http';
import { createAgent, deleteAgent, getAgent, listAgents, updateAgent } from '../../src/api/registry';
import { agentDefinitionSchema } from '../../src/api/schemas';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';

let deps: ApiDeps;
beforeEach(() => {
  // The registry reads built-ins from the agent catalog and custom agents from the store only.
  deps = { agents: {} as AgentService, catalog: new MemoryCatalogStore() };
});

describe('registry', () => {
  const def = {
    name: 'Code Reviewer',
    role: 'reviewer',
    system_prompt: 'Review {{ language }}.',
    capabilities: ['review'],
  };

  it('creates (201, Location, ETag), reads, lists', async () => {
    const created = await createAgent(deps, def);
    expect(created.status).toBe(201);
    expect(created.headers?.location).toBe('/api/v1/agents/code-reviewer');
    const wire = agentDefinitionSchema.parse(created.json);
    expect(created.headers?.etag).toBe(`"${wire.etag}"`);
    expect(wire).toMatchObject({
      id: 'code-reviewer',
      system_prompt: 'Review {{ language }}.',
      built_in: false,
    });
    expect((await getAgent(deps, 'code-reviewer')).json).toEqual(created.json);
    const list = (await listAgents(deps)).json as { id: string }[];
    expect(list.map((a) => a.id)).toEqual([
      'architect',
      'builder',
      'validator',
      'scribe',
      'echo',
      'code-reviewer',
    ]);
    for (const a of list) agentDefinitionSchema.parse(a);
  });

  it('conflicts, missing agents and stale etags', async () => {
    const created = await createAgent(deps, def);
    await expect(createAgent(deps, def)).rejects.toMatchObject({ code: 'CATALOG.AGENT_EXISTS', status: 409 });
    await expect(getAgent(deps, 'nobody')).rejects.toMatchObject({
      code: 'CATALOG.AGENT_NOT_FOUND',
      status: 404,
    });
    const etag = created.headers!.etag!;
    const updated = await updateAgent(deps, 'code-reviewer', { ...def, description: 'v2' }, etag);
    expect(updated).toMatchObject({ status: 200, json: { description: 'v2' } });
    expect(updated.headers?.etag).not.toBe(etag);
    const stale = await answer(() => updateAgent(deps, 'code-reviewer', { ...def, description: 'v3' }, etag));
    expect(stale).toMatchObject({ status: 412, json: { code: 'CATALOG.ETAG_MISMATCH' } });
    await expect(updateAgent(deps, 'nobody', def)).rejects.toMatchObject({ status: 404 });
    await expect(updateAgent(deps, 'code-reviewer', { ...def, id: 'other' })).rejects.toMatchObject({
      status: 400,
    });
  });

  it('built-ins are readable but not modifiable', async () => {
    expect((await getAgent(deps, 'architect')).json).toMatchObject({ id: 'architect', built_in: true });
    expect((await getAgent(deps, 'Architect')).json).toMatchObject({ id: 'architect' });
    await expect(createAgent(deps, { ...def, id: 'architect' })).rejects.toMatchObject({
      code: 'AGENT.BUILTIN',
      status: 409,
    });
    await expect(updateAgent(deps, 'architect', def)).rejects.toMatchObject({
      code: 'AGENT.BUILTIN',
      status: 409,
    });
    await expect(deleteAgent(deps, 'scribe')).rejects.toMatchObject({ code: 'AGENT.BUILTIN', status: 409 });
  });

  it('deletes: 204, then 404', async () => {
    await createAgent(deps, def);
    expect(await deleteAgent(deps, 'code-reviewer')).toEqual({ status: 204 });
    await expect(deleteAgent(deps, 'code-reviewer')).rejects.toMatchObject({ status: 404 });
  });

  it('validates definitions, listing every violation', async () => {
    const res = await answer(() => createAgent(deps, { name: '', system_prompt: '', temperature: 5 }));
    expect(res.status).toBe(400);
    expect((res.json as { violations: unknown[] }).violations.length).toBeGreaterThanOrEqual(3);
  });
});
