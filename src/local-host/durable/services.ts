/** What the parts of the task hub share. */
import type { HostLogger } from '../log';
import type { FunctionRegistry, Registration } from '../worker/core';
import type { Invoker } from '../worker/invoker';
import type { HistoryEvent } from './history';
import type { Instance } from './instance';
import type { ActivityRow, DurableStore, ParentRef } from './store';
import type { TimerWheel } from './timers';

export interface DurableConfig {
  hubName: string;
  maxConcurrentActivities: number;
  maxConcurrentOrchestrations: number;
  maxConcurrentEntities: number;
  maxEntityBatch: number;
  /** Longest timer created as one durable timer; longer ones are split (SDK-side long timers). */
  maximumShortTimerMs: number;
  longRunningTimerIntervalMs: number;
  /** Most new events given to one episode. */
  maxEventsPerEpisode: number;
}

export interface EntityRequest {
  id: string;
  op: string;
  signal: boolean;
  input?: string;
  parent?: string;
  parentExecution?: string;
}

export interface HubServices {
  config: DurableConfig;
  store: DurableStore;
  registry: FunctionRegistry;
  invoker: Invoker;
  log: HostLogger;
  timers: TimerWheel;
  live: Map<string, Instance>;
  /** Puts an event in an instance's inbox (dropped if the instance or its execution is gone). */
  deliver(instanceId: string, executionId: string | undefined, event: HistoryEvent): void;
  /** Queues an activity work item; it runs once the write is committed. */
  scheduleActivity(row: Omit<ActivityRow, 'seq'>): void;
  sendToEntity(entityId: string, request: EntityRequest): void;
  /** Creates (or restarts a finished) instance; throws a DurableHostError when it cannot. */
  createInstance(name: string, id: string, input: string | undefined, parent?: ParentRef): Instance;
  /** Called once an instance reached a terminal state (its writes are queued). */
  finished(inst: Instance): void;
  function(name: string, triggerType: string): Registration | undefined;
  dispatchOutputs(reg: Registration, outputs: { name: string; data: unknown }[]): Promise<void>;
}

export type DurableErrorCode = 'NotFound' | 'Conflict' | 'Gone' | 'BadRequest' | 'NotImplemented';

export class DurableHostError extends Error {
  constructor(
    readonly code: DurableErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DurableHostError';
  }
}
