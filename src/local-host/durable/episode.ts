/**
 * Pure pieces of one orchestrator episode: which new events go into it, the trigger payload the SDK
 * receives, and how its answer (the cumulative action list) is checked against what was recorded.
 *
 * The SDK numbers tasks itself (in the order it tracks them) and matches completions by number; the
 * host mirrors that numbering. Some events make the SDK take a number without showing an action
 * (a failed attempt of a retried call waits on a timer; a fired retry timer schedules the next
 * attempt; a long timer's segment fires the next segment). Such an event is given its own episode, so
 * the hidden number comes first and the actions that follow are numbered after it.
 */
import { ActionType, ActionTypeName, EventType, REPLAY_SCHEMA, type HistoryEvent, type Op } from './history';

export interface RawAction {
  actionType: number;
  functionName?: string;
  externalEventName?: string;
  operation?: string;
  instanceId?: string;
  input?: unknown;
  retryOptions?: Record<string, unknown>;
  fireAt?: Date | string;
  isCanceled?: boolean;
  compoundActions?: RawAction[];
  [k: string]: unknown;
}

export interface OrchestratorStateLike {
  isDone: boolean;
  actions: RawAction[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

/** Whether processing `event` makes the SDK allocate a task number that no action shows. */
export function allocatesHiddenId(ops: Map<number, Op>, event: HistoryEvent, nowMs: number): boolean {
  const id = (event.TaskScheduledId ?? event.TimerId) as number | undefined;
  if (typeof id !== 'number') return false;
  const op = ops.get(id);
  if (!op || op.ids[op.ids.length - 1] !== id) return false;
  switch (event.EventType) {
    case EventType.TaskFailed:
    case EventType.SubOrchestrationInstanceFailed:
      return op.retry !== undefined;
    case EventType.TimerFired:
      if (op.retry) return (op.attempt ?? 1) <= op.retry.maxNumberOfAttempts;
      return op.t === ActionType.CreateTimer && op.fireAt !== undefined && Date.parse(op.fireAt) > nowMs;
    default:
      return false;
  }
}

/**
 * How many of the waiting events (in arrival order) the next episode takes: a run of ordinary
 * events, or one event that allocates a hidden number on its own.
 */
export function batchSize(ops: Map<number, Op>, events: HistoryEvent[], nowMs: number, max = 100): number {
  let n = 0;
  for (const e of events) {
    if (n >= max) break;
    if (allocatesHiddenId(ops, e, nowMs)) return n === 0 ? 1 : n;
    n++;
  }
  return n;
}

/** Flattens compound actions; a task reused in two Task.all/any shows twice and counts once. */
export function flattenActions(actions: RawAction[][] | undefined): RawAction[] {
  const out: RawAction[] = [];
  const seen = new Set<RawAction>();
  const walk = (a: RawAction): void => {
    if (a.actionType === ActionType.WhenAll || a.actionType === ActionType.WhenAny) {
      for (const c of a.compoundActions ?? []) walk(c);
    } else if (!seen.has(a)) {
      seen.add(a);
      out.push(a);
    }
  };
  for (const group of actions ?? []) for (const a of group) walk(a);
  return out;
}

export function actionName(a: RawAction): string {
  switch (a.actionType) {
    case ActionType.WaitForExternalEvent:
      return String(a.externalEventName ?? '');
    case ActionType.CallEntity:
    case ActionType.SignalEntity:
      return `${String(a.instanceId ?? '')}/${String(a.operation ?? '')}`;
    case ActionType.CreateTimer:
    case ActionType.ContinueAsNew:
      return '';
    default:
      return String(a.functionName ?? '');
  }
}

function describe(type: number, name: string): string {
  const kind = ActionTypeName[type] ?? `action ${type}`;
  return name ? `${kind} '${name}'` : kind;
}

/**
 * Compares the replayed actions with those recorded when they were new. Returns a non-determinism
 * message, or undefined when the orchestrator is consistent with its history.
 */
export function checkDeterminism(recorded: Op[], replayed: RawAction[], isDone: boolean): string | undefined {
  const n = Math.min(recorded.length, replayed.length);
  for (let i = 0; i < n; i++) {
    const old = recorded[i]!;
    const now = replayed[i]!;
    const name = actionName(now);
    if (old.t !== now.actionType || old.n !== name) {
      return (
        `Non-deterministic workflow detected: a previous execution of this orchestration scheduled ` +
        `${describe(old.t, old.n)} as action #${i}, but the current replay scheduled ${describe(now.actionType, name)}. ` +
        `Was the orchestrator code changed while this instance was running? Orchestrators must be deterministic: ` +
        `no Date.now(), Math.random(), I/O or changed control flow between replays.`
      );
    }
  }
  if (replayed.length < recorded.length && isDone) {
    const old = recorded[replayed.length]!;
    return (
      `Non-deterministic workflow detected: a previous execution of this orchestration scheduled ` +
      `${describe(old.t, old.n)} as action #${replayed.length}, but the current replay completed without scheduling it.`
    );
  }
  return undefined;
}

export interface BindingOptions {
  instanceId: string;
  parentInstanceId?: string;
  inputJson?: string;
  history: string[];
  newEvents: HistoryEvent[];
  maximumShortTimerDuration: string;
  longRunningTimerIntervalDuration: string;
}

/** The orchestrationTrigger payload (DurableOrchestrationBindingInfo), built as JSON text. */
export function orchestrationBindingJson(o: BindingOptions): string {
  const fresh = o.newEvents.map((e) => JSON.stringify({ ...e, IsPlayed: false }));
  const history = [...o.history, ...fresh].join(',');
  const parts = [
    `"history":[${history}]`,
    `"instanceId":${JSON.stringify(o.instanceId)}`,
    `"isReplaying":${o.history.length > 0}`,
    `"upperSchemaVersion":${REPLAY_SCHEMA}`,
    `"upperSchemaVersionNew":${REPLAY_SCHEMA}`,
    `"maximumShortTimerDuration":${JSON.stringify(o.maximumShortTimerDuration)}`,
    `"longRunningTimerIntervalDuration":${JSON.stringify(o.longRunningTimerIntervalDuration)}`,
    `"defaultHttpAsyncRequestSleepTimeMillseconds":30000`,
  ];
  if (o.inputJson !== undefined) parts.push(`"input":${o.inputJson}`);
  if (o.parentInstanceId !== undefined)
    parts.push(`"parentInstanceId":${JSON.stringify(o.parentInstanceId)}`);
  return `{${parts.join(',')}}`;
}

/** The OrchestratorState carried by the SDK's OrchestrationFailureError message, if any. */
export function parseFailureState(err: Error): OrchestratorStateLike | undefined {
  const marker = '$OutOfProcData$:';
  const at = err.message.indexOf(marker);
  if (at < 0) return undefined;
  try {
    return JSON.parse(err.message.slice(at + marker.length)) as OrchestratorStateLike;
  } catch {
    return undefined;
  }
}

/** Milliseconds → .NET TimeSpan text ("d.hh:mm:ss.fff"), as the extension sends durations. */
export function toTimeSpan(ms: number): string {
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  const f = rest - s * 1000;
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${days ? `${days}.` : ''}${pad(h)}:${pad(m)}:${pad(s)}${f ? `.${pad(f, 3)}` : ''}`;
}
