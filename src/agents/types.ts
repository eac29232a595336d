/** Agents: their definitions (built-in and custom), tasks and results. */
import type { ProviderName } from '../config';
import type { TokenUsage } from '../llm/types';

export interface AgentDefinition {
  /** Stable id, lower-case slug: `architect`, `builder`, `validator`, `scribe`, `echo`, or a custom id. */
  id: string;
  /** Display name (`Architect`). */
  name: string;
  description: string;
  /** The role the agent plays; the offline model answers in this role's style. */
  role: string;
  /** System prompt template (Jinja-like: `{{ var }}`); rendered with the task's variables. */
  systemPrompt: string;
  provider?: ProviderName;
  model?: string;
  /** Azure OpenAI deployment name. */
  deployment?: string;
  temperature?: number;
  maxTokens?: number;
  /** JSON Schema the output must satisfy (parsed and validated; one retry with the error). */
  outputSchema?: Record<string, unknown>;
  capabilities: string[];
  builtIn: boolean;
  createdAt?: string;
  updatedAt?: string;
  /** Optimistic concurrency token of the stored definition. */
  etag?: string;
}

export interface AgentTask {
  /** Agent id or name, case-insensitive (`Architect`, `architect`, custom ids). */
  agent: string;
  prompt: string;
  /** Shared context from previous tasks, added to the messages as the seed formats it. */
  context?: Record<string, unknown>;
  /** Earlier turns of a conversation (oldest first); dropped oldest-first when the window is full. */
  history?: { role: 'user' | 'assistant'; content: string }[];
  /** Variables for the system prompt template. */
  variables?: Record<string, unknown>;
  maxTokens?: number;
  temperature?: number;
  signal?: AbortSignal;
}

export interface Cost {
  currency: 'USD';
  input: number;
  output: number;
  total: number;
}

export interface AgentRunResult {
  agentType: string;
  output: string;
  /** Parsed output when the agent has an output schema. */
  parsed?: unknown;
  tokenUsage: TokenUsage;
  model: string;
  provider: ProviderName;
  durationMs: number;
  metadata: Record<string, unknown>;
  timestamp: string;
  cost: Cost;
}

/** What HTTP handlers, activities and workflows use to run agents. */
export interface AgentService {
  execute(task: AgentTask): Promise<AgentRunResult>;
  /** Yields output deltas and returns the final result. */
  stream(task: AgentTask): AsyncGenerator<string, AgentRunResult, void>;
  /** The definition of an agent (built-in or custom), or undefined. */
  resolve(agent: string): Promise<AgentDefinition | undefined>;
  list(): Promise<AgentDefinition[]>;
}
