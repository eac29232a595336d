/**
 * The agent runner: resolves an agent, renders its prompt, lays out and budgets the messages, calls
 * the model (validating structured output), and reports usage, cost and timing. Models, the catalog
 * store and prices are injected, so the same code runs in activities, HTTP handlers and tests.
 */
import type { ProviderName } from '../config';
import { NotFoundError } from '../errors';
import type { ChatMessage, ChatModel, ChatRequest, ChatResult, TokenUsage } from '../llm/types';
import type { AgentCatalog } from '../store/catalog';
import { AgentRunSpan } from '../telemetry';
import { fitToWindow, type Budget, type BudgetInput } from './budget';
import { builtInAgents, findBuiltIn, isBuiltInName } from './catalog';
import { contextMessage } from './context';
import {
  completeStructured,
  responseFormatFor,
  schemaInstruction,
  sumUsage,
  validateOrRepair,
  type OutputSpec,
  type StructuredOutcome,
} from './structured';
import { renderTemplate } from './template';
import type { AgentDefinition, AgentRunResult, AgentService, AgentTask, Cost } from './types';

export const DEFAULT_TEMPERATURE = 0.7;
export const DEFAULT_MAX_TOKENS = 4000;
/** How many agents an unknown-agent error lists. */
const LISTED_AGENTS = 50;

export interface ResolvedModel {
  model: ChatModel;
  /** Model or deployment name sent in the request (and used for the context window). */
  modelName: string;
  provider: ProviderName;
}

export interface AgentRunnerDeps {
  store: AgentCatalog;
  resolveModel: (def: AgentDefinition) => ResolvedModel;
  costOf: (model: string, usage: TokenUsage) => Cost;
  /** Context windows by model name (settings: LLM_CONTEXT_WINDOWS). */
  contextWindows?: Record<string, number>;
  now?: () => number;
}

/** Everything a run needs, computed once for execute and stream alike. */
interface Prepared {
  def: AgentDefinition;
  model: ChatModel;
  request: ChatRequest;
  budget: Budget;
  spec?: OutputSpec;
  contextGiven: boolean;
  rebudget: (trailing: ChatMessage[]) => Budget;
}

export class AgentRunner implements AgentService {
  private readonly now: () => number;

  constructor(private readonly deps: AgentRunnerDeps) {
    this.now = deps.now ?? Date.now;
  }

  async list(): Promise<AgentDefinition[]> {
    const custom = await this.deps.store.listAgents();
    return [...builtInAgents(), ...custom.filter((d) => !isBuiltInName(d.id))];
  }

  /** Built-ins by id or name (case-insensitive) first, then the store by id, then by name. */
  async resolve(agent: string): Promise<AgentDefinition | undefined> {
    const builtIn = findBuiltIn(agent);
    if (builtIn) return builtIn;
    const key = agent.trim().toLowerCase();
    if (!key) return undefined;
    const byId = await this.deps.store.getAgent(key);
    if (byId) return byId;
    const all = await this.deps.store.listAgents();
    return all.find((d) => d.name.toLowerCase() === key || d.id.toLowerCase() === key);
  }

  /** Runs the agent; traced as an `agent.run` span (src/telemetry), the model calls as its children. */
  async execute(task: AgentTask): Promise<AgentRunResult> {
    const span = AgentRunSpan.start(task);
    return span.track(() => this.executeIn(span, task));
  }

  private async executeIn(span: AgentRunSpan, task: AgentTask): Promise<AgentRunResult> {
    const prep = await this.prepare(task, span);
    const started = this.now();
    if (prep.spec) {
      const outcome = await completeStructured({ ...prep, spec: prep.spec });
      return this.result(prep, started, outcome);
    }
    const reply = await prep.model.complete(prep.request);
    return this.result(prep, started, {
      output: reply.content,
      parsed: undefined,
      results: [reply],
      usage: reply.usage,
    });
  }

  /**
   * Streams the reply's deltas and returns the final result. Agents with an output schema stream the
   * raw JSON; it is validated at the end, and when invalid the final result carries the output of one
   * (non-streamed) repair attempt, so the result, not the deltas, is authoritative.
   */
  async *stream(task: AgentTask): AsyncGenerator<string, AgentRunResult, void> {
    const span = AgentRunSpan.start(task);
    return yield* span.trackStream(this.streamIn(span, task));
  }

  /** The stream, its model calls made within the `agent.run` span (a generator body has no scope). */
  private async *streamIn(span: AgentRunSpan, task: AgentTask): AsyncGenerator<string, AgentRunResult, void> {
    const prep = await span.within(() => this.prepare(task, span));
    const started = this.now();
    const chunks = prep.model.stream(prep.request);
    let step = await span.within(() => chunks.next());
    try {
      while (!step.done) {
        if (step.value.delta) yield step.value.delta;
        step = await span.within(() => chunks.next());
      }
    } finally {
      // The consumer stopped early: let the model's stream release its connection.
      if (!step.done) await chunks.return(undefined as unknown as ChatResult);
    }
    const first = step.value;
    const spec = prep.spec;
    if (!spec) {
      return this.result(prep, started, {
        output: first.content,
        parsed: undefined,
        results: [first],
        usage: first.usage,
      });
    }
    const outcome = await span.within(() => validateOrRepair({ ...prep, spec, first }));
    return this.result(prep, started, outcome);
  }

  private async resolveOrThrow(agent: string): Promise<AgentDefinition> {
    const def = await this.resolve(agent);
    if (def) return def;
    const known = (await this.list()).map((d) => (d.name === d.id ? d.id : `${d.id} (${d.name})`));
    const listed = known.slice(0, LISTED_AGENTS).join(', ');
    const more = known.length > LISTED_AGENTS ? ` and ${known.length - LISTED_AGENTS} more` : '';
    throw new NotFoundError('AGENT.UNKNOWN', `Unknown agent '${agent}'. Known agents: ${listed}${more}.`);
  }

  private async prepare(task: AgentTask, span: AgentRunSpan): Promise<Prepared> {
    const def = await this.resolveOrThrow(task.agent);
    const { model, modelName } = this.deps.resolveModel(def);
    span.describe({ id: def.id, name: def.name, type: def.role, provider: model.provider, model: modelName });
    const vars = { ...task.variables, context: task.context ?? {}, prompt: task.prompt };
    const system: ChatMessage[] = [
      {
        role: 'system',
        content: renderTemplate(def.systemPrompt, vars, { name: `System prompt of agent '${def.id}'` }),
      },
    ];
    const spec = def.outputSchema && { schema: def.outputSchema, agentId: def.id, agentName: def.name };
    if (spec && !model.supportsJsonSchema) system.push(schemaInstruction(spec.schema));
    const context = contextMessage(task.context);
    const layout: BudgetInput = {
      system,
      context,
      history: (task.history ?? []).map((t) => ({ role: t.role, content: t.content })),
      input: { role: 'user', content: task.prompt },
      model: modelName,
      maxTokens: task.maxTokens ?? def.maxTokens ?? DEFAULT_MAX_TOKENS,
      contextWindows: this.deps.contextWindows,
    };
    const budget = fitToWindow(layout);
    const responseFormat = spec && responseFormatFor(model, spec);
    const request: ChatRequest = {
      messages: budget.messages,
      model: modelName,
      maxTokens: budget.maxTokens,
      temperature: task.temperature ?? def.temperature ?? DEFAULT_TEMPERATURE,
      ...(responseFormat && { responseFormat }),
      ...(task.signal && { signal: task.signal }),
      agentRole: def.role,
    };
    // A repair turn keeps what the first attempt kept, plus the rejected reply and the correction.
    const rebudget = (trailing: ChatMessage[]) =>
      fitToWindow({
        ...layout,
        context: budget.dropped.context ? undefined : context,
        history: layout.history.slice(budget.dropped.history),
        trailing,
      });
    return { def, model, request, budget, spec, contextGiven: context !== undefined, rebudget };
  }

  private result(prep: Prepared, started: number, outcome: StructuredOutcome): AgentRunResult {
    const durationMs = Math.max(0, this.now() - started);
    const last = outcome.results[outcome.results.length - 1]!;
    const usage = sumUsage(outcome.results);
    // A cached answer cost nothing this time: only calls that reached the model are charged.
    const billed = sumUsage(outcome.results.filter((r) => r.cached !== true));
    return {
      agentType: prep.def.name,
      output: outcome.output,
      ...(prep.spec && { parsed: outcome.parsed }),
      tokenUsage: usage,
      model: last.model,
      provider: last.provider,
      durationMs,
      metadata: {
        finish_reason: last.finishReason,
        context_used: prep.contextGiven && !prep.budget.dropped.context,
        attempts: outcome.results.reduce((n, r) => n + (r.cached ? 0 : (r.attempts ?? 1)), 0),
        ...(prep.spec && { output_attempts: outcome.results.length }),
        cached: outcome.results.every((r) => r.cached === true),
        dropped_history: prep.budget.dropped.history,
        dropped_context: prep.budget.dropped.context,
        agent_id: prep.def.id,
      },
      timestamp: new Date(this.now()).toISOString(),
      cost: this.deps.costOf(last.model, billed),
    };
  }
}

export function createAgentRunner(deps: AgentRunnerDeps): AgentRunner {
  return new AgentRunner(deps);
}
