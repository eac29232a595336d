/**
 * Runs orchestrator episodes through the SDK's own handler and applies their outcome: history,
 * activity work items, timers, sub-orchestrations, entity messages, completion — what the Durable
 * Task extension does around the out-of-process SDK.
 */
import { randomUUID } from 'node:crypto';
import {
  ActionType,
  EventType,
  isTerminal,
  retryDelayMs,
  type FailureDetails,
  type HistoryEvent,
  type Op,
  type RetryPolicy,
  type RuntimeStatus,
} from './history';
import {
  actionName,
  allocatesHiddenId,
  batchSize,
  checkDeterminism,
  flattenActions,
  orchestrationBindingJson,
  parseFailureState,
  toTimeSpan,
  type OrchestratorStateLike,
  type RawAction,
} from './episode';
import type { Instance } from './instance';
import type { HubServices } from './services';

type Add = (e: Omit<HistoryEvent, 'EventId' | 'Timestamp'> & { EventId?: number }) => void;

interface Failure {
  message: string;
  details?: FailureDetails;
}

export function jsonOf(input: unknown): string | undefined {
  if (input === undefined) return undefined;
  return typeof input === 'string' ? input : JSON.stringify(input);
}

export class OrchestrationRunner {
  constructor(private readonly hub: HubServices) {}

  /** Runs one episode of `inst` over the events waiting in its inbox. */
  async runEpisode(inst: Instance): Promise<void> {
    const { store, config } = this.hub;
    inst.history ??= store.loadHistory(inst.id);
    const nowMs = Math.max(Date.now(), inst.lastEpisodeMs + 1);
    const now = new Date(nowMs).toISOString();
    const n = batchSize(
      inst.opsById,
      inst.inbox.map((m) => m.event),
      nowMs,
      config.maxEventsPerEpisode,
    );
    const taken = inst.inbox.slice(0, n);
    const hidden = n === 1 && allocatesHiddenId(inst.opsById, taken[0]!.event, nowMs);
    const newEvents: HistoryEvent[] = [
      { EventType: EventType.OrchestratorStarted, EventId: -1, Timestamp: now },
      ...taken.map((m) => m.event),
    ];
    const reg = this.hub.function(inst.name, 'orchestrationTrigger');
    let state: OrchestratorStateLike | undefined;
    let failure: Failure | undefined;
    if (!reg) {
      failure = {
        message: `The function '${inst.name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      };
    } else {
      const bindingJson = orchestrationBindingJson({
        instanceId: inst.id,
        parentInstanceId: inst.parent?.id,
        inputJson: inst.input,
        history: inst.history,
        newEvents,
        maximumShortTimerDuration: toTimeSpan(config.maximumShortTimerMs),
        longRunningTimerIntervalDuration: toTimeSpan(config.longRunningTimerIntervalMs),
      });
      const res = await this.hub.invoker.invoke(reg, { trigger: { json: bindingJson } });
      if (res.error) {
        const st = parseFailureState(res.error);
        failure = { message: st?.error ?? res.error.message };
        state = st;
      } else {
        state = res.result as OrchestratorStateLike;
      }
    }
    // The instance may have been terminated or purged while the SDK ran.
    if (isTerminal(inst.status) || !this.hub.live.has(inst.id)) return;

    const added: HistoryEvent[] = [];
    const add: Add = (e) => added.push({ EventId: -1, Timestamp: now, ...e } as HistoryEvent);
    if (hidden && !failure) this.followUp(inst, taken[0]!.event, nowMs, add);
    let flat: RawAction[] = [];
    if (!failure && state) {
      flat = flattenActions(state.actions);
      const nd = checkDeterminism(inst.ops, flat, state.isDone);
      if (nd)
        failure = {
          message: nd,
          details: { ErrorType: 'NonDeterministicOrchestrationException', ErrorMessage: nd },
        };
      else {
        this.applyCancellations(inst, flat);
        for (let i = inst.ops.length; i < flat.length && !failure; i++)
          failure = this.schedule(inst, flat[i]!, nowMs, add);
      }
    }

    for (const m of taken) store.removeInbox(m.seq);
    inst.inbox.splice(0, n);
    inst.lastEpisodeMs = nowMs;
    inst.lastUpdatedTime = now;
    if (state && state.customStatus !== undefined) inst.customStatus = JSON.stringify(state.customStatus);
    this.appendHistory(inst, [
      ...newEvents,
      ...added,
      { EventType: EventType.OrchestratorCompleted, EventId: -1, Timestamp: now },
    ]);

    if (failure) return this.finish(inst, 'Failed', now, undefined, failure);
    if (state?.isDone) {
      const can = flat.find((a) => a.actionType === ActionType.ContinueAsNew);
      if (can) return this.continueAsNew(inst, jsonOf(can.input), now);
      return this.finish(inst, 'Completed', now, JSON.stringify(state.output ?? null));
    }
    if (inst.status === 'Pending') inst.status = 'Running';
    store.saveInstance(inst);
  }

  /** Numbers the SDK allocated while processing a hidden-allocation event, and the work they stand for. */
  private followUp(inst: Instance, ev: HistoryEvent, nowMs: number, add: Add): void {
    const id = (ev.TaskScheduledId ?? ev.TimerId) as number;
    const op = inst.opsById.get(id)!;
    if (ev.EventType === EventType.TaskFailed || ev.EventType === EventType.SubOrchestrationInstanceFailed) {
      const attempt = op.attempt ?? 1;
      op.attempt = attempt + 1;
      const fireAt = new Date(nowMs + retryDelayMs(op.retry!, attempt)).toISOString();
      this.createTimer(inst, op, fireAt, add);
    } else if (op.retry) {
      this.dispatch(inst, op, inst.allocate(op), add);
    } else {
      this.createTimer(inst, op, this.segmentEnd(nowMs, op.fireAt!), add);
    }
  }

  private applyCancellations(inst: Instance, flat: RawAction[]): void {
    const n = Math.min(inst.ops.length, flat.length);
    for (let i = 0; i < n; i++) {
      const op = inst.ops[i]!;
      const a = flat[i]!;
      if (a.actionType === ActionType.CreateTimer && a.isCanceled && !op.canceled) {
        op.canceled = true;
        for (const timerId of op.ids) {
          if (this.hub.timers.cancel({ instanceId: inst.id, executionId: inst.executionId, timerId })) {
            this.hub.store.removeTimer({ instanceId: inst.id, executionId: inst.executionId, timerId });
          }
        }
      }
    }
  }

  /** Records a new action and starts the work it asks for. Returns a failure for unsupported actions. */
  private schedule(inst: Instance, a: RawAction, nowMs: number, add: Add): Failure | undefined {
    const op: Op = { t: a.actionType, n: actionName(a), ids: [] };
    inst.ops.push(op);
    switch (a.actionType) {
      case ActionType.CallActivity:
      case ActionType.CallActivityWithRetry:
      case ActionType.CallSubOrchestrator:
      case ActionType.CallSubOrchestratorWithRetry: {
        const sub =
          a.actionType === ActionType.CallSubOrchestrator ||
          a.actionType === ActionType.CallSubOrchestratorWithRetry;
        op.input = sub ? (a.input === undefined ? undefined : JSON.stringify(a.input)) : jsonOf(a.input);
        if (a.retryOptions) {
          op.retry = a.retryOptions as unknown as RetryPolicy;
          op.attempt = 1;
        }
        if (sub && typeof a.instanceId === 'string' && a.instanceId) op.child = a.instanceId;
        this.dispatch(inst, op, inst.allocate(op), add);
        // Only a retried call sends its input again; otherwise the recorded op (rewritten with the
        // instance after every episode) need not carry it.
        if (!op.retry) delete op.input;
        return undefined;
      }
      case ActionType.CreateTimer: {
        op.fireAt = new Date(a.fireAt as Date | string).toISOString();
        this.createTimer(inst, op, this.segmentEnd(nowMs, op.fireAt), add);
        return undefined;
      }
      case ActionType.CallEntity:
      case ActionType.SignalEntity: {
        const id = inst.allocate(op);
        const entityId = String(a.instanceId);
        op.entity = entityId;
        const signal = a.actionType === ActionType.SignalEntity;
        const request = {
          id: randomUUID(),
          op: String(a.operation),
          signal,
          input: a.input === undefined ? undefined : JSON.stringify(a.input),
          parent: inst.id,
          parentExecution: inst.executionId,
        };
        add({
          EventType: EventType.EventSent,
          EventId: id,
          InstanceId: entityId,
          Name: 'op',
          Input: JSON.stringify({
            id: request.id,
            op: request.op,
            signal,
            input: request.input,
            parent: inst.id,
          }),
        });
        this.hub.sendToEntity(entityId, request);
        return undefined;
      }
      case ActionType.WaitForExternalEvent:
      case ActionType.ContinueAsNew:
        return undefined;
      case ActionType.CallHttp:
        return {
          message:
            'callHttp is not supported by the local host: call the HTTP endpoint from an activity instead.',
        };
      default:
        return {
          message: `The orchestrator used an action the local host does not support (action type ${a.actionType}).`,
        };
    }
  }

  /** Schedules one attempt of an activity or sub-orchestration under task number `id`. */
  private dispatch(inst: Instance, op: Op, id: number, add: Add): void {
    if (op.t === ActionType.CallActivity || op.t === ActionType.CallActivityWithRetry) {
      add({ EventType: EventType.TaskScheduled, EventId: id, Name: op.n, Input: op.input, Version: '' });
      if (!this.hub.function(op.n, 'activityTrigger')) {
        const msg = `The function '${op.n}' doesn't exist, is disabled, or is not an activity function.`;
        this.hub.deliver(
          inst.id,
          inst.executionId,
          taskFailed(id, `Activity function '${op.n}' failed: ${msg}`, {
            ErrorType: 'FunctionNotFound',
            ErrorMessage: msg,
          }),
        );
        return;
      }
      this.hub.scheduleActivity({
        instanceId: inst.id,
        executionId: inst.executionId,
        taskId: id,
        name: op.n,
        input: op.input,
      });
      return;
    }
    const childId = op.child ?? `${inst.id}:${id}`;
    add({
      EventType: EventType.SubOrchestrationInstanceCreated,
      EventId: id,
      Name: op.n,
      InstanceId: childId,
      Input: op.input,
      Version: '',
    });
    try {
      this.hub.createInstance(op.n, childId, op.input, {
        id: inst.id,
        executionId: inst.executionId,
        taskId: id,
      });
    } catch (err) {
      const msg = (err as Error).message;
      this.hub.deliver(inst.id, inst.executionId, {
        EventType: EventType.SubOrchestrationInstanceFailed,
        EventId: -1,
        Timestamp: new Date().toISOString(),
        TaskScheduledId: id,
        Reason: msg,
        Details: msg,
        FailureDetails: { ErrorType: 'SubOrchestrationCreationFailed', ErrorMessage: msg },
      });
    }
  }

  private createTimer(inst: Instance, op: Op, fireAt: string, add: Add): void {
    const timerId = inst.allocate(op);
    add({ EventType: EventType.TimerCreated, EventId: timerId, FireAt: fireAt });
    const t = { instanceId: inst.id, executionId: inst.executionId, timerId, fireAt };
    this.hub.store.addTimer(t);
    this.hub.store.afterFlush(() => {
      if (this.hub.live.get(inst.id)?.executionId === t.executionId) this.hub.timers.add(t);
    });
  }

  /** The end of the next timer segment: the final time, or one interval ahead for long timers. */
  private segmentEnd(nowMs: number, finalFireAt: string): string {
    const c = this.hub.config;
    return Date.parse(finalFireAt) - nowMs > c.maximumShortTimerMs
      ? new Date(nowMs + c.longRunningTimerIntervalMs).toISOString()
      : finalFireAt;
  }

  private appendHistory(inst: Instance, events: HistoryEvent[]): void {
    const json = events.map((e) => JSON.stringify({ ...e, IsPlayed: true }));
    const start = inst.history!.length;
    inst.history!.push(...json);
    this.hub.store.appendHistory(inst.id, start, json);
  }

  private continueAsNew(inst: Instance, input: string | undefined, now: string): void {
    const { store } = this.hub;
    this.appendHistory(inst, [
      {
        EventType: EventType.ExecutionCompleted,
        EventId: -1,
        Timestamp: now,
        OrchestrationStatus: 'ContinuedAsNew',
        Result: input ?? null,
      },
    ]);
    this.hub.timers.cancelInstance(inst.id);
    store.clearWork(inst.id);
    store.resetHistory(inst.id);
    inst.reset(input);
    inst.status = 'Running';
    // The new execution starts before the events that arrived meanwhile (load order puts it first too).
    const started = inst.startedEvent(now);
    const json = JSON.stringify(started);
    const msg = store.addInbox(inst.id, json);
    inst.inbox.unshift({ seq: msg.seq, event: started, json });
    store.saveInstance(inst);
  }

  /** Ends an instance: final history event, status, work dropped, parent told. */
  finish(
    inst: Instance,
    status: RuntimeStatus,
    now: string,
    output: string | undefined,
    failure?: Failure,
  ): void {
    const { store } = this.hub;
    inst.history ??= store.loadHistory(inst.id);
    if (status === 'Completed') {
      this.appendHistory(inst, [
        {
          EventType: EventType.ExecutionCompleted,
          EventId: -1,
          Timestamp: now,
          OrchestrationStatus: 'Completed',
          Result: output,
        },
      ]);
    } else if (status === 'Failed') {
      const reason = failureReason(inst.name, failure);
      output = JSON.stringify(reason);
      this.appendHistory(inst, [
        {
          EventType: EventType.ExecutionFailed,
          EventId: -1,
          Timestamp: now,
          OrchestrationStatus: 'Failed',
          Reason: reason,
          // The extension always sends a string here; SDKs before 3.5 cannot read a failure without it.
          Details: failure?.details?.StackTrace ?? failure?.message ?? reason,
          FailureDetails: failure?.details ?? {
            ErrorType: 'OrchestrationFailure',
            ErrorMessage: failure?.message ?? '',
          },
        },
      ]);
    } else if (status === 'Terminated') {
      this.appendHistory(inst, [
        { EventType: EventType.ExecutionTerminated, EventId: -1, Timestamp: now, Input: output },
      ]);
    }
    inst.status = status;
    inst.output = output;
    inst.lastUpdatedTime = now;
    for (const m of inst.inbox) store.removeInbox(m.seq);
    inst.inbox = [];
    this.hub.timers.cancelInstance(inst.id);
    store.clearWork(inst.id);
    store.saveInstance(inst);
    if (inst.parent) this.notifyParent(inst, status, output, failure, now);
    this.hub.finished(inst);
  }

  private notifyParent(
    inst: Instance,
    status: RuntimeStatus,
    output: string | undefined,
    failure: Failure | undefined,
    now: string,
  ): void {
    const p = inst.parent!;
    if (status === 'Completed') {
      this.hub.deliver(p.id, p.executionId, {
        EventType: EventType.SubOrchestrationInstanceCompleted,
        EventId: -1,
        Timestamp: now,
        TaskScheduledId: p.taskId,
        Result: output ?? 'null',
      });
      return;
    }
    // The parent sees the child's own failure reason, as the extension reports it.
    const message =
      status === 'Failed'
        ? failureReason(inst.name, failure)
        : `Orchestrator function '${inst.name}' (instance '${inst.id}') was terminated: ${output ?? ''}`;
    this.hub.deliver(p.id, p.executionId, {
      EventType: EventType.SubOrchestrationInstanceFailed,
      EventId: -1,
      Timestamp: now,
      TaskScheduledId: p.taskId,
      Reason: message,
      Details: failure?.details?.StackTrace ?? failure?.message ?? message,
      FailureDetails: {
        ErrorType: failure?.details?.ErrorType ?? 'OrchestrationFailure',
        ErrorMessage: message,
      },
    });
  }
}

export function taskFailed(taskId: number, reason: string, details: FailureDetails): HistoryEvent {
  return {
    EventType: EventType.TaskFailed,
    EventId: -1,
    Timestamp: new Date().toISOString(),
    TaskScheduledId: taskId,
    Reason: reason,
    Details: details.StackTrace ?? details.ErrorMessage,
    FailureDetails: details,
  };
}

/** "Orchestrator function 'name' failed: message", the extension's wording. */
function failureReason(name: string, failure: Failure | undefined): string {
  return `Orchestrator function '${name}' failed: ${failure?.message ?? 'unknown error'}`;
}
