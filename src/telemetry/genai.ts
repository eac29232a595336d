/**
 * GenAI spans, with the OpenTelemetry GenAI semantic conventions: `agent.run` around an agent call (the
 * runner) and `llm.generation` around each model call (the resilience layer, retries included), plus the
 * token and cost metrics of each agent call. Both carry the active run scope (run.id, step.id, ...).
 * Prompts and outputs (`gen_ai.input.messages`, `gen_ai.output.messages`) only with
 * TELEMETRY_RECORD_CONTENT. Nothing here throws into the work it observes.
 */
import {
  context,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import type { AgentRunResult } from '../agents/types';
import type { ChatMessage, ChatRequest, ChatResult } from '../llm/types';
import { runScopeAttributes } from './context';
import { recordAgentUsage } from './metrics';
import { ATTR, GEN_AI, INSTRUMENTATION_SCOPE, SPANS } from './names';
import { shouldRecordContent } from './state';

const tracer = () => trace.getTracer(INSTRUMENTATION_SCOPE);

/** `gen_ai.system` of a provider: the GenAI conventions' name where there is one, ours otherwise. */
export function genAiSystem(provider: string): string {
  return provider === 'azure-openai' ? 'azure.ai.openai' : provider;
}

/** Messages as the GenAI conventions record them (JSON). */
function messagesJson(messages: { role: string; content: string; finishReason?: string }[]): string {
  return JSON.stringify(
    messages.map((m) => ({
      role: m.role,
      parts: [{ type: 'text', content: m.content }],
      ...(m.finishReason !== undefined && { finish_reason: m.finishReason }),
    })),
  );
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && code) return code;
  return err instanceof Error ? err.name : 'Error';
}

/**
 * Marks a span failed: status, `error.code` (the exporter drops `error.type` from customDimensions), and
 * the exception (an `exceptions` row in App Insights).
 */
export function markFailed(span: Span, err: unknown): void {
  span.setAttribute(ATTR.errorCode, errorCode(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  if (err instanceof Error) span.recordException(err);
}

/** A span that ends once, however its work ends (result, error, or a consumer that stopped early). */
abstract class TracedCall<R> {
  protected readonly span: Span;
  readonly context: Context;
  private ended = false;

  protected constructor(name: string, kind: SpanKind, attributes: Attributes) {
    const parent = context.active();
    this.span = tracer().startSpan(
      name,
      { kind, attributes: { ...runScopeAttributes(), ...attributes } },
      parent,
    );
    this.context = trace.setSpan(parent, this.span);
  }

  /** Runs `fn` with this span active (spans started in it are its children). */
  within<T>(fn: () => T): T {
    return context.with(this.context, fn);
  }

  /** Awaits `fn` within the span and ends the span with its result or error. */
  async track(fn: () => Promise<R>): Promise<R> {
    try {
      const result = await this.within(fn);
      this.end(result);
      return result;
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  /**
   * Relays a stream and ends the span with its result or error, or as abandoned when the consumer stops
   * early. The body is not run within the span (a generator has no scope): it uses `within` itself.
   */
  async *trackStream<T>(body: AsyncGenerator<T, R, void>): AsyncGenerator<T, R, void> {
    try {
      const result = yield* body;
      this.end(result);
      return result;
    } catch (err) {
      this.fail(err);
      throw err;
    } finally {
      this.close(); // the consumer stopped early
    }
  }

  end(result: R): void {
    if (this.ended) return;
    this.ended = true;
    try {
      this.describeResult(result);
    } catch {
      // A result it cannot describe still ends the span; the work is not failed for it.
    }
    this.span.end();
  }

  fail(err: unknown): void {
    if (this.ended) return;
    this.ended = true;
    markFailed(this.span, err);
    this.span.end();
  }

  /** Ends the span if nothing else did (the caller stopped consuming a stream). */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.span.setAttribute(ATTR.abandoned, true);
    this.span.end();
  }

  protected abstract describeResult(result: R): void;
}

/** `agent.run`: one agent call, from resolving the agent to its (validated) result. */
export class AgentRunSpan extends TracedCall<AgentRunResult> {
  private agentType = 'unknown';

  private constructor(private readonly task: { agent: string; prompt: string }) {
    super(SPANS.agentRun, SpanKind.INTERNAL, {
      [GEN_AI.operationName]: 'invoke_agent',
      [GEN_AI.agentName]: task.agent,
    });
  }

  static start(task: { agent: string; prompt: string }): AgentRunSpan {
    return new AgentRunSpan(task);
  }

  /** What the agent resolved to (set once the definition and model are known). */
  describe(agent: {
    id: string;
    name: string;
    type: string;
    provider: string;
    model: string;
    maxTokens?: number;
    temperature?: number;
  }): void {
    this.agentType = agent.type;
    this.span.setAttributes({
      [GEN_AI.agentId]: agent.id,
      [GEN_AI.agentName]: agent.name,
      [ATTR.agentType]: agent.type,
      [GEN_AI.system]: genAiSystem(agent.provider),
      [ATTR.llmProvider]: agent.provider,
      [GEN_AI.requestModel]: agent.model,
      ...(agent.maxTokens !== undefined && { [GEN_AI.requestMaxTokens]: agent.maxTokens }),
      ...(agent.temperature !== undefined && { [GEN_AI.requestTemperature]: agent.temperature }),
    });
  }

  protected describeResult(result: AgentRunResult): void {
    const finish = result.metadata.finish_reason;
    this.span.setAttributes({
      [GEN_AI.responseModel]: result.model,
      [GEN_AI.inputTokens]: result.tokenUsage.prompt,
      [GEN_AI.outputTokens]: result.tokenUsage.completion,
      [ATTR.costUsd]: result.cost.total,
      [ATTR.llmCached]: result.metadata.cached === true,
      ...(typeof finish === 'string' && { [GEN_AI.finishReasons]: [finish] }),
    });
    if (shouldRecordContent()) {
      this.span.setAttributes({
        [GEN_AI.inputMessages]: messagesJson([{ role: 'user', content: this.task.prompt }]),
        [GEN_AI.outputMessages]: messagesJson([
          {
            role: 'assistant',
            content: result.output,
            ...(typeof finish === 'string' && { finishReason: finish }),
          },
        ]),
      });
    }
    recordAgentUsage({
      agentType: this.agentType,
      model: result.model,
      inputTokens: result.tokenUsage.prompt,
      outputTokens: result.tokenUsage.completion,
      costUsd: result.cost.total,
    });
  }
}

/** `llm.generation`: one model call through the resilience layer (all its attempts). */
export class LlmGenerationSpan extends TracedCall<ChatResult> {
  private constructor(
    provider: string,
    private readonly request: ChatRequest,
  ) {
    super(SPANS.llmGeneration, SpanKind.CLIENT, {
      [GEN_AI.operationName]: 'chat',
      [GEN_AI.system]: genAiSystem(provider),
      [ATTR.llmProvider]: provider,
      [GEN_AI.requestModel]: request.model,
      ...(request.maxTokens !== undefined && { [GEN_AI.requestMaxTokens]: request.maxTokens }),
      ...(request.temperature !== undefined && { [GEN_AI.requestTemperature]: request.temperature }),
    });
  }

  static start(provider: string, request: ChatRequest): LlmGenerationSpan {
    return new LlmGenerationSpan(provider, request);
  }

  protected describeResult(result: ChatResult): void {
    this.span.setAttributes({
      [GEN_AI.responseModel]: result.model,
      [GEN_AI.inputTokens]: result.usage.prompt,
      [GEN_AI.outputTokens]: result.usage.completion,
      [GEN_AI.finishReasons]: [result.finishReason],
      [ATTR.llmAttempts]: result.attempts ?? 1,
    });
    if (shouldRecordContent()) {
      const input: ChatMessage[] = this.request.messages;
      this.span.setAttributes({
        [GEN_AI.inputMessages]: messagesJson(input),
        [GEN_AI.outputMessages]: messagesJson([
          { role: 'assistant', content: result.content, finishReason: result.finishReason },
        ]),
      });
    }
  }
}
