/**
 * The ChatModel adapter over the official `openai` SDK for OpenAI, Azure OpenAI (API key or Entra ID)
 * and OpenAI-compatible servers (Ollama, vLLM, LM Studio, llama.cpp). The SDK's own retries are off:
 * ResilientChatModel retries. Every failure leaves as an LlmError with a clear message and no key.
 * The SDK and @azure/identity load on first use, so offline-only processes never pay for them.
 */
import type { TokenCredential } from '@azure/identity';
import type OpenAI from 'openai';
import type { APIError } from 'openai';
import type { ChatCompletionCreateParamsBase } from 'openai/resources/chat/completions';
import type { ProviderName } from '../config';
import { LlmError } from './errors';
import { cancelledError } from './limiter';
import { countMessageTokens, countTextTokens } from './tokens';
import type { ChatChunk, ChatModel, ChatRequest, ChatResult, ResponseFormat, TokenUsage } from './types';

export type RemoteProvider = Exclude<ProviderName, 'offline'>;
type Sdk = typeof import('openai');

export const AZURE_SCOPE = 'https://cognitiveservices.azure.com/.default';

export interface OpenAIChatModelOptions {
  provider: RemoteProvider;
  /** openai / openai-compatible: the API base URL, e.g. `http://127.0.0.1:11434/v1`. */
  baseUrl?: string;
  /** azure-openai: the resource endpoint, API version and deployment. */
  endpoint?: string;
  apiVersion?: string;
  deployment?: string;
  apiKey?: string;
  /** azure-openai without a key: Entra ID bearer tokens (default: from `credential`). */
  azureTokenProvider?: () => Promise<string>;
  /** azure-openai without a key or token provider (default: DefaultAzureCredential). */
  credential?: TokenCredential;
  timeoutMs: number;
  /** Whether json_schema response formats are sent as such (default: true except openai-compatible). */
  supportsJsonSchema?: boolean;
  fetch?: typeof fetch;
}

const LABEL: Record<RemoteProvider, string> = {
  openai: 'OpenAI',
  'azure-openai': 'Azure OpenAI',
  'openai-compatible': 'the OpenAI-compatible server',
};

const KEY_SETTING: Record<RemoteProvider, string> = {
  openai: 'OPENAI_API_KEY',
  'azure-openai': "AZURE_OPENAI_API_KEY, or the identity's 'Cognitive Services OpenAI User' role",
  'openai-compatible': 'OPENAI_COMPATIBLE_API_KEY',
};

/** Entra ID tokens for Azure OpenAI; loads @azure/identity on first use (DefaultAzureCredential by default). */
export function createAzureTokenProvider(credential?: TokenCredential): () => Promise<string> {
  let provider: Promise<() => Promise<string>> | undefined;
  return async () => {
    provider ??= import('@azure/identity').then((id) =>
      id.getBearerTokenProvider(credential ?? new id.DefaultAzureCredential(), AZURE_SCOPE),
    );
    try {
      const getToken = await provider;
      return await getToken();
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new LlmError('LLM.AUTH', `Could not get an Entra ID token for Azure OpenAI: ${reason}`, {
        provider: 'azure-openai',
        cause: err,
      });
    }
  };
}

export class OpenAIChatModel implements ChatModel {
  readonly provider: RemoteProvider;
  readonly supportsJsonSchema: boolean;
  private sdk?: Sdk;
  private client?: Promise<OpenAI>;

  constructor(private readonly options: OpenAIChatModelOptions) {
    this.provider = options.provider;
    this.supportsJsonSchema = options.supportsJsonSchema ?? options.provider !== 'openai-compatible';
  }

  /** Where calls go (no secrets): for messages. */
  get target(): string {
    const o = this.options;
    return o.provider === 'azure-openai'
      ? `${o.endpoint} (deployment '${o.deployment}')`
      : (o.baseUrl ?? 'api.openai.com');
  }

  async complete(req: ChatRequest): Promise<ChatResult> {
    try {
      const client = await this.connect();
      const res = await client.chat.completions.create(
        { ...this.params(req), stream: false },
        { signal: req.signal },
      );
      const choice = res.choices[0];
      const content = choice?.message.content ?? '';
      return this.result(req, content, choice?.finish_reason ?? 'stop', res.usage, res.model);
    } catch (err) {
      throw this.classify(err, req);
    }
  }

  async *stream(req: ChatRequest): AsyncGenerator<ChatChunk, ChatResult, void> {
    let content = '';
    let finishReason = 'stop';
    let usage: OpenAI.CompletionUsage | undefined;
    let model: string | undefined;
    try {
      const client = await this.connect();
      const chunks = await client.chat.completions.create(
        { ...this.params(req), stream: true, stream_options: { include_usage: true } },
        { signal: req.signal },
      );
      for await (const chunk of chunks) {
        model ??= chunk.model;
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices[0];
        if (choice?.finish_reason) finishReason = choice.finish_reason;
        const delta = choice?.delta.content;
        if (delta) {
          content += delta;
          yield { delta };
        }
      }
    } catch (err) {
      throw this.classify(err, req);
    }
    // The SDK ends an aborted stream quietly: make the abort visible.
    if (req.signal?.aborted) throw cancelledError(this.provider);
    return this.result(req, content, finishReason, usage, model);
  }

  private result(
    req: ChatRequest,
    content: string,
    finishReason: string,
    usage: OpenAI.CompletionUsage | null | undefined,
    model: string | undefined,
  ): ChatResult {
    if (finishReason === 'content_filter') {
      const message = `${LABEL[this.provider]} filtered the answer (finish_reason content_filter).`;
      throw new LlmError('LLM.CONTENT_FILTERED', message, { provider: this.provider });
    }
    return {
      content,
      // The model the server reports (e.g. a dated version): the best name to price with.
      model: model || req.model,
      usage: toUsage(req, content, usage),
      finishReason,
      provider: this.provider,
    };
  }

  private params(req: ChatRequest): ChatCompletionCreateParamsBase {
    // Reasoning models take max_completion_tokens and reject a non-default temperature.
    const reasoning = /^(o\d|gpt-5)/i.test(req.model);
    return {
      model: req.model,
      messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
      ...(req.maxTokens === undefined
        ? {}
        : reasoning
          ? { max_completion_tokens: req.maxTokens }
          : { max_tokens: req.maxTokens }),
      ...(req.temperature === undefined || reasoning ? {} : { temperature: req.temperature }),
      ...(req.responseFormat ? { response_format: this.responseFormat(req.responseFormat) } : {}),
    };
  }

  /** json_schema where supported, else json_object (the schema is then the prompt's business). */
  private responseFormat(format: ResponseFormat): ChatCompletionCreateParamsBase['response_format'] {
    if (format.type === 'json_object' || !this.supportsJsonSchema) return { type: 'json_object' };
    return {
      type: 'json_schema',
      json_schema: { name: format.name, schema: format.schema, strict: format.strict ?? true },
    };
  }

  private connect(): Promise<OpenAI> {
    this.client ??= import('openai').then((sdk) => {
      this.sdk = sdk;
      const o = this.options;
      const common = {
        maxRetries: 0,
        timeout: o.timeoutMs,
        fetch: o.fetch,
        organization: null,
        project: null,
      };
      if (o.provider !== 'azure-openai') {
        return new sdk.OpenAI({
          ...common,
          apiKey: o.apiKey ?? 'not-needed',
          baseURL: o.baseUrl ?? 'https://api.openai.com/v1',
        });
      }
      const auth = o.apiKey
        ? { apiKey: o.apiKey }
        : { azureADTokenProvider: o.azureTokenProvider ?? createAzureTokenProvider(o.credential) };
      // baseURL rather than endpoint: the SDK would otherwise also read OPENAI_BASE_URL from the environment.
      const baseURL = `${(o.endpoint ?? '').replace(/\/+$/, '')}/openai`;
      return new sdk.AzureOpenAI({
        ...common,
        ...auth,
        baseURL,
        apiVersion: o.apiVersion,
        deployment: o.deployment,
      });
    });
    return this.client;
  }

  /** Maps any failure to an LlmError: cancellation, then transport failures, then the HTTP answer. */
  private classify(err: unknown, req: ChatRequest): LlmError {
    if (err instanceof LlmError) return err;
    // The SDK wraps failures of the token provider (ours throw LLM.AUTH).
    const cause = (err as { cause?: unknown } | undefined)?.cause;
    if (cause instanceof LlmError) return cause;
    const sdk = this.sdk;
    if (req.signal?.aborted || (sdk && err instanceof sdk.APIUserAbortError))
      return cancelledError(this.provider);
    const where = `${LABEL[this.provider]} at ${this.target}`;
    const info = { provider: this.provider, cause: err };
    if (sdk && err instanceof sdk.APIConnectionTimeoutError) {
      return new LlmError(
        'LLM.TIMEOUT',
        `${where} did not respond within ${this.options.timeoutMs} ms.`,
        info,
      );
    }
    const socket = socketCode(err);
    if (socket || (sdk && err instanceof sdk.APIConnectionError)) {
      const reason = socket ?? (cause instanceof Error ? cause.message : String(err));
      return new LlmError('LLM.CONNECTION', `Cannot connect to ${where}: ${reason}.`, info);
    }
    if (sdk && err instanceof sdk.APIError) return this.classifyAnswer(err as APIError, req, where, info);
    const reason = this.redact(err instanceof Error ? err.message : String(err));
    return new LlmError('LLM.SERVER_ERROR', `Unexpected failure from ${where}: ${reason}`, info);
  }

  /** An error the provider answered with: by HTTP status, then by error code. */
  private classifyAnswer(err: APIError, req: ChatRequest, where: string, cause: object): LlmError {
    const { status } = err;
    const detail = this.redact(err.message);
    const code = typeof err.code === 'string' ? err.code : '';
    const info = { ...cause, httpStatus: status };
    // A 429 for an exhausted quota is billing, not throttling: waiting does not help.
    if (status === 429 && code !== 'insufficient_quota') {
      const retryAfterMs = parseRetryAfter(err.headers);
      return new LlmError('LLM.RATE_LIMITED', `${where} is rate limiting requests: ${detail}`, {
        ...info,
        retryAfterMs,
      });
    }
    // No status: an error event inside a stream.
    if (status === undefined || status === 408 || status >= 500) {
      return new LlmError('LLM.SERVER_ERROR', `${where} failed: ${detail}`, info);
    }
    if (status === 401 || status === 403) {
      const check = KEY_SETTING[this.provider];
      return new LlmError(
        'LLM.AUTH',
        `${where} rejected the credentials (HTTP ${status}); check ${check}.`,
        info,
      );
    }
    if (status === 404) {
      const azure = this.provider === 'azure-openai';
      const what = azure ? `deployment '${this.options.deployment ?? req.model}'` : `model '${req.model}'`;
      const hint = azure ? 'AZURE_OPENAI_DEPLOYMENT' : 'LLM_MODEL';
      return new LlmError(
        'LLM.NOT_FOUND',
        `${where}: ${what} was not found (check ${hint} / AGENT_MODELS).`,
        info,
      );
    }
    if (code === 'context_length_exceeded' || /maximum context length/i.test(err.message)) {
      const message = `The prompt does not fit the context window of '${req.model}': ${detail}`;
      return new LlmError('LLM.CONTEXT_OVERFLOW', message, info);
    }
    if (code === 'content_filter' || /content.?filter|ResponsibleAIPolicyViolation/i.test(err.message)) {
      return new LlmError('LLM.CONTENT_FILTERED', `${where} filtered the prompt: ${detail}`, info);
    }
    return new LlmError('LLM.BAD_REQUEST', `${where} refused the request (HTTP ${status}): ${detail}`, info);
  }

  /** Never let a key (or a provider's echo of one) into a message. */
  private redact(text: string): string {
    const key = this.options.apiKey;
    const out = key && key.length >= 4 ? text.split(key).join('***') : text;
    return out.replace(/\b(sk|key)-[\w*-]{4,}/gi, '$1-***');
  }
}

function toUsage(
  req: ChatRequest,
  content: string,
  usage: OpenAI.CompletionUsage | null | undefined,
): TokenUsage {
  if (usage)
    return { prompt: usage.prompt_tokens, completion: usage.completion_tokens, total: usage.total_tokens };
  // Some compatible servers send no usage: count with our tokenizer.
  const prompt = countMessageTokens(req.messages);
  const completion = countTextTokens(content);
  return { prompt, completion, total: prompt + completion };
}

/** The system error code in an error's cause chain (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET…). */
function socketCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(E[A-Z]+|UND_ERR_\w+)$/.test(code)) return code;
  }
  return undefined;
}

/** Retry-After from a 429: `retry-after-ms` (ms), else `retry-after` (seconds or an HTTP date). */
export function parseRetryAfter(headers: Headers | undefined, now = Date.now()): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers?.get('retry-after')?.trim();
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
