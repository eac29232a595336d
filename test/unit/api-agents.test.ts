/** The agent use cases over a scripted AgentService: wire mapping, SSE events, capabilities. */
import { builtInAgents, findBuiltIn } from '../../src/agents/catalog';
import type { AgentRunResult, AgentService, AgentTask } from '../../src/agents/types';
import { answer } from '../../src/api/http';
import {
  agentEvents,
  capabilities,
  executeAgent,
  streamAgent,
  toResultWire,
  type ApiDeps,
} from '../../src/api/agents';
import { createAgent } from '../../src/api/registry';
import { agentResultSchema, capabilitiesSchema } from '../../src/api/schemas';
import { formatSse, paced, parseSse, SSE_HEADERS } from '../../src/api/sse';
import { LlmError } from '../../src/llm/errors';
import { MemoryCatalogStore } from '../../src/store/memory-catalog';

const prompt = 'Design a microservices architecture for a shop';

function result(agent: string, output: string): AgentRunResult {
  return {
    agentType: agent,
    output,
    tokenUsage: { prompt: 12, completion: 5, total: 17 },
    model: 'offline-1',
    provider: 'offline',
    durationMs: 3.4,
    metadata: { finish_reason: 'stop' },
    timestamp: '2025-01-01T00:00:00.000Z',
    cost: { currency: 'USD', input: 0, output: 0, total: 0 },
  };
}

/** Streams `deltas`; throws `failAt` (index) when set. Records tasks and early returns. */
function scripted(
  catalog: MemoryCatalogStore,
  deltas = ['Hello', ', ', 'world'],
  fail?: { at: number; err: unknown },
) {
  const tasks: AgentTask[] = [];
  let returned = false;
  const service: AgentService = {
    resolve: async (name) => findBuiltIn(name) ?? (await catalog.getAgent(name.toLowerCase())),
    list: async () => [...builtInAgents(), ...(await catalog.listAgents())],
    execute: async (task) => {
      tasks.push(task);
      if (fail) throw fail.err;
      return result(task.agent, deltas.join(''));
    },
    async *stream(task) {
      tasks.push(task);
      try {
        for (const [i, d] of deltas.entries()) {
          if (fail?.at === i) throw fail.err;
          yield d;
        }
      } finally {
        returned = true;
      }
      return result(task.agent, deltas.join(''));
    },
  };
  return { service, tasks, wasReturned: () => returned };
}

let catalog: MemoryCatalogStore;
let deps: ApiDeps;
let fake: ReturnType<typeof scripted>;
beforeEach(() => {
  catalog = new MemoryCatalogStore();
  fake = scripted(catalog);
  deps = { agents: fake.service, catalog };
});

async function text(stream: AsyncIterable<string>): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += chunk;
  return out;
}

describe('execute', () => {
  it('runs the task and answers the snake_case AgentResult', async () => {
    const res = await executeAgent(deps, {
      agentType: 'architect',
      prompt,
      maxTokens: 300,
      context: { a: 1 },
    });
    expect(res.status).toBe(200);
    expect(agentResultSchema.parse(res.json)).toEqual({
      agent_type: 'architect',
      output: 'Hello, world',
      token_usage: { prompt: 12, completion: 5, total: 17 },
      model: 'offline-1',
      provider: 'offline',
      duration_ms: 3,
      metadata: { finish_reason: 'stop' },
      timestamp: '2025-01-01T00:00:00.000Z',
      cost: { currency: 'USD', input: 0, output: 0, total: 0 },
    });
    expect(fake.tasks[0]).toMatchObject({ agent: 'architect', prompt, maxTokens: 300, context: { a: 1 } });
    expect(fake.tasks[0]?.temperature).toBeUndefined();
  });

  it('keeps parsed output when the agent has one', () => {
    expect(toResultWire({ ...result('Validator', '{}'), parsed: { pass: true } }).parsed).toEqual({
      pass: true,
    });
  });

  it('turns failures into problems through answer()', async () => {
    deps.agents = scripted(catalog, [], {
      at: 0,
      err: new LlmError('LLM.RATE_LIMITED', 'slow', { retryAfterMs: 2000 }),
    }).service;
    const res = await answer(() => executeAgent(deps, { agent: 'Echo', prompt }));
    expect(res).toMatchObject({
      status: 429,
      headers: { 'retry-after': '2' },
      json: { code: 'LLM.RATE_LIMITED' },
    });
    const bad = await answer(() => executeAgent(deps, { agent: 'Nobody', prompt: 'x' }));
    expect(bad.status).toBe(400);
  });
});

describe('stream', () => {
  it('sends a delta event per chunk, then the result, every event with an id', async () => {
    const res = await streamAgent(deps, { agent_type: 'Scribe', prompt });
    expect(res.status).toBe(200);
    expect(res.headers).toEqual(SSE_HEADERS);
    const raw = await text(res.stream!);
    expect(raw.startsWith('id: 1\nevent: delta\ndata: {"delta":"Hello"}\n\n')).toBe(true);
    const events = parseSse(raw);
    expect(events.map((e) => [e.id, e.event])).toEqual([
      [1, 'delta'],
      [2, 'delta'],
      [3, 'delta'],
      [4, 'result'],
    ]);
    const deltas = events.filter((e) => e.event === 'delta').map((e) => (e.data as { delta: string }).delta);
    const final = agentResultSchema.parse(events[3]?.data);
    expect(deltas.join('')).toBe(final.output);
    expect(final.token_usage.total).toBe(17);
  });

  it('fails before the stream starts with the real status', async () => {
    deps.agents = scripted(catalog, ['a'], { at: 0, err: new LlmError('LLM.CIRCUIT_OPEN', 'open') }).service;
    await expect(streamAgent(deps, { agent_type: 'Scribe', prompt })).rejects.toMatchObject({ status: 503 });
    await expect(streamAgent(deps, { agent_type: 'Scribe', prompt: 'short' })).rejects.toMatchObject({
      status: 400,
    });
  });

  it('reports a failure after the first delta as an error event', async () => {
    deps.agents = scripted(catalog, ['a', 'b', 'c'], {
      at: 2,
      err: new LlmError('LLM.TIMEOUT', 'too slow'),
    }).service;
    const events = parseSse(await text((await streamAgent(deps, { agent_type: 'Scribe', prompt })).stream!));
    expect(events.map((e) => e.event)).toEqual(['delta', 'delta', 'error']);
    expect(events[2]).toMatchObject({
      id: 3,
      data: { status: 504, code: 'LLM.TIMEOUT', title: 'Gateway Timeout' },
    });
  });

  it('lets the run go when the client stops reading', async () => {
    const res = await streamAgent(deps, { agent_type: 'Scribe', prompt });
    const it = res.stream![Symbol.asyncIterator]();
    await it.next();
    await it.return?.();
    expect(fake.wasReturned()).toBe(true);
  });

  it('skips empty deltas', async () => {
    const run = (async function* () {
      yield '';
      yield 'x';
      return result('Echo', 'x');
    })();
    const events = [];
    for await (const e of agentEvents(run, await run.next())) events.push(e);
    expect(events.map((e) => e.event)).toEqual(['delta', 'result']);
    expect(events[0]?.id).toBe(1);
  });

  it('gives the event loop a turn after the first event, then once per time slice', async () => {
    const order: string[] = [];
    const it = paced(
      (async function* () {
        yield 1;
        yield 2;
        yield 3;
      })(),
      60_000,
    )[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe(1);
    setImmediate(() => order.push('turn'));
    order.push(`item ${String((await it.next()).value)}`);
    setImmediate(() => order.push('turn 2'));
    order.push(`item ${String((await it.next()).value)}`);
    expect(order).toEqual(['turn', 'item 2', 'item 3']);
    expect((await it.next()).done).toBe(true);
  });

  it('formats and parses events', () => {
    const text = formatSse({ id: 7, event: 'delta', data: { delta: 'line 1\nline 2' } });
    expect(text).toBe('id: 7\nevent: delta\ndata: {"delta":"line 1\\nline 2"}\n\n');
    expect(parseSse(`: comment\n\n${text}`)).toEqual([
      { id: 7, event: 'delta', data: { delta: 'line 1\nline 2' } },
    ]);
  });
});

it('lists capabilities: built-ins first, then custom agents', async () => {
  await createAgent(deps, { name: 'Code Reviewer', system_prompt: 'Review.', capabilities: ['code-review'] });
  const res = await capabilities(deps);
  const body = capabilitiesSchema.parse(res.json);
  expect(body.agents.map((a) => a.type)).toEqual([
    'Architect',
    'Builder',
    'Validator',
    'Scribe',
    'Echo',
    'Code Reviewer',
  ]);
  expect(body.agents[0]).toEqual({
    type: 'Architect',
    id: 'architect',
    description: 'Designs system architecture and technical specifications',
    capabilities: ['system-design', 'architecture-review', 'technology-selection'],
    built_in: true,
  });
});
