/**
 * The wire vocabulary shared with the durable-functions SDK: DurableTask.Core history event types and
 * the SDK's action types. Numbers are fixed by the protocol.
 */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
  GenericEvent: 17,
  HistoryState: 18,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;
export type EventTypeValue = (typeof EventType)[keyof typeof EventType];
export const EventTypeName: Record<number, string> = Object.fromEntries(
  Object.entries(EventType).map(([k, v]) => [v, k]),
);

export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
} as const;
export const ActionTypeName: Record<number, string> = Object.fromEntries(
  Object.entries(ActionType).map(([k, v]) => [v, k]),
);

/** One history event as the SDK reads it (PascalCase, like DurableTask.Core's JSON). */
export interface HistoryEvent {
  EventType: number;
  EventId: number;
  Timestamp: string;
  IsPlayed?: boolean;
  [field: string]: unknown;
}

export interface FailureDetails {
  ErrorType: string;
  ErrorMessage: string;
  StackTrace?: string;
  IsNonRetriable?: boolean;
  Properties?: Record<string, unknown>;
}

export type RuntimeStatus =
  'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Canceled' | 'Terminated' | 'Suspended';

export const TERMINAL_STATUSES: readonly RuntimeStatus[] = ['Completed', 'Failed', 'Terminated', 'Canceled'];
export function isTerminal(status: RuntimeStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** The schema version we claim: V3 (compound WhenAll/WhenAny actions, SDK-side long timers). */
export const REPLAY_SCHEMA = 2;

export interface RetryPolicy {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

/** The host's record of one action the orchestrator scheduled, kept to check determinism on replay. */
export interface Op {
  /** Action type. */
  t: number;
  /** Function name, event name or entity operation. */
  n: string;
  /** Event ids allocated for this action, in order (retries and long-timer segments add ids). */
  ids: number[];
  input?: string;
  retry?: RetryPolicy;
  attempt?: number;
  /** CreateTimer: the final fire time (ISO). */
  fireAt?: string;
  canceled?: boolean;
  /** Sub-orchestration instance id, when the orchestrator chose one. */
  child?: string;
  /** Entity scheduler id (`@name@key`). */
  entity?: string;
}

export function retryDelayMs(policy: RetryPolicy, failedAttempt: number): number {
  const delay =
    policy.firstRetryIntervalInMilliseconds * Math.pow(policy.backoffCoefficient ?? 1, failedAttempt - 1);
  return Math.min(delay, policy.maxRetryIntervalInMilliseconds ?? Number.POSITIVE_INFINITY);
}
