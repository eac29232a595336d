/**
 * The names telemetry is queried by (docs/telemetry.md lists where each lands in Application Insights;
 * the workbook depends on them): span names, attribute keys, metric names and custom event names. Change
 * one and you change a contract.
 */

/** Tracer, meter and logger name (`cloud_RoleName` comes from the Functions app, not from this). */
export const INSTRUMENTATION_SCOPE = 'agent-functions';

export const SPANS = {
  /** A workflow run, from its start to its terminal status (made when the run ends). */
  workflowRun: 'workflow.run',
  /** One step of a run, from its start to its terminal status (made when the step ends). */
  workflowStep: 'workflow.step',
  /** One agent call: prompt rendering, budgeting, model call(s), structured-output repair. */
  agentRun: 'agent.run',
  /** One model call (all its retries), as the resilience layer makes it. */
  llmGeneration: 'llm.generation',
} as const;

/** OpenTelemetry GenAI semantic-convention attributes. */
export const GEN_AI = {
  system: 'gen_ai.system',
  operationName: 'gen_ai.operation.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  finishReasons: 'gen_ai.response.finish_reasons',
  requestMaxTokens: 'gen_ai.request.max_tokens',
  requestTemperature: 'gen_ai.request.temperature',
  agentName: 'gen_ai.agent.name',
  agentId: 'gen_ai.agent.id',
  tokenType: 'gen_ai.token.type',
  /** Content (only with TELEMETRY_RECORD_CONTENT): JSON messages, as the GenAI conventions shape them. */
  inputMessages: 'gen_ai.input.messages',
  outputMessages: 'gen_ai.output.messages',
} as const;

/** Our own attributes (spans, metric dimensions, event properties). */
export const ATTR = {
  runId: 'run.id',
  stepId: 'step.id',
  /** Which call of a step (`design`, `analysis/branch-2`, `review/validator-3`). */
  stepCall: 'step.call',
  stepKind: 'step.kind',
  /** Agent calls a step made (review iterations, parallel branches, chat turns). */
  stepAttempts: 'step.attempts',
  stepStatus: 'step.status',
  runStatus: 'run.status',
  agentType: 'agent.type',
  tenantId: 'tenant.id',
  workflowId: 'workflow.id',
  workflowVersion: 'workflow.version',
  /** Our provider name (`offline`, `openai`, `azure-openai`, `openai-compatible`). */
  llmProvider: 'llm.provider',
  llmAttempts: 'llm.attempts',
  llmCached: 'llm.cached',
  costUsd: 'cost.usd',
  tokensTotal: 'tokens.total',
  durationMs: 'duration.ms',
  /** A stable code (`LLM.SERVER_ERROR`, `RUN.BUDGET_EXCEEDED`); the exporter drops `error.type`. */
  errorCode: 'error.code',
  /** The caller stopped consuming a streamed call before it ended. */
  abandoned: 'call.abandoned',
  /** Failures metric: `run` or `step`. */
  failureScope: 'failure.scope',
} as const;

export const METRICS = {
  /** Counter, `{token}`: tokens per agent call, by agent.type, gen_ai.response.model, gen_ai.token.type. */
  tokens: 'agent.tokens',
  /** Counter, `USD`: cost per agent call, by agent.type and gen_ai.response.model. */
  cost: 'agent.cost',
  /** Histogram, `ms`: duration of each step that ended, by workflow.id, step.kind, step.status, agent.type. */
  stepDuration: 'workflow.step.duration',
  /** Counter: runs and steps that failed, by failure.scope, error.code and workflow.id. */
  failures: 'workflow.failures',
} as const;

export const EVENTS = {
  runCompleted: 'RunCompleted',
  runFailed: 'RunFailed',
  runCancelled: 'RunCancelled',
} as const;

/** The attribute that makes an OpenTelemetry log record an Application Insights custom event. */
export const CUSTOM_EVENT_NAME = 'microsoft.custom_event.name';
/** Its numeric values (a JSON object), which land in customMeasurements. */
export const CUSTOM_MEASUREMENTS = 'microsoft.custom_measurements';
