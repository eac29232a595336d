/**
 * Structured output for agents with an output schema. The schema goes to the model natively
 * (`response_format: json_schema`) when it supports that, else as an instruction; the reply is parsed
 * and validated either way, because neither path guarantees valid output. One repair attempt shows the
 * model its own reply and the violations; a second failure is AGENT.INVALID_OUTPUT, never a
 * success-shaped result.
 */
import type {
  ChatMessage,
  ChatModel,
  ChatRequest,
  ChatResult,
  ResponseFormat,
  TokenUsage,
} from '../llm/types';
import { AgentError } from './errors';
import { isStrictCompatible, validateAgainst } from './json-schema';

export interface OutputSpec {
  schema: Record<string, unknown>;
  /** The agent's id (the response format's name) and display name (for messages). */
  agentId: string;
  agentName: string;
}

export interface StructuredOutcome {
  /** The reply's JSON text (fences stripped). */
  output: string;
  parsed: unknown;
  /** Every model call made, in order (1 or 2). */
  results: ChatResult[];
  usage: TokenUsage;
}

/** Rebuilds the (budgeted) request with the repair turns appended after the latest input. */
export type Rebudget = (trailing: ChatMessage[]) => { messages: ChatMessage[]; maxTokens: number };

const MAX_LISTED_PROBLEMS = 20;

/** The native response format, when the model honours one. OpenAI names allow [a-zA-Z0-9_-]{1,64}. */
export function responseFormatFor(model: ChatModel, spec: OutputSpec): ResponseFormat | undefined {
  if (!model.supportsJsonSchema) return undefined;
  const name = spec.agentId.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64) || 'output';
  return { type: 'json_schema', name, schema: spec.schema, strict: isStrictCompatible(spec.schema) };
}

/** For models without native support: the schema as a system instruction. */
export function schemaInstruction(schema: Record<string, unknown>): ChatMessage {
  return {
    role: 'system',
    content:
      'Answer with only a JSON value that matches this JSON Schema: no prose, no code fences.\n' +
      JSON.stringify(schema),
  };
}

/** The body of the reply's first ```json fence, if it has one. */
function fencedBody(text: string): string | undefined {
  return /```(?:json|JSON)?[ \t]*\r?\n([\s\S]*?)\r?\n?```/.exec(text)?.[1]?.trim();
}

type Checked = { ok: true; output: string; parsed: unknown } | { ok: false; problems: string[] };

/** Parses the reply as JSON (as is, else the body of its code fence) and validates it. */
export function checkOutput(text: string, schema: Record<string, unknown>): Checked {
  const trimmed = text.trim();
  if (!trimmed) return { ok: false, problems: ['the reply is empty, not JSON'] };
  // The reply as is first: a JSON string value may itself contain a fence.
  let output = trimmed;
  let value: unknown;
  try {
    value = JSON.parse(output);
  } catch (err) {
    const body = fencedBody(trimmed);
    try {
      if (body === undefined) throw err;
      output = body;
      value = JSON.parse(output);
    } catch (e) {
      return { ok: false, problems: [`the reply is not JSON (${(e as Error).message})`] };
    }
  }
  const result = validateAgainst(schema, value);
  return result.ok ? { ok: true, output, parsed: result.value } : { ok: false, problems: result.problems };
}

export function sumUsage(results: ChatResult[]): TokenUsage {
  return results.reduce(
    (acc, r) => ({
      prompt: acc.prompt + r.usage.prompt,
      completion: acc.completion + r.usage.completion,
      total: acc.total + r.usage.total,
    }),
    { prompt: 0, completion: 0, total: 0 },
  );
}

const listProblems = (problems: string[]): string =>
  problems.slice(0, MAX_LISTED_PROBLEMS).join('; ') +
  (problems.length > MAX_LISTED_PROBLEMS ? `; and ${problems.length - MAX_LISTED_PROBLEMS} more` : '');

export function repairMessage(problems: string[]): ChatMessage {
  return {
    role: 'user',
    content: `Your previous reply was not valid: ${listProblems(problems)}. Reply again with only JSON matching the schema.`,
  };
}

/** Validates a first reply (completed or streamed); when invalid, asks once more, not streamed. */
export async function validateOrRepair(args: {
  model: ChatModel;
  request: ChatRequest;
  first: ChatResult;
  spec: OutputSpec;
  rebudget?: Rebudget;
}): Promise<StructuredOutcome> {
  const { model, request, first, spec } = args;
  const results = [first];
  const checked = checkOutput(first.content, spec.schema);
  if (checked.ok)
    return { output: checked.output, parsed: checked.parsed, results, usage: sumUsage(results) };

  const trailing: ChatMessage[] = [
    { role: 'assistant', content: first.content },
    repairMessage(checked.problems),
  ];
  const fitted = args.rebudget?.(trailing) ?? {
    messages: [...request.messages, ...trailing],
    maxTokens: request.maxTokens,
  };
  const second = await model.complete({ ...request, messages: fitted.messages, maxTokens: fitted.maxTokens });
  results.push(second);
  const again = checkOutput(second.content, spec.schema);
  if (again.ok) return { output: again.output, parsed: again.parsed, results, usage: sumUsage(results) };

  throw new AgentError(
    'AGENT.INVALID_OUTPUT',
    `Agent '${spec.agentName}' did not produce output matching its output schema after ${results.length} ` +
      `attempts: ${listProblems(again.problems)}`,
    {
      violations: again.problems,
      attempts: results.length,
      tokenUsage: sumUsage(results),
      model: second.model,
    },
  );
}

/** One completion validated against the schema, with the one repair attempt. */
export async function completeStructured(args: {
  model: ChatModel;
  request: ChatRequest;
  spec: OutputSpec;
  rebudget?: Rebudget;
}): Promise<StructuredOutcome> {
  const first = await args.model.complete(args.request);
  return validateOrRepair({ ...args, first });
}
