/**
 * The workflow registry use cases (/api/v1/workflows) over the in-memory catalog: validation listing
 * every violation, JSON and YAML bodies, versions, ETag/If-Match, built-in templates, resolveWorkflow.
 */
import type { AgentDefinition, AgentService } from '../../src/agents/types';
import type { ApiDeps } from '../../src/api/agents';
import { answer, type ApiResponse } from '../../src/api/http';
import { workflowListSchema, workflowSchema } from '../../src/api/schemas';
import {
  createWorkflow,
  deleteWorkflow,
  getWorkflow,
  isYamlContentType,
  listWorkflows,
  parseDefinitionBody,
  resolveWorkflow,
  updateWorkflow,
  validateDefinition,
} from '../../src/api/workflows';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';
import { parseWorkflow } from '../../src/workflows/definition';
import { findBuiltInWorkflow } from '../../src/workflows/templates';

let catalog: MemoryCatalogStore;
let deps: ApiDeps;
beforeEach(() => {
  catalog = new MemoryCatalogStore();
  deps = { agents: {} as AgentService, catalog };
});

const BUILT_IN_IDS = ['agent-studio-pipeline', 'design-review-chat', 'parallel-analysis'];

const reviewer: AgentDefinition = {
  id: 'code-reviewer',
  name: 'Code Reviewer',
  description: 'Reviews code',
  role: 'reviewer',
  systemPrompt: 'You review code.',
  capabilities: ['code-review'],
  builtIn: false,
};

const def = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'review-flow',
  name: 'Review flow',
  input: { type: 'object', properties: { topic: { type: 'string' } }, required: ['topic'] },
  steps: [
    { id: 'design', kind: 'agent', agent: 'architect', prompt: 'Design {{ input.topic }}.' },
    {
      id: 'review',
      kind: 'agent',
      agent: 'builder',
      depends_on: ['design'],
      prompt: 'Review this design:\n\n{{ steps.design.output }}',
    },
  ],
  ...extra,
});

type Problem = {
  status: number;
  code: string;
  detail: string;
  violations?: { path: string; message: string }[];
};

/** The problem a failing use case answers with (as the HTTP layer sends it). */
async function problemOf(fn: () => Promise<ApiResponse>, status: number): Promise<Problem> {
  const res = await answer(fn);
  expect(res.status).toBe(status);
  expect(res.headers?.['content-type']).toBe('application/problem+json');
  return res.json as Problem;
}

const etagOf = (res: ApiResponse): string => res.headers!.etag!;

describe('list and read', () => {
  it('lists the built-in templates (marked builtIn), then the latest of each stored workflow', async () => {
    await createWorkflow(deps, def());
    await createWorkflow(deps, def({ id: 'another-flow' }));
    await updateWorkflow(deps, 'review-flow', def({ version: '2' }));
    const list = workflowListSchema.parse((await listWorkflows(deps)).json);
    expect(list.map((w) => [w.id, w.version, w.builtIn, w.latest])).toEqual([
      ...BUILT_IN_IDS.map((id) => [id, '1', true, true]),
      ['another-flow', '1', false, true],
      ['review-flow', '2', false, true],
    ]);
    expect(list[0]).not.toHaveProperty('etag');
    expect(list[3]).toMatchObject({ etag: expect.any(String), createdAt: expect.any(String) });
  });

  it('hides a stored workflow whose id a built-in template took', async () => {
    await catalog.createWorkflow(parseWorkflow(def({ id: 'parallel-analysis', name: 'Shadow' })));
    const list = (await listWorkflows(deps)).json as { id: string; name: string }[];
    expect(list.map((w) => w.id)).toEqual(BUILT_IN_IDS);
    expect((await getWorkflow(deps, 'parallel-analysis')).json).toMatchObject({ builtIn: true });
  });

  it('reads built-in templates by id, with their one version', async () => {
    for (const id of BUILT_IN_IDS) {
      const res = await getWorkflow(deps, id);
      expect(res.status).toBe(200);
      expect(res.headers).toBeUndefined();
      expect(workflowSchema.parse(res.json)).toMatchObject({
        id,
        builtIn: true,
        latest: true,
        versions: ['1'],
      });
    }
    expect((await getWorkflow(deps, 'design-review-chat', '1')).status).toBe(200);
    const missing = await problemOf(() => getWorkflow(deps, 'design-review-chat', '2'), 404);
    expect(missing).toMatchObject({ code: 'WORKFLOW.NOT_FOUND' });
    expect(missing.detail).toContain("no version '2'");
  });

  it('answers 404 WORKFLOW.NOT_FOUND for an unknown id or version', async () => {
    expect(await problemOf(() => getWorkflow(deps, 'nobody'), 404)).toMatchObject({
      code: 'WORKFLOW.NOT_FOUND',
      detail: "No workflow with id 'nobody'.",
    });
    await createWorkflow(deps, def());
    expect((await problemOf(() => getWorkflow(deps, 'review-flow', '9'), 404)).code).toBe(
      'WORKFLOW.NOT_FOUND',
    );
  });
});

describe('create', () => {
  it('answers 201 with Location and ETag, the definition normalized', async () => {
    const created = await createWorkflow(deps, def());
    expect(created.status).toBe(201);
    expect(created.headers?.location).toBe('/api/v1/workflows/review-flow');
    const wire = workflowSchema.parse(created.json);
    expect(etagOf(created)).toBe(`"${wire.etag}"`);
    expect(wire).toMatchObject({ id: 'review-flow', version: '1', builtIn: false, latest: true });
    // Aliases renamed and defaults filled in, as validateWorkflow normalizes.
    expect(wire.steps[1]).toMatchObject({ dependsOn: ['design'] });
    expect(wire.steps[1]).not.toHaveProperty('depends_on');
    const read = await getWorkflow(deps, 'review-flow');
    expect(read.json).toEqual({ ...(created.json as object), versions: ['1'] });
    expect(etagOf(read)).toBe(etagOf(created));
  });

  it('accepts custom agents by id or name, case-insensitively', async () => {
    await catalog.createAgent(reviewer);
    const steps = [
      { id: 'a', kind: 'agent', agent: 'code-reviewer', prompt: 'Review.' },
      { id: 'b', kind: 'agent', agent: 'Code Reviewer', prompt: 'Review again.' },
      { id: 'c', kind: 'agent', agent: 'ARCHITECT', prompt: 'Design.' },
    ];
    expect((await createWorkflow(deps, def({ input: undefined, steps }))).status).toBe(201);
  });

  it('lists every violation with its path: unknown agent, cycle, unknown step, unreachable step', async () => {
    await catalog.createAgent(reviewer);
    const bad = {
      id: 'Bad Id',
      name: '',
      steps: [
        { id: 'a', kind: 'agent', agent: 'ghost', prompt: 'x' },
        { id: 'b', kind: 'agent', agent: 'echo', prompt: 'x', dependsOn: ['c'] },
        { id: 'c', kind: 'agent', agent: 'echo', prompt: 'x', dependsOn: ['b'] },
        { id: 'd', kind: 'agent', agent: 'echo', prompt: 'x', dependsOn: ['nope'] },
        { id: 'e', kind: 'agent', agent: 'echo', prompt: 'x', dependsOn: ['a'] },
      ],
    };
    const p = await problemOf(() => createWorkflow(deps, bad), 400);
    expect(p.code).toBe('WORKFLOW.INVALID_DEFINITION');
    const paths = p.violations!.map((v) => v.path);
    expect(paths).toEqual(
      expect.arrayContaining(['id', 'name', 'steps[0].agent', 'steps[1].dependsOn', 'steps[3].dependsOn[0]']),
    );
    const at = (path: string) => p.violations!.filter((v) => v.path === path).map((v) => v.message);
    expect(at('steps[0].agent')[0]).toMatch(
      /unknown agent 'ghost' \(known agents: architect, .*, echo, code-reviewer\)/,
    );
    expect(at('steps[1].dependsOn').join(' ')).toMatch(/cycle: b → c/);
    expect(at('steps[3].dependsOn[0]')[0]).toContain("names 'nope'");
    expect(at('steps[4].dependsOn')[0]).toContain("step 'e' can never run");
    expect(await catalog.listWorkflows()).toEqual([]);
  });

  it('rejects bodies that are not a definition object', async () => {
    for (const body of [undefined, [], 'id: x\nname: y', 42]) {
      const p = await problemOf(() => createWorkflow(deps, body), 400);
      expect(p).toMatchObject({ code: 'WORKFLOW.INVALID_DEFINITION', violations: [{ path: '' }] });
    }
  });

  it('conflicts: an existing id (409 CATALOG.WORKFLOW_EXISTS), a built-in id (409 WORKFLOW.BUILTIN)', async () => {
    await createWorkflow(deps, def());
    expect((await problemOf(() => createWorkflow(deps, def({ version: '5' })), 409)).code).toBe(
      'CATALOG.WORKFLOW_EXISTS',
    );
    const builtIn = structuredClone(findBuiltInWorkflow('parallel-analysis')!);
    expect((await problemOf(() => createWorkflow(deps, builtIn), 409)).code).toBe('WORKFLOW.BUILTIN');
  });

  it('ignores the read-only fields of a workflow read back from the API', async () => {
    const created = await createWorkflow(deps, def());
    await deleteWorkflow(deps, 'review-flow');
    const again = await createWorkflow(deps, {
      ...(created.json as object),
      versions: ['1'],
      built_in: true,
    });
    expect(again.status).toBe(201);
    expect(again.json).toMatchObject({ builtIn: false });
    expect(etagOf(again)).not.toBe(etagOf(created));
  });
});

describe('request bodies', () => {
  const yaml = [
    'id: yaml-flow',
    'name: From YAML',
    'version: 2',
    'steps:',
    '  - id: design',
    '    kind: agent',
    '    agent: architect',
    "    prompt: 'Design {{ input.topic }}'",
    '  - id: docs',
    '    kind: agent',
    '    agent: scribe',
    '    depends_on: [design]',
    "    prompt: 'Document: {{ steps.design.output }}'",
  ].join('\n');

  it('knows the YAML content types', () => {
    for (const t of ['application/yaml', 'text/yaml', 'application/x-yaml', 'TEXT/X-YAML; charset=utf-8'])
      expect(isYamlContentType(t)).toBe(true);
    for (const t of [null, undefined, '', 'application/json', 'application/yaml-patch', 'text/plain'])
      expect(isYamlContentType(t)).toBe(false);
  });

  it('takes a YAML definition with a YAML content type (a numeric version becomes text)', async () => {
    const body = parseDefinitionBody(yaml, 'application/yaml; charset=utf-8');
    const created = await createWorkflow(deps, body);
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      id: 'yaml-flow',
      version: '2',
      steps: [{}, { dependsOn: ['design'] }],
    });
    const v3 = yaml.replace('version: 2', 'version: 3').replace('From YAML', 'From YAML, again');
    const updated = await updateWorkflow(deps, 'yaml-flow', parseDefinitionBody(v3, 'text/yaml'));
    expect(updated.json).toMatchObject({ version: '3', name: 'From YAML, again' });
  });

  it('answers bad YAML with 400 WORKFLOW.INVALID_DEFINITION and where it is', async () => {
    const p = await problemOf(
      async () => createWorkflow(deps, parseDefinitionBody('id: [x\nname: y', 'text/yaml')),
      400,
    );
    expect(p.code).toBe('WORKFLOW.INVALID_DEFINITION');
    expect(p.violations![0]!.message).toMatch(/not valid YAML.*line/);
    expect(parseDefinitionBody('  \n', 'application/yaml')).toBeUndefined();
  });

  it('reads JSON otherwise: malformed JSON is 400 REQUEST.MALFORMED_JSON, YAML text is not JSON', async () => {
    expect(parseDefinitionBody(JSON.stringify(def()), 'application/json')).toEqual(def());
    expect(parseDefinitionBody('', null)).toBeUndefined();
    for (const [text, type] of [
      ['{"id":', 'application/json'],
      [yaml, undefined],
    ] as const) {
      const parse = async (): Promise<ApiResponse> => ({
        status: 200,
        json: parseDefinitionBody(text, type),
      });
      expect((await problemOf(parse, 400)).code).toBe('REQUEST.MALFORMED_JSON');
    }
  });
});

describe('versions (PUT)', () => {
  it('adds a version with If-Match: new ETag, the latest; older ones stay readable', async () => {
    const v1 = await createWorkflow(deps, def());
    const v2 = await updateWorkflow(
      deps,
      'review-flow',
      def({ version: '2', name: 'Review flow v2' }),
      etagOf(v1),
    );
    expect(v2.status).toBe(200);
    expect(v2.headers?.['content-location']).toBe('/api/v1/workflows/review-flow?version=2');
    expect(etagOf(v2)).not.toBe(etagOf(v1));
    expect(workflowSchema.parse(v2.json)).toMatchObject({
      version: '2',
      name: 'Review flow v2',
      latest: true,
    });

    const latest = await getWorkflow(deps, 'review-flow');
    expect(latest.json).toMatchObject({ version: '2', versions: ['1', '2'], latest: true });
    expect(etagOf(latest)).toBe(etagOf(v2));
    const old = await getWorkflow(deps, 'review-flow', '1');
    expect(old.json).toMatchObject({
      version: '1',
      name: 'Review flow',
      latest: false,
      versions: ['1', '2'],
    });
    expect(etagOf(old)).toBe(etagOf(v1));
    expect((await getWorkflow(deps, 'review-flow', ' ')).json).toMatchObject({ version: '2' });
  });

  it('answers a stale If-Match with 412 CATALOG.ETAG_MISMATCH; * or none is unconditional', async () => {
    const v1 = await createWorkflow(deps, def());
    await updateWorkflow(deps, 'review-flow', def({ version: '2' }), etagOf(v1));
    const stale = await problemOf(
      () => updateWorkflow(deps, 'review-flow', def({ version: '3' }), etagOf(v1)),
      412,
    );
    expect(stale.code).toBe('CATALOG.ETAG_MISMATCH');
    // An old version's etag is stale too: If-Match names the latest version the client read.
    const oldEtag = etagOf(await getWorkflow(deps, 'review-flow', '1'));
    await problemOf(() => updateWorkflow(deps, 'review-flow', def({ version: '3' }), oldEtag), 412);
    expect((await updateWorkflow(deps, 'review-flow', def({ version: '3' }), '*')).status).toBe(200);
    expect((await updateWorkflow(deps, 'review-flow', def({ version: '4' }), null)).status).toBe(200);
  });

  it('repeating a version with the same content answers it again; other content is 409', async () => {
    const v1 = await createWorkflow(deps, def());
    const v2 = await updateWorkflow(deps, 'review-flow', def({ version: '2' }), etagOf(v1));
    const again = await updateWorkflow(deps, 'review-flow', def({ version: '2' }), etagOf(v1));
    expect(again).toEqual(v2);
    const p = await problemOf(
      () => updateWorkflow(deps, 'review-flow', def({ version: '2', name: 'Other' })),
      409,
    );
    expect(p.code).toBe('CATALOG.WORKFLOW_VERSION_EXISTS');
    expect((await getWorkflow(deps, 'review-flow')).json).toMatchObject({ versions: ['1', '2'] });
  });

  it('takes the next whole number when the body has no version', async () => {
    await createWorkflow(deps, def({ version: '7' }));
    await updateWorkflow(deps, 'review-flow', def({ version: '10-beta' }));
    const next = await updateWorkflow(deps, 'review-flow', def({ name: 'Next' }));
    expect(next.json).toMatchObject({ version: '8', name: 'Next' });
    await createWorkflow(deps, def({ id: 'named-only', version: 'alpha' }));
    expect((await updateWorkflow(deps, 'named-only', def({ id: undefined }))).json).toMatchObject({
      id: 'named-only',
      version: '1',
    });
  });

  it('takes the id from the path: a different body id is 400', async () => {
    await createWorkflow(deps, def());
    const p = await problemOf(
      () => updateWorkflow(deps, 'review-flow', def({ id: 'other', version: '2' })),
      400,
    );
    expect(p).toMatchObject({ code: 'REQUEST.INVALID', violations: [{ path: 'id' }] });
    const { id: _id, ...noId } = def({ version: '2' });
    expect((await updateWorkflow(deps, 'review-flow', noId)).json).toMatchObject({ id: 'review-flow' });
  });

  it('validates every version in full, and round-trips what GET answers', async () => {
    await createWorkflow(deps, def());
    const p = await problemOf(
      () =>
        updateWorkflow(
          deps,
          'review-flow',
          def({ version: '2', steps: [{ id: 'a', kind: 'agent', agent: 'nobody', prompt: 'x' }] }),
        ),
      400,
    );
    expect(p).toMatchObject({
      code: 'WORKFLOW.INVALID_DEFINITION',
      violations: [{ path: 'steps[0].agent' }],
    });
    const read = await getWorkflow(deps, 'review-flow');
    const body = { ...(read.json as object), version: '2', description: 'Edited' };
    expect((await updateWorkflow(deps, 'review-flow', body, etagOf(read))).json).toMatchObject({
      version: '2',
      description: 'Edited',
    });
    await problemOf(() => updateWorkflow(deps, 'review-flow', 'not an object'), 400);
  });

  it('answers 404 for a missing workflow, 409 WORKFLOW.BUILTIN for a built-in template', async () => {
    for (const body of [def({ id: 'ghost' }), def({ id: 'ghost', version: '2' })]) {
      expect((await problemOf(() => updateWorkflow(deps, 'ghost', body), 404)).code).toBe(
        'WORKFLOW.NOT_FOUND',
      );
    }
    const builtIn = findBuiltInWorkflow('agent-studio-pipeline')!;
    const p = await problemOf(
      () => updateWorkflow(deps, 'agent-studio-pipeline', { ...builtIn, version: '2' }),
      409,
    );
    expect(p.code).toBe('WORKFLOW.BUILTIN');
  });
});

describe('delete', () => {
  it('deletes every version: 204, then 404', async () => {
    await createWorkflow(deps, def());
    await updateWorkflow(deps, 'review-flow', def({ version: '2' }));
    expect(await deleteWorkflow(deps, 'review-flow')).toEqual({ status: 204 });
    expect((await problemOf(() => deleteWorkflow(deps, 'review-flow'), 404)).code).toBe('WORKFLOW.NOT_FOUND');
    await problemOf(() => getWorkflow(deps, 'review-flow', '1'), 404);
  });

  it('keeps built-in templates: 409 WORKFLOW.BUILTIN', async () => {
    expect((await problemOf(() => deleteWorkflow(deps, 'design-review-chat'), 409)).code).toBe(
      'WORKFLOW.BUILTIN',
    );
  });
});

describe('resolveWorkflow and validateDefinition (the run service)', () => {
  it('resolves built-in templates, the latest stored version, or a given one', async () => {
    expect(await resolveWorkflow(catalog, 'parallel-analysis')).toEqual(
      findBuiltInWorkflow('parallel-analysis'),
    );
    expect((await resolveWorkflow(catalog, 'parallel-analysis', '1')).id).toBe('parallel-analysis');
    await createWorkflow(deps, def());
    await updateWorkflow(deps, 'review-flow', def({ version: '2', name: 'v2' }));
    expect(await resolveWorkflow(catalog, 'review-flow')).toMatchObject({ version: '2', name: 'v2' });
    const pinned = await resolveWorkflow(catalog, 'review-flow', '1');
    expect(pinned).toEqual(parseWorkflow(def()));
    // A run keeps what it resolved, whatever happens to the workflow afterwards.
    await deleteWorkflow(deps, 'review-flow');
    expect(pinned).toMatchObject({ version: '1', name: 'Review flow' });
  });

  it('throws NotFoundError WORKFLOW.NOT_FOUND for an unknown workflow or version', async () => {
    await createWorkflow(deps, def());
    for (const [id, version] of [
      ['nobody', undefined],
      ['review-flow', '2'],
      ['parallel-analysis', '2'],
    ] as const) {
      await expect(resolveWorkflow(catalog, id, version)).rejects.toMatchObject({
        code: 'WORKFLOW.NOT_FOUND',
        status: 404,
      });
    }
  });

  it('validates an inline definition against the agents that exist', async () => {
    const inline = def({ steps: [{ id: 'a', kind: 'agent', agent: 'code-reviewer', prompt: 'Review.' }] });
    await expect(validateDefinition(catalog, inline)).rejects.toMatchObject({
      code: 'WORKFLOW.INVALID_DEFINITION',
      violations: [{ path: 'steps[0].agent' }],
    });
    await catalog.createAgent(reviewer);
    expect(await validateDefinition(catalog, inline)).toMatchObject({ id: 'review-flow', version: '1' });
  });
});
