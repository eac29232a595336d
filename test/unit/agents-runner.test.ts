/** The agent runner over a scripted model and an in-memory catalog. */
import { AgentError } from '../../src/agents/errors';
import { createAgentRunner, type AgentRunnerDeps } from '../../src/agents/runner';
import type { AgentDefinition, AgentRunResult, Cost } from '../../src/agents/types';
import { NotFoundError } from '../../src/errors';
import type { TokenUsage } from '../../src/llm/types';
import type { AgentCatalog } from '../../src/store/catalog';
import { ScriptedModel, type ScriptStep } from '../fixtures/scripted-model';

/** Just enough of the catalog port for the runner. */
class InMemoryCatalog implements AgentCatalog {
  private readonly agents = new Map<string, AgentDefinition>();
  constructor(defs: AgentDefinition[] = []) {
    for (const d of defs) this.agents.set(d.id, d);
  }
  async listAgents() {
    return [...this.agents.values()];
  }
  async getAgent(id: string) {
    return this.agents.get(id);
  }
  async createAgent(def: AgentDefinition) {
    this.agents.set(def.id, def);
    return def;
  }
  async updateAgent(def: AgentDefinition) {
    this.agents.set(def.id, def);
    return def;
  }
  async deleteAgent(id: string) {
    return this.agents.delete(id);
  }
}

const reviewer: AgentDefinition = {
  id: 'code-reviewer',
  name: 'Code Reviewer',
  description: 'Reviews code',
  role: 'reviewer',
  systemPrompt: "You review {{ language }} code for {{ context.project | default('an unnamed project') }}.",
  model: 'gpt-4o-mini',
  temperature: 0.1,
  maxTokens: 1000,
  capabilities: ['code-review'],
  builtIn: false,
};

const costOf = (model: string, usage: TokenUsage): Cost => {
  const input = usage.prompt / 1e6;
  const output = (usage.completion * 2) / 1e6;
  return { currency: 'USD', input, output, total: input + output };
};

function setup(
  script: ScriptStep[],
  opts: { supportsJsonSchema?: boolean; windows?: Record<string, number> } = {},
) {
  const model = new ScriptedModel(script, {
    supportsJsonSchema: opts.supportsJsonSchema,
    model: 'gpt-4o-2024-08-06',
  });
  let clock = 1_700_000_000_000;
  const resolveModel = jest.fn((def: AgentDefinition) => ({
    model,
    modelName: def.model ?? 'gpt-4o',
    provider: model.provider,
  }));
  const deps: AgentRunnerDeps = {
    store: new InMemoryCatalog([reviewer]),
    resolveModel,
    costOf: jest.fn(costOf),
    contextWindows: opts.windows,
    now: () => (clock += 250),
  };
  return { runner: createAgentRunner(deps), model, deps, resolveModel };
}

async function drain(gen: AsyncGenerator<string, AgentRunResult, void>) {
  const deltas: string[] = [];
  let step = await gen.next();
  while (!step.done) {
    deltas.push(step.value);
    step = await gen.next();
  }
  return { deltas, result: step.value };
}

const verdict = { score: 85, pass: true, issues: [{ severity: 'info', message: 'Fine.' }] };

describe('resolve and list', () => {
  test('built-ins by id or name case-insensitively, then custom agents by id or name', async () => {
    const { runner } = setup([]);
    expect((await runner.resolve('ARCHITECT'))?.id).toBe('architect');
    expect((await runner.resolve('Validator'))?.id).toBe('validator');
    expect((await runner.resolve('code-reviewer'))?.name).toBe('Code Reviewer');
    expect((await runner.resolve('code reviewer'))?.id).toBe('code-reviewer');
    expect(await runner.resolve('nobody')).toBeUndefined();
    expect((await runner.list()).map((d) => d.id)).toEqual([
      'architect',
      'builder',
      'validator',
      'scribe',
      'echo',
      'code-reviewer',
    ]);
  });

  test('an unknown agent is AGENT.UNKNOWN listing the known agents, and the model is not called', async () => {
    const { runner, model } = setup([]);
    const err: unknown = await runner.execute({ agent: 'Archtect', prompt: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ code: 'AGENT.UNKNOWN', status: 404 });
    expect((err as Error).message).toBe(
      "Unknown agent 'Archtect'. Known agents: architect (Architect), builder (Builder), validator (Validator), " +
        'scribe (Scribe), echo (Echo), code-reviewer (Code Reviewer).',
    );
    expect(model.requests).toHaveLength(0);
  });
});

describe('execute', () => {
  test("lays out the messages as the seed does: system prompt, context, history, the user's prompt", async () => {
    const { runner, model } = setup(['# Design']);
    const history = [
      { role: 'user' as const, content: 'Earlier question' },
      { role: 'assistant' as const, content: 'Earlier answer' },
    ];
    await runner.execute({
      agent: 'architect',
      prompt: 'Design an API',
      context: { scale: '10K RPS' },
      history,
    });
    const req = model.lastRequest;
    expect(req.messages.map((m) => m.role)).toEqual(['system', 'system', 'user', 'assistant', 'user']);
    expect(req.messages[0]!.content).toMatch(/^You are a senior software architect/);
    expect(req.messages[1]!.content).toBe('Project Context:\n- scale: 10K RPS');
    expect(req.messages.slice(2)).toEqual([...history, { role: 'user', content: 'Design an API' }]);
    expect(req).toMatchObject({ model: 'gpt-4o', agentRole: 'architect' });
    expect(req.responseFormat).toBeUndefined();
  });

  test('renders the system prompt with the variables, the context and the prompt', async () => {
    const { runner, model } = setup(['ok', 'ok']);
    await runner.execute({ agent: 'code-reviewer', prompt: 'Review this', variables: { language: 'Go' } });
    expect(model.requests[0]!.messages[0]!.content).toBe('You review Go code for an unnamed project.');
    await runner.execute({
      agent: 'code-reviewer',
      prompt: 'p',
      variables: { language: 'Rust' },
      context: { project: 'Atlas' },
    });
    expect(model.requests[1]!.messages[0]!.content).toBe('You review Rust code for Atlas.');
  });

  test('a missing template variable fails before any model call', async () => {
    const { runner, model } = setup([]);
    const err: unknown = await runner
      .execute({ agent: 'code-reviewer', prompt: 'p' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toMatchObject({
      code: 'AGENT.TEMPLATE_VARIABLE_MISSING',
      details: { variable: 'language', line: 1 },
    });
    expect((err as Error).message).toMatch(/^System prompt of agent 'code-reviewer': variable 'language'/);
    expect(model.requests).toHaveLength(0);
  });

  test('temperature and max tokens: task over definition over defaults (0.7 / 4000)', async () => {
    const { runner, model } = setup(['a', 'b', 'c', 'd']);
    await runner.execute({ agent: 'scribe', prompt: 'p' });
    await runner.execute({ agent: 'code-reviewer', prompt: 'p', variables: { language: 'Go' } });
    await runner.execute({
      agent: 'code-reviewer',
      prompt: 'p',
      variables: { language: 'Go' },
      temperature: 1.2,
      maxTokens: 200,
    });
    await runner.execute({ agent: 'scribe', prompt: 'p', temperature: 0 });
    expect(model.requests.map((r) => [r.temperature, r.maxTokens])).toEqual([
      [0.7, 4000],
      [0.1, 1000],
      [1.2, 200],
      [0, 4000],
    ]);
  });

  test('the result: agent name, output, usage, model, provider, duration, metadata, timestamp and cost', async () => {
    const { runner, deps, resolveModel } = setup([
      {
        content: '# Design',
        usage: { prompt: 1200, completion: 2800, total: 4000 },
        attempts: 2,
        finishReason: 'stop',
      },
    ]);
    const result = await runner.execute({
      agent: 'Architect',
      prompt: 'Design',
      context: { cloud: 'Azure' },
    });
    expect(resolveModel).toHaveBeenCalledWith(expect.objectContaining({ id: 'architect' }));
    expect(result).toEqual({
      agentType: 'Architect',
      output: '# Design',
      tokenUsage: { prompt: 1200, completion: 2800, total: 4000 },
      model: 'gpt-4o-2024-08-06',
      provider: 'offline',
      durationMs: 250,
      metadata: {
        finish_reason: 'stop',
        context_used: true,
        attempts: 2,
        cached: false,
        dropped_history: 0,
        dropped_context: false,
        agent_id: 'architect',
      },
      timestamp: new Date(1_700_000_000_750).toISOString(),
      cost: { currency: 'USD', input: 0.0012, output: 0.0056, total: 0.0068 },
    });
    expect(deps.costOf).toHaveBeenCalledWith('gpt-4o-2024-08-06', {
      prompt: 1200,
      completion: 2800,
      total: 4000,
    });
  });

  test('a cached answer reports its usage but is not charged again', async () => {
    const { runner, deps } = setup([
      { content: 'cached design', cached: true, usage: { prompt: 10, completion: 20, total: 30 } },
    ]);
    const result = await runner.execute({ agent: 'Architect', prompt: 'Design a cache' });
    expect(result.tokenUsage.total).toBe(30);
    expect(result.metadata).toMatchObject({ cached: true, attempts: 0 });
    expect(deps.costOf).toHaveBeenCalledWith('gpt-4o-2024-08-06', { prompt: 0, completion: 0, total: 0 });
    expect(result.cost.total).toBe(0);
  });

  test('a custom agent from the store runs with its own model settings', async () => {
    const { runner, model, resolveModel } = setup(['LGTM']);
    const result = await runner.execute({
      agent: 'Code Reviewer',
      prompt: 'diff',
      variables: { language: 'TS' },
    });
    expect(resolveModel).toHaveBeenCalledWith(
      expect.objectContaining({ id: 'code-reviewer', builtIn: false }),
    );
    expect(model.lastRequest).toMatchObject({ model: 'gpt-4o-mini', agentRole: 'reviewer' });
    expect(result).toMatchObject({
      agentType: 'Code Reviewer',
      output: 'LGTM',
      metadata: { agent_id: 'code-reviewer' },
    });
    expect(result).not.toHaveProperty('parsed');
  });

  test('budgets the window: old turns are dropped and reported', async () => {
    const history = Array.from({ length: 30 }, (_, i) => ({
      role: i % 2 ? ('assistant' as const) : ('user' as const),
      content: `turn ${i} ${'filler '.repeat(40)}`,
    }));
    const { runner, model } = setup(['ok'], { windows: { 'gpt-4o': 1500 } });
    const result = await runner.execute({ agent: 'echo', prompt: 'latest', history, maxTokens: 300 });
    const sent = model.lastRequest.messages;
    expect(sent[0]!.role).toBe('system');
    expect(sent[sent.length - 1]).toEqual({ role: 'user', content: 'latest' });
    expect(sent[1]!.content).not.toContain('turn 0 ');
    expect(sent[sent.length - 2]!.content).toContain('turn 29 ');
    expect(result.metadata.dropped_history).toBe(30 - (sent.length - 2));
    expect(result.metadata.dropped_history).toBeGreaterThan(0);
    expect(model.lastRequest.maxTokens).toBe(300);
  });

  test('passes the abort signal through', async () => {
    const { runner, model } = setup(['ok']);
    const controller = new AbortController();
    await runner.execute({ agent: 'echo', prompt: 'hi', signal: controller.signal });
    expect(model.lastRequest.signal).toBe(controller.signal);
  });
});

describe('the Validator is always structured', () => {
  test('natively: response_format json_schema, temperature 0, parsed verdict', async () => {
    const { runner, model } = setup([JSON.stringify(verdict)], { supportsJsonSchema: true });
    const result = await runner.execute({ agent: 'validator', prompt: 'Check this design' });
    expect(model.lastRequest.responseFormat).toMatchObject({
      type: 'json_schema',
      name: 'validator',
      strict: true,
    });
    expect(model.lastRequest.temperature).toBe(0);
    expect(model.lastRequest.messages).toHaveLength(2);
    expect(result.parsed).toEqual(verdict);
    expect(result.metadata).toMatchObject({ output_attempts: 1, attempts: 1 });
  });

  test('otherwise with a schema instruction after its prompt; a fenced, then repaired reply', async () => {
    const { runner, model } = setup(
      [
        { content: '```json\n{"score": 85}\n```', usage: { prompt: 300, completion: 10, total: 310 } },
        {
          content: '```json\n' + JSON.stringify(verdict) + '\n```',
          usage: { prompt: 330, completion: 30, total: 360 },
        },
      ],
      { supportsJsonSchema: false },
    );
    const result = await runner.execute({
      agent: 'Validator',
      prompt: 'Check',
      context: { gate: 'security' },
    });
    const first = model.requests[0]!;
    expect(first.responseFormat).toBeUndefined();
    const starts = [
      'You are a meticulous reviewer',
      'Answer with only a JSON value',
      'Project Context:\n- gate: security',
      'Check',
    ];
    expect(first.messages.map((m, i) => m.content.startsWith(starts[i]!))).toEqual([true, true, true, true]);
    const retry = model.requests[1]!.messages;
    expect(retry.slice(0, 4)).toEqual(first.messages);
    expect(retry[4]).toEqual({ role: 'assistant', content: '```json\n{"score": 85}\n```' });
    expect(retry[5]!.content).toMatch(/^Your previous reply was not valid: pass: Invalid input/);
    expect(result.output).toBe(JSON.stringify(verdict));
    expect(result.parsed).toEqual(verdict);
    expect(result.metadata).toMatchObject({ output_attempts: 2, attempts: 2, context_used: true });
    expect(result.tokenUsage).toEqual({ prompt: 630, completion: 40, total: 670 });
  });

  test('invalid twice is AGENT.INVALID_OUTPUT', async () => {
    const { runner } = setup(['no', 'still no']);
    await expect(runner.execute({ agent: 'validator', prompt: 'Check' })).rejects.toMatchObject({
      code: 'AGENT.INVALID_OUTPUT',
    });
  });
});

describe('stream', () => {
  test('yields the deltas and returns the same result as execute', async () => {
    const { runner } = setup(['# A streamed design document']);
    const { deltas, result } = await drain(runner.stream({ agent: 'architect', prompt: 'Design' }));
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('# A streamed design document');
    expect(result).toMatchObject({
      agentType: 'Architect',
      output: '# A streamed design document',
      durationMs: 250,
    });
    expect(result.metadata).toMatchObject({
      finish_reason: 'stop',
      context_used: false,
      agent_id: 'architect',
    });
    expect(result.cost.total).toBeGreaterThan(0);
  });

  test('an agent with an output schema streams the raw JSON and validates it at the end', async () => {
    const { runner, model } = setup([JSON.stringify(verdict)], { supportsJsonSchema: true });
    const { deltas, result } = await drain(runner.stream({ agent: 'validator', prompt: 'Check' }));
    expect(deltas.join('')).toBe(JSON.stringify(verdict));
    expect(result.parsed).toEqual(verdict);
    expect(model.requests).toHaveLength(1);
  });

  test('an invalid streamed reply gets one non-streamed repair; the result carries the repaired output', async () => {
    const { runner, model } = setup(['{"score": 10', JSON.stringify(verdict)]);
    const complete = jest.spyOn(model, 'complete');
    const { deltas, result } = await drain(runner.stream({ agent: 'validator', prompt: 'Check' }));
    expect(deltas.join('')).toBe('{"score": 10');
    expect(complete).toHaveBeenCalledTimes(1);
    expect(result.parsed).toEqual(verdict);
    expect(result.metadata.output_attempts).toBe(2);
  });

  test('a consumer may stop early', async () => {
    const { runner, model } = setup(['one two three four five six']);
    const gen = runner.stream({ agent: 'echo', prompt: 'x' });
    const first = await gen.next();
    expect(first.done).toBe(false);
    expect(model.openStreams).toBe(1);
    await expect(gen.return(undefined as never)).resolves.toMatchObject({ done: true });
    expect(model.openStreams).toBe(0);
  });

  test('errors before the first delta surface from the generator', async () => {
    const { runner } = setup([]);
    await expect(drain(runner.stream({ agent: 'unknown-agent', prompt: 'x' }))).rejects.toMatchObject({
      code: 'AGENT.UNKNOWN',
    });
  });
});
