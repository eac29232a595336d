/**
 * OfflineChatModel: a deterministic model that needs no network or key. It answers in the style of
 * the asking agent's role (see offline-content.ts), reviews content with real checks when it plays
 * the validator, counts tokens with the real tokenizer, streams token by token, and can inject faults
 * (OFFLINE_FAULTS) so retries, breakers and structured-output repair can be exercised end to end.
 * Answers are cached per prompt: the API benchmark sends the same prompts over and over.
 */
import { decodeGenerator, encode, decode } from 'gpt-tokenizer';
import { ConfigError } from '../errors';
import { LlmError } from './errors';
import { cancelledError, sleep, systemClock, type Clock } from './limiter';
import {
  detectRole,
  fromSchema,
  hashText,
  writeArchitect,
  writeBuilder,
  writeGeneric,
  writeScribe,
  type OfflineRole,
} from './offline-content';
import { countMessageTokens, countTextTokens } from './tokens';
import type { ChatChunk, ChatModel, ChatRequest, ChatResult, ResponseFormat } from './types';

export interface OfflineOptions {
  model?: string;
  /** Delay before the first token (and before a `complete` answer). */
  latencyMs?: number;
  /** Delay between streamed tokens. */
  tokenDelayMs?: number;
  /** Faults for the next calls, one per call: `429`, `429:<retryAfterMs>`, `500`, `timeout`, `malformed`, `ok`. */
  faults?: string[];
  clock?: Clock;
}

export type OfflineFault =
  { kind: 'ok' | '500' | 'timeout' | 'malformed' } | { kind: '429'; retryAfterMs: number };

/** Parses the fault list; an unknown entry is a ConfigError naming OFFLINE_FAULTS. */
export function parseFaults(faults: string[]): OfflineFault[] {
  return faults.map((raw) => {
    const f = raw.trim().toLowerCase();
    const throttle = /^429(?::(\d+))?$/.exec(f);
    if (throttle) return { kind: '429', retryAfterMs: throttle[1] ? Number(throttle[1]) : 10 };
    if (f === 'ok' || f === '500' || f === 'timeout' || f === 'malformed') return { kind: f };
    throw new ConfigError(
      `OFFLINE_FAULTS: unknown fault '${raw}' (expected 429, 429:<ms>, 500, timeout, malformed or ok).`,
    );
  });
}

interface Answer {
  content: string;
  promptTokens: number;
  completionTokens: number;
  /** The content split into decoded tokens, computed on first stream. */
  pieces?: string[];
}

/** Answers kept per model instance (first in, first out). */
const MAX_CACHED_ANSWERS = 256;

export class OfflineChatModel implements ChatModel {
  readonly provider = 'offline' as const;
  /** Structured output is honoured: JSON is generated to fit the requested schema. */
  readonly supportsJsonSchema = true;
  readonly model: string;
  private readonly faults: OfflineFault[];
  private nextFault = 0;
  private readonly answers = new Map<string, Answer>();
  private readonly clock: Clock;

  constructor(private readonly options: OfflineOptions = {}) {
    this.model = options.model ?? 'offline-1';
    this.faults = parseFaults(options.faults ?? []);
    this.clock = options.clock ?? systemClock;
  }

  /** Faults not yet consumed. */
  get pendingFaults(): number {
    return this.faults.length - this.nextFault;
  }

  async complete(req: ChatRequest): Promise<ChatResult> {
    const answer = await this.begin(req);
    const { content, completion, finishReason } = this.limit(answer, req.maxTokens);
    return this.result(req, content, answer.promptTokens, completion, finishReason);
  }

  async *stream(req: ChatRequest): AsyncGenerator<ChatChunk, ChatResult, void> {
    const answer = await this.begin(req);
    const { content, completion, finishReason } = this.limit(answer, req.maxTokens);
    const pieces = content === answer.content ? (answer.pieces ??= split(content)) : split(content);
    const delay = this.options.tokenDelayMs ?? 0;
    for (let i = 0; i < pieces.length; i++) {
      if (delay > 0 && i > 0) await sleep(this.clock, delay, req.signal, this.provider);
      if (req.signal?.aborted) throw cancelledError(this.provider);
      yield { delta: pieces[i]! };
    }
    return this.result(req, content, answer.promptTokens, completion, finishReason);
  }

  /** Waits out the latency, applies the next fault, and returns the answer. */
  private async begin(req: ChatRequest): Promise<Answer> {
    if (req.signal?.aborted) throw cancelledError(this.provider);
    const fault = this.faults[this.nextFault];
    if (fault) this.nextFault++;
    await sleep(this.clock, this.options.latencyMs ?? 0, req.signal, this.provider);
    const info = { provider: this.provider };
    switch (fault?.kind) {
      case '429':
        throw new LlmError('LLM.RATE_LIMITED', 'Offline model: injected fault 429 (rate limited).', {
          ...info,
          httpStatus: 429,
          retryAfterMs: fault.retryAfterMs,
        });
      case '500':
        throw new LlmError('LLM.SERVER_ERROR', 'Offline model: injected fault 500 (server error).', {
          ...info,
          httpStatus: 500,
        });
      case 'timeout':
        throw new LlmError('LLM.TIMEOUT', 'Offline model: injected fault timeout.', info);
      case 'malformed': {
        const good = this.answer(req);
        const content = `Here is the result:\n${good.content.slice(0, Math.ceil(good.content.length / 2))}`;
        return { content, promptTokens: good.promptTokens, completionTokens: countTextTokens(content) };
      }
      default:
        return this.answer(req);
    }
  }

  /** The (cached) full answer to this request. */
  private answer(req: ChatRequest): Answer {
    const role = detectRole(req.agentRole, req.messages);
    let key = `${role}\u0001${formatKey(req.responseFormat)}`;
    for (const m of req.messages) key += `\u0001${m.role}\u0002${m.content}`;
    const cached = this.answers.get(key);
    if (cached) return cached;
    const content = write(role, req);
    const answer = {
      content,
      promptTokens: countMessageTokens(req.messages),
      completionTokens: countTextTokens(content),
    };
    if (this.answers.size >= MAX_CACHED_ANSWERS) this.answers.delete(this.answers.keys().next().value!);
    this.answers.set(key, answer);
    return answer;
  }

  /** Truncates to maxTokens (finish reason `length`), as a real model would. */
  private limit(
    answer: Answer,
    maxTokens?: number,
  ): { content: string; completion: number; finishReason: string } {
    if (maxTokens === undefined || answer.completionTokens <= maxTokens) {
      return { content: answer.content, completion: answer.completionTokens, finishReason: 'stop' };
    }
    const content = decode(encode(answer.content).slice(0, Math.max(0, maxTokens))).replace(/\uFFFD+$/, '');
    return { content, completion: countTextTokens(content), finishReason: 'length' };
  }

  private result(
    req: ChatRequest,
    content: string,
    prompt: number,
    completion: number,
    finishReason: string,
  ): ChatResult {
    return {
      content,
      model: req.model || this.model,
      usage: { prompt, completion, total: prompt + completion },
      finishReason,
      provider: this.provider,
    };
  }
}

/** The content as decoded tokens; they concatenate back to exactly the content. */
function split(content: string): string[] {
  return [...decodeGenerator(encode(content))];
}

const firstParagraph = (text: string): string => (text.trim().split(/\n\s*\n/, 1)[0] ?? '').slice(0, 300);

function formatKey(format?: ResponseFormat): string {
  return format ? JSON.stringify(format) : '';
}

/** The shared context, as the agent runner sends it: a system message after the agent's prompt. */
const CONTEXT = /^Project Context:\s*/;

/** What the role says, shaped to the requested response format. */
function write(role: OfflineRole, req: ChatRequest): string {
  const users = req.messages.filter((m) => m.role === 'user').map((m) => m.content);
  const prompt = users.at(-1) ?? '';
  if (role === 'echo') return prompt;
  const context = req.messages
    .filter((m) => m.role === 'system' && CONTEXT.test(m.content))
    .map((m) => m.content.replace(CONTEXT, ''));
  if (role === 'validator') {
    // What is asked: the first paragraph of each user message (the artifact usually follows it).
    const instruction = users.map(firstParagraph).join('\n');
    return JSON.stringify(reviewContent(instruction, [...context, ...users]), null, 2);
  }
  const all = [...context, ...users].join('\n\n');
  const h = hashText(all);
  const text =
    role === 'architect'
      ? writeArchitect(prompt, h)
      : role === 'builder'
        ? writeBuilder(prompt, all, h)
        : role === 'scribe'
          ? writeScribe(prompt, h)
          : writeGeneric(prompt, h);
  const format = req.responseFormat;
  if (format?.type === 'json_schema') return JSON.stringify(fromSchema(format.schema, text));
  if (format?.type === 'json_object') return JSON.stringify({ answer: text });
  return text;
}

export type Severity = 'error' | 'warning' | 'info';

export interface Verdict {
  score: number;
  pass: boolean;
  issues: { severity: Severity; message: string }[];
}

const PENALTY: Record<Severity, number> = { error: 25, warning: 10, info: 2 };
const DIAGRAM =
  /^\s*(flowchart|graph|sequenceDiagram|classDiagram|stateDiagram(-v2)?|erDiagram|gantt|pie|journey|mindmap|timeline|C4\w+)\b/;

/**
 * The offline validator: real checks over the content it is given (the shared context and the user
 * messages; JSON values are flattened to their strings). `instruction` (the start of each user
 * message) says what kind of artifact is expected. Score: 100 minus 25 per error, 10 per warning and
 * 2 per info; pass = no error and a score of at least 70.
 */
export function reviewContent(instruction: string, contents: string[]): Verdict {
  const text = contents.map(flatten).join('\n\n').trim();
  if (!text) {
    const message = 'There is nothing to review: the content is empty.';
    return { score: 0, pass: false, issues: [{ severity: 'error', message }] };
  }
  const issues: Verdict['issues'] = [];
  const add = (severity: Severity, message: string) => issues.push({ severity, message });
  const ask = instruction.slice(0, 300);
  const lines = text.split('\n');
  const fenced = /^(?:```|~~~)[ \t]*([\w-]*)[^\n]*\n([\s\S]*?)^(?:```|~~~)/gm;
  const blocks = [...text.matchAll(fenced)].map((m) => ({ lang: m[1]!.toLowerCase(), body: m[2]! }));
  const isDesign = /\b(design|architecture)\b/i.test(ask) || /^##\s+components/im.test(text);
  const wantsCode = !isDesign && /\b(code|implementation|implement|module|function)s?\b/i.test(ask);
  const isDocs = /\b(docs?|documentation|readme|guide)\b/i.test(ask);

  if (text.length < 80) add('warning', `The content is very short (${text.length} characters).`);
  const fences = lines.filter((l) => /^\s*(```|~~~)/.test(l)).length;
  if (fences % 2 === 1)
    add('error', `Unbalanced code fences: ${fences} fence line(s), so a code block is never closed.`);
  const todo = lines.findIndex((l) => /\b(TODO|FIXME|XXX)\b/.test(l));
  if (todo >= 0) {
    const count = (text.match(/\b(TODO|FIXME|XXX)\b/g) ?? []).length;
    add('warning', `${count} TODO/FIXME marker(s) left in the content (first on line ${todo + 1}).`);
  }
  if (/lorem ipsum/i.test(text)) add('error', 'Placeholder text ("lorem ipsum") is still in the content.');
  if (/\bTBD\b|<insert [^>]*>|\[placeholder\]/i.test(text)) {
    add('warning', 'Placeholder markers (TBD, <insert ...>, [placeholder]) are still in the content.');
  }
  // Prose may run long on one line (markdown wraps it); code lines over 200 characters may not.
  const long = blocks.flatMap((b) => b.body.split('\n')).filter((l) => l.length > 200);
  if (long.length > 0) {
    const longest = Math.max(...long.map((l) => l.length));
    add('warning', `${long.length} code line(s) exceed 200 characters (longest: ${longest}).`);
  }
  if (wantsCode && fences === 0) add('error', 'Code was expected but there is no fenced code block.');
  if (isDesign && !blocks.some((b) => b.lang === 'mermaid'))
    add('warning', 'The design has no mermaid diagram.');
  if ((isDesign || isDocs) && !/^#{1,6}\s+\S/m.test(text)) {
    add('warning', 'The document has no markdown headings.');
  }
  for (const b of blocks) {
    if (b.lang === 'mermaid' && !DIAGRAM.test(b.body)) {
      add('error', 'A mermaid block does not start with a diagram type (flowchart, sequenceDiagram, ...).');
    }
    if (b.lang === 'json') {
      const problem = jsonProblem(b.body);
      if (problem) add('error', `A json code block is not valid JSON: ${problem}.`);
    }
  }
  if (/\bjson\b/i.test(ask)) {
    // JSON claimed: from the first line (outside code blocks) opening an object or array, valid JSON.
    for (const c of contents) {
      const json = /^[[{][\s\S]*/m.exec(c.replace(fenced, '').trim())?.[0];
      const problem = json === undefined ? undefined : jsonProblem(json);
      if (problem) add('error', `The content should be JSON but does not parse: ${problem}.`);
    }
  }
  const score = Math.max(0, 100 - issues.reduce((sum, i) => sum + PENALTY[i.severity], 0));
  return { score, pass: score >= 70 && !issues.some((i) => i.severity === 'error'), issues };
}

function jsonProblem(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** A JSON message (e.g. shared context) reviewed as its string values, one after the other. */
function flatten(content: string): string {
  const trimmed = content.trim();
  if (!/^[[{]/.test(trimmed)) return content;
  try {
    const strings: string[] = [];
    const walk = (v: unknown): void => {
      if (typeof v === 'string') strings.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(JSON.parse(trimmed));
    return strings.join('\n\n');
  } catch {
    return content;
  }
}
