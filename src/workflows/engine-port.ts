/**
 * The workflow interpreter's port and contracts: what it needs from the durable orchestration context
 * (WorkflowContext), the activities it calls (the agent activity per agent type, `workflow_record`),
 * the group chat sub-orchestration, and what it returns. Pure types and constants: no I/O.
 */
import { findBuiltIn } from '../agents/catalog';
import type { TokenUsage } from '../llm/types';
import type { OutputRef, RunError, RunStatus, StepPatch, StepStatus } from '../store/runs';
import type { WorkflowDefinition } from './definition';
import { BUILT_IN_AGENT_ACTIVITIES } from './names';
import type { StepKind } from './steps';

export {
  approvalEventName,
  BUILT_IN_AGENT_ACTIVITIES,
  CANCEL_EVENT,
  GROUP_CHAT_ORCHESTRATOR,
  RECORD_ACTIVITY,
  WORKFLOW_ORCHESTRATOR,
} from './names';

/** `agent_architect` for a built-in agent (by id or name, any case), `agent_custom` for the others. */
export function agentActivityName(agent: string): string {
  const id = findBuiltIn(agent)?.id;
  return id && (BUILT_IN_AGENT_ACTIVITIES as readonly string[]).includes(id) ? `agent_${id}` : 'agent_custom';
}

/**
 * A durable task: the SDK's `Task` has exactly this shape. Yielding a task gives its result (or throws
 * its error); yielding `all` gives the list of results; yielding `any` gives the winning task.
 * A faulted task holds its error in `result`.
 */
export interface WorkflowTask {
  readonly isCompleted: boolean;
  readonly isFaulted: boolean;
  readonly result?: unknown;
}

/** Retry of an activity call; maps onto the SDK's RetryOptions. */
export interface RetryPolicy {
  firstIntervalMs: number;
  maxAttempts: number;
  backoffCoefficient?: number;
}

/**
 * What the interpreter needs from `context.df`. The durable adapter maps each method onto one SDK
 * call: callActivity(WithRetry), callSubOrchestrator, Task.all, Task.any, waitForExternalEvent,
 * createTimer, currentUtcDateTime, TimerTask.cancel, setCustomStatus, continueAsNew.
 */
export interface WorkflowContext {
  callActivity(name: string, input: unknown, retry?: RetryPolicy): WorkflowTask;
  callSubOrchestrator(name: string, input: unknown, instanceId?: string): WorkflowTask;
  all(tasks: WorkflowTask[]): WorkflowTask;
  any(tasks: WorkflowTask[]): WorkflowTask;
  waitForEvent(name: string): WorkflowTask;
  timer(fireAt: Date): WorkflowTask;
  now(): Date;
  cancelTimer(task: WorkflowTask): void;
  setStatus(status: unknown): void;
  /**
   * Restarts the orchestration with `input` and an empty history (the group chat uses it to keep its
   * history bounded). The generator must return right after it; Durable ignores what it returns.
   */
  continueAsNew(input: unknown): void;
}

/**
 * A text held by the run store, as template variables carry it: the agent activity replaces every
 * such object, wherever it sits in `vars`, with the stored texts joined by `separator` (default '')
 * before it renders the templates. History carries references only.
 */
export interface StoredText {
  $text: OutputRef[];
  separator?: string;
}

/** Template variables: `input`, `steps` (STEP_OUTPUTS of each completed step) and the site's extras. */
export type TemplateVars = { input: unknown; steps: Record<string, Record<string, unknown>> } & Record<
  string,
  unknown
>;

/** Input of an agent activity (`agent_<id>` or `agent_custom`). */
export interface AgentActivityInput {
  runId: string;
  stepId: string;
  /** Which call of the step: `design`, `analysis/branch-2`, `analysis/aggregate`, `review/validator-3`. */
  call: string;
  agent: string;
  /** The prompt TEMPLATE; the activity renders it with `vars` (StoredText resolved). */
  prompt: string;
  /** Context values, each a template rendered like the prompt. */
  context?: Record<string, string>;
  vars: TemplateVars;
  /** 1 for a single call; the iteration in a review loop; the round in a group chat. */
  attempt: number;
  /** Group chat turns: the activity reports in `keywordFound` whether the output contains this. */
  detectKeyword?: string;
}

/** What an agent activity returns: the output is in the run store, history keeps the reference. */
export interface AgentActivityResult {
  outputRef: OutputRef;
  summary: string;
  parsed?: unknown;
  tokens: TokenUsage;
  cost: { total: number };
  model: string;
  /** Set when the input had `detectKeyword`: whether the output contains it. */
  keywordFound?: boolean;
}

/** Input of the enqueue activity, and the body of an `agent-tasks` message. */
export interface LongTaskInput {
  /** `<runId>:<call>:<attempt>`: the message id, and the key of its stored outcome. */
  taskId: string;
  /** The orchestration waiting for the task's event. */
  instanceId: string;
  /** The agent activity the worker runs (`agent_<type>`). */
  activity: string;
  input: AgentActivityInput;
}

/** What a long task's worker reports (the payload of its `task:<taskId>` event). */
export type TaskOutcome =
  { ok: true; result: AgentActivityResult } | { ok: false; error: { code: string; message: string } };

/** Input of the group chat sub-orchestration (`instanceId` `<runId>:<stepId>`). */
export interface GroupChatInput {
  runId: string;
  stepId: string;
  participants: string[];
  manager: 'round-robin' | 'selector';
  selector?: string;
  maxRounds: number;
  terminate?: { keyword?: string; validatorApproves?: boolean; tokenBudget?: number };
  prompt: string;
  vars: TemplateVars;
  /** Full rounds per generation before the chat continues as new (group-chat.ts ROUNDS_PER_GENERATION). */
  roundsPerGeneration?: number;
  /** Set by continueAsNew only: where the previous generation stopped. */
  carry?: GroupChatState;
}

export interface ChatMessageRef {
  speaker: string;
  outputRef: OutputRef;
  summary: string;
}

/**
 * What one group chat generation hands to the next (continueAsNew, always at the end of a full round
 * of a chat that has not ended, so no termination state needs carrying). References and summaries only.
 */
export interface GroupChatState {
  /** Every message so far, in order. */
  transcript: ChatMessageRef[];
  /** Turns taken so far (= transcript length); the next call is `<stepId>/turn-<turns + 1>`. */
  turns: number;
  /** Full rounds completed. */
  rounds: number;
  /** The speaker of the last turn (the selector manager never picks it twice in a row). */
  lastSpeaker?: string;
  /** Summed over every call so far: turns, selector and verdict calls. */
  tokens: TokenUsage;
  /** USD, summed like tokens. */
  cost: number;
  /** 1 for the first generation. */
  generation: number;
}

/** Why a group chat ended. */
export type GroupChatTermination = 'keyword' | 'validator' | 'tokenBudget' | 'maxRounds';

/** What the group chat sub-orchestration returns. */
export interface GroupChatResult {
  outputRef: OutputRef;
  summary: string;
  transcript: ChatMessageRef[];
  rounds: number;
  tokens: TokenUsage;
  cost: { total: number };
  terminatedBy: GroupChatTermination;
}

/** Payload of the `approval:<stepId>` event. */
export interface ApprovalDecision {
  approved: boolean;
  comment?: string;
  by?: string;
}

export interface RecordEvent {
  type: string;
  stepId?: string;
  data?: unknown;
}

/** Input of `workflow_record`: what happened at one point of the run, applied in one call, in order. */
export interface RecordInput {
  runId: string;
  /** 1, 2, 3 … per run (deterministic): the event log applies each batch at most once. */
  batch?: number;
  events: RecordEvent[];
  /** `at`: when the status changed (orchestration time), so the run's timestamps match its steps'. */
  run?: { status?: RunStatus; error?: RunError; at?: string };
  steps?: Record<string, StepPatch>;
}

/** One branch (parallel) or stored text of a step. */
export interface OutputItem {
  outputRef: OutputRef;
  summary: string;
  parsed?: unknown;
}

export interface StepResult {
  id: string;
  kind: StepKind;
  status: StepStatus;
  agent?: string;
  /** Agent activity (or sub-orchestration) calls made. */
  calls: number;
  startedAt?: string;
  completedAt?: string;
  tokens: TokenUsage;
  /** USD. */
  cost: number;
  outputRef?: OutputRef;
  summary?: string;
  parsed?: unknown;
  /** parallel: the branch outputs, in branch or item order. */
  results?: OutputItem[];
  /** review: the validator's last verdict. */
  verdict?: unknown;
  /** review: the last verdict passed; approval: the decision. */
  approved?: boolean;
  iterations?: number;
  comment?: string;
  by?: string;
  transcript?: ChatMessageRef[];
  rounds?: number;
  error?: RunError;
  /** Why a skipped step was skipped. */
  reason?: string;
}

export interface WorkflowOutcome {
  status: 'completed' | 'failed' | 'cancelled';
  steps: Record<string, StepResult>;
  totals: { tokens: TokenUsage; cost: number };
  error?: RunError;
}

export interface RunWorkflowOptions {
  runId: string;
  definition: WorkflowDefinition;
  input: unknown;
  /** Limits on top of the definition's budget (the lower of the two applies). */
  budget?: { maxTokens?: number; maxCostUsd?: number };
}
