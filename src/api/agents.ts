/**
 * HTTP use cases for running agents: validate → call the AgentService → answer in the wire shape.
 * The registry (CRUD of agent definitions) is in registry.ts.
 */
import type { AgentDefinition, AgentRunResult, AgentService, AgentTask } from '../agents/types';
import type { CatalogStore } from '../store/catalog';
import type { ApiResponse } from './http';
import { toProblem } from './problem';
import type { AgentResultWire, ExecuteRequest } from './schemas';
import { allAgents } from './registry';
import { formatSse, paced, SSE_HEADERS, type SseEvent } from './sse';
import { validateExecuteRequest } from './validate';

export interface ApiDeps {
  agents: AgentService;
  catalog: CatalogStore;
  /** Where errors the client does not see in full go (the invocation log). */
  log?: (message: string) => void;
}

/** The task for a validated request (unset limits fall to the agent's own, then the runner's defaults). */
export function toTask(request: ExecuteRequest, agent: AgentDefinition, signal?: AbortSignal): AgentTask {
  return {
    agent: agent.id,
    prompt: request.prompt,
    context: request.context,
    variables: request.variables,
    maxTokens: request.max_tokens,
    temperature: request.temperature,
    signal,
  };
}

/** AgentRunResult (camelCase, domain) → AgentResult (snake_case, wire). */
export function toResultWire(r: AgentRunResult): AgentResultWire {
  return {
    agent_type: r.agentType,
    output: r.output,
    ...(r.parsed !== undefined ? { parsed: r.parsed } : {}),
    token_usage: {
      prompt: r.tokenUsage.prompt,
      completion: r.tokenUsage.completion,
      total: r.tokenUsage.total,
    },
    model: r.model,
    provider: r.provider,
    duration_ms: Math.round(r.durationMs),
    metadata: r.metadata,
    timestamp: r.timestamp,
    cost: r.cost,
  };
}

/** POST /api/agents/execute */
export async function executeAgent(deps: ApiDeps, body: unknown): Promise<ApiResponse> {
  const { request, agent } = await validateExecuteRequest(body, deps.agents);
  const result = await deps.agents.execute(toTask(request, agent));
  return { status: 200, json: toResultWire(result) };
}

/**
 * POST /api/agents/stream. Validation and the model's first step happen before the response starts,
 * so a bad request, a rate limit or an open circuit still get their real status and problem+json;
 * later failures can only be reported in the stream, as an `error` event.
 */
export async function streamAgent(deps: ApiDeps, body: unknown, signal?: AbortSignal): Promise<ApiResponse> {
  const { request, agent } = await validateExecuteRequest(body, deps.agents);
  const run = deps.agents.stream(toTask(request, agent, signal));
  let first: IteratorResult<string, AgentRunResult>;
  try {
    first = await run.next();
  } catch (err) {
    await run.return(undefined as never).catch(() => undefined);
    throw err;
  }
  return {
    status: 200,
    headers: { ...SSE_HEADERS },
    stream: sseText(paced(agentEvents(run, first, deps.log))),
  };
}

/** The events of one streamed run, starting from a step already taken. */
export async function* agentEvents(
  run: AsyncGenerator<string, AgentRunResult, void>,
  first: IteratorResult<string, AgentRunResult>,
  log?: (message: string) => void,
): AsyncGenerator<SseEvent, void, void> {
  let id = 0;
  let step = first;
  try {
    while (!step.done) {
      if (step.value !== '') yield { id: ++id, event: 'delta', data: { delta: step.value } };
      step = await run.next();
    }
    yield { id: ++id, event: 'result', data: toResultWire(step.value) };
  } catch (err) {
    yield { id: ++id, event: 'error', data: toProblem(err, log).body };
  } finally {
    // The client went away (or an error ended the loop): let the run release what it holds.
    if (!step.done) await run.return(undefined as never).catch(() => undefined);
  }
}

async function* sseText(events: AsyncIterable<SseEvent>): AsyncGenerator<string, void, void> {
  for await (const e of events) yield formatSse(e);
}

/** GET /api/agents/capabilities: every agent that can be run (built-in first, then custom). */
export async function capabilities(deps: ApiDeps): Promise<ApiResponse> {
  return {
    status: 200,
    json: {
      agents: (await allAgents(deps)).map((a) => ({
        type: a.name,
        id: a.id,
        description: a.description,
        capabilities: a.capabilities,
        built_in: a.builtIn,
      })),
    },
  };
}
