/**
 * The agent API over real HTTP on the embedded local host, with the real composition (offline model,
 * SQLite catalog): execute, the SSE stream, capabilities, the docs, and a check that every registered
 * HTTP trigger is in the OpenAPI document (and nothing else is). The registry: agents-registry.test.ts.
 */
import { openApiPath } from '../../src/api/routes';
import { agentResultSchema, capabilitiesSchema } from '../../src/api/schemas';
import { parseSse } from '../../src/api/sse';
import type { AgentService } from '../../src/agents/types';
import { getServices, setAgentServiceForTests } from '../../src/app';
import { LlmError } from '../../src/llm/errors';
import type { LocalHost } from '../../src/local-host/host';
import { startProjectHost, type ProjectHost } from '../helpers/project-host';

const prompt = 'Design a microservices architecture for an e-commerce platform with 100K daily users';

let project: ProjectHost;
let host: LocalHost;
let base: string;

beforeAll(async () => {
  project = await startProjectHost('agents-http');
  ({ host, base } = project);
});

afterAll(async () => {
  await project?.stop();
});

const send = (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) =>
  project.send(method, route, body, headers);

async function problemOf(res: Response, status: number): Promise<any> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = await res.json();
  expect(body).toMatchObject({
    type: expect.any(String),
    title: expect.any(String),
    status,
    code: expect.any(String),
  });
  return body;
}

describe('POST /api/agents/execute', () => {
  it.each(['Architect', 'Builder', 'Validator', 'Scribe', 'Echo'])(
    'runs %s and answers the seed AgentResult',
    async (agent) => {
      const res = await send('POST', '/api/agents/execute', {
        agent_type: agent,
        prompt,
        context: { cloud: 'Azure' },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = agentResultSchema.parse(await res.json());
      expect(body.agent_type).toBe(agent);
      expect(body.output.length).toBeGreaterThan(0);
      expect(body.token_usage.prompt).toBeGreaterThan(0);
      expect(body.token_usage.completion).toBeGreaterThan(0);
      expect(body.token_usage.total).toBe(body.token_usage.prompt + body.token_usage.completion);
      expect(body.cost).toMatchObject({ currency: 'USD', total: expect.any(Number) });
      expect(body.provider).toBe('offline');
      expect(Date.parse(body.timestamp)).not.toBeNaN();
      if (agent === 'Validator') expect(body.parsed).toMatchObject({ pass: expect.any(Boolean) });
    },
  );

  it('accepts camelCase and alias fields', async () => {
    for (const body of [
      { agentType: 'architect', prompt, maxTokens: 500 },
      { agent: 'scribe', prompt, temperature: 0 },
    ]) {
      const res = await send('POST', '/api/agents/execute', body);
      expect(res.status).toBe(200);
    }
  });

  it('answers 400 problem+json listing every violation', async () => {
    const res = await send('POST', '/api/agents/execute', {
      agent_type: 'Wizard',
      prompt: 'short',
      max_tokens: 50,
      temperature: 3,
    });
    const problem = await problemOf(res, 400);
    expect(problem.code).toBe('REQUEST.INVALID');
    expect(problem.violations.map((v: { path: string }) => v.path).sort()).toEqual([
      'agent_type',
      'max_tokens',
      'prompt',
      'temperature',
    ]);
  });

  it('names an unknown agent', async () => {
    const problem = await problemOf(
      await send('POST', '/api/agents/execute', { agent: 'Nobody', prompt }),
      400,
    );
    expect(problem.violations).toEqual([
      { path: 'agent', message: expect.stringContaining("unknown agent 'Nobody'") },
    ]);
  });

  it('answers 400 for malformed JSON', async () => {
    const problem = await problemOf(
      await send('POST', '/api/agents/execute', '{"agent_type": "Architect",'),
      400,
    );
    expect(problem.code).toBe('REQUEST.MALFORMED_JSON');
  });
});

describe('POST /api/agents/stream', () => {
  it('streams delta events, then the result; the deltas add up to the output', async () => {
    const res = await send('POST', '/api/agents/stream', { agent_type: 'Architect', prompt });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const raw = await res.text();
    expect(raw).toMatch(/^id: 1\nevent: delta\ndata: /);
    const events = parseSse(raw);
    const deltas = events.filter((e) => e.event === 'delta');
    expect(deltas.length).toBeGreaterThan(5);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)?.event).toBe('result');
    const result = agentResultSchema.parse(events.at(-1)?.data);
    expect(deltas.map((e) => (e.data as { delta: string }).delta).join('')).toBe(result.output);
    expect(result.token_usage.total).toBeGreaterThan(0);
  });

  it('answers a bad request with problem+json, not a stream', async () => {
    await problemOf(await send('POST', '/api/agents/stream', { agent_type: 'Architect', prompt: '' }), 400);
  });

  describe('with a scripted agent service', () => {
    const real = () => getServices();
    let saved: ReturnType<typeof getServices>;
    beforeEach(() => (saved = real()));
    afterEach(() => setAgentServiceForTests(saved.agents, saved.catalog));

    /** The real service, except for `stream`. */
    function withStream(stream: AgentService['stream']): void {
      const agents: AgentService = {
        resolve: (a) => saved.agents.resolve(a),
        list: () => saved.agents.list(),
        execute: (t) => saved.agents.execute(t),
        stream,
      };
      setAgentServiceForTests(agents, saved.catalog);
    }

    it('sends the first delta as soon as it exists, before the run ends', async () => {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let finishedAt = 0;
      withStream(async function* (task) {
        yield 'first ';
        await released;
        yield 'last';
        finishedAt = Date.now();
        const r = await saved.agents.execute({ ...task, agent: 'echo' });
        return { ...r, output: 'first last' };
      });
      const res = await send('POST', '/api/agents/stream', { agent_type: 'Architect', prompt });
      const reader = res.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      expect(first).toBe('id: 1\nevent: delta\ndata: {"delta":"first "}\n\n');
      const seenAt = Date.now();
      release();
      let rest = '';
      for (let c = await reader.read(); !c.done; c = await reader.read())
        rest += new TextDecoder().decode(c.value);
      expect(finishedAt).toBeGreaterThanOrEqual(seenAt);
      expect(parseSse(first + rest).map((e) => e.event)).toEqual(['delta', 'delta', 'result']);
    });

    it('answers a failure before the first delta with its status, and a later one with an error event', async () => {
      // eslint-disable-next-line require-yield -- fails before its first delta, on purpose
      withStream(async function* () {
        throw new LlmError('LLM.RATE_LIMITED', 'slow down', { retryAfterMs: 2000 });
      });
      const limited = await send('POST', '/api/agents/stream', { agent_type: 'Scribe', prompt });
      expect((await problemOf(limited, 429)).code).toBe('LLM.RATE_LIMITED');
      expect(limited.headers.get('retry-after')).toBe('2');

      withStream(async function* () {
        yield 'partial';
        throw new LlmError('LLM.TIMEOUT', 'too slow');
      });
      const events = parseSse(
        await (await send('POST', '/api/agents/stream', { agent_type: 'Scribe', prompt })).text(),
      );
      expect(events.map((e) => `${e.id} ${e.event}`)).toEqual(['1 delta', '2 error']);
      expect(events[1]?.data).toMatchObject({ status: 504, code: 'LLM.TIMEOUT' });
    });

    it('hides unexpected errors behind a generic 500', async () => {
      // eslint-disable-next-line require-yield -- fails before its first delta, on purpose
      withStream(async function* () {
        throw new Error('db password is hunter2');
      });
      const problem = await problemOf(
        await send('POST', '/api/agents/stream', { agent_type: 'Scribe', prompt }),
        500,
      );
      expect(JSON.stringify(problem)).not.toContain('hunter2');
    });
  });
});

it('GET /api/agents/capabilities lists the agents and their capabilities', async () => {
  const res = await fetch(`${base}/api/agents/capabilities`);
  const body = capabilitiesSchema.parse(await res.json());
  expect(body.agents.slice(0, 4).map((a) => a.type)).toEqual(['Architect', 'Builder', 'Validator', 'Scribe']);
  expect(body.agents[0]?.capabilities).toContain('system-design');
});

describe('documentation', () => {
  it('serves the OpenAPI document and the docs page', async () => {
    const doc = (await (await fetch(`${base}/api/openapi.json`)).json()) as any;
    expect(doc.openapi).toBe('3.1.0');
    const page = await fetch(`${base}/api/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('<script>');
  });

  it('documents every registered HTTP route and method, and nothing that is not registered', async () => {
    const doc = (await (await fetch(`${base}/api/openapi.json`)).json()) as any;
    const registered = new Set<string>();
    for (const reg of host.app.registry.functions.values()) {
      if (reg.trigger.type.toLowerCase() !== 'httptrigger') continue;
      const route = typeof reg.trigger.route === 'string' ? reg.trigger.route : reg.name;
      const methods = (reg.trigger.methods as string[] | undefined) ?? [];
      expect(methods.length).toBeGreaterThan(0);
      for (const m of methods) registered.add(`${m.toLowerCase()} ${openApiPath(route)}`);
    }
    const documented = new Set<string>();
    for (const [p, ops] of Object.entries<Record<string, unknown>>(doc.paths)) {
      for (const m of Object.keys(ops)) documented.add(`${m} ${p}`);
    }
    expect([...registered].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((d) => !registered.has(d))).toEqual([]);
    expect(registered.size).toBeGreaterThanOrEqual(12);
  });
});
