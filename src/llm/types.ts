/**
 * The ChatModel port: what agents need from a language model. Adapters: OpenAI, Azure OpenAI
 * (key or Entra ID), any OpenAI-compatible endpoint, and the offline deterministic model.
 */
import type { ProviderName } from '../config';

export type Role = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: Role;
  content: string;
}

export type ResponseFormat =
  | { type: 'json_schema'; name: string; schema: Record<string, unknown>; strict?: boolean }
  | { type: 'json_object' };

export interface ChatRequest {
  messages: ChatMessage[];
  /** Model name (OpenAI, compatible) or deployment name (Azure OpenAI). */
  model: string;
  maxTokens?: number;
  temperature?: number;
  responseFormat?: ResponseFormat;
  signal?: AbortSignal;
  /** The agent role asking (the offline model answers in that role's style). */
  agentRole?: string;
}

export interface TokenUsage {
  prompt: number;
  completion: number;
  total: number;
}

export interface ChatResult {
  content: string;
  model: string;
  usage: TokenUsage;
  finishReason: string;
  provider: ProviderName;
  /** Served from the response cache. */
  cached?: boolean;
  /** Attempts it took (1 = first try). */
  attempts?: number;
}

export interface ChatChunk {
  delta: string;
}

export interface ChatModel {
  readonly provider: ProviderName;
  /** Whether `responseFormat: json_schema` is honoured natively. */
  readonly supportsJsonSchema: boolean;
  complete(req: ChatRequest): Promise<ChatResult>;
  /** Yields content deltas as they arrive and returns the final result (with usage). */
  stream(req: ChatRequest): AsyncGenerator<ChatChunk, ChatResult, void>;
}
