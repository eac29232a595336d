/**
 * The durable task hub of the local host: schedules orchestrator episodes, activities, entity batches
 * and timers over the SQLite store, recovers in-flight work after a restart, and offers the client
 * operations the Durable HTTP API exposes.
 */
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HostComponent, HostContext } from '../context';
import { parseTimeSpan, resolveSettingRefs } from '../host-json';
import type { Registration, RpcTypedData } from '../worker/core';
import { typedDataToJson } from '../worker/typed-data';
import { managementPayload, mountDurableApi } from './api';
import { EntityRunner, parseSchedulerId, type EntityState } from './entities';
import { EventType, isTerminal, type FailureDetails, type HistoryEvent } from './history';
import { Instance, type InboxMessage } from './instance';
import { OrchestrationRunner, taskFailed } from './orchestrations';
import { DurableHostError, type DurableConfig, type EntityRequest, type HubServices } from './services';
import { statusJson, type StatusOptions } from './status';
import {
  DurableStore,
  type ActivityRow,
  type InstanceQuery,
  type InstanceRecord,
  type ParentRef,
} from './store';
import { TimerWheel, type DueTimer } from './timers';

export interface DurableHubOptions {
  dispatchOutputs?: (reg: Registration, outputs: { name: string; data: RpcTypedData }[]) => Promise<void>;
}

export class DurableHub implements HostComponent, HubServices {
  readonly name = 'durable';
  readonly dataDir: string;
  readonly config: DurableConfig;
  readonly store: DurableStore;
  readonly timers: TimerWheel;
  readonly live = new Map<string, Instance>();
  private readonly entities = new Map<string, EntityState>();
  private readonly orchestrations: OrchestrationRunner;
  private readonly entityRunner: EntityRunner;
  private readonly readyInstances = new Set<string>();
  private readonly readyEntities = new Set<string>();
  private readonly activities: ActivityRow[] = [];
  private running = { orchestrations: 0, activities: 0, entities: 0 };
  private stopped = true;
  private idleWaiters: (() => void)[] = [];
  private completionWaiters = new Map<string, (() => void)[]>();
  /** Instances whose final writes are not committed yet. */
  private readonly finishing = new Set<string>();

  constructor(
    private readonly ctx: HostContext,
    private readonly options: DurableHubOptions = {},
  ) {
    this.dataDir = ctx.dataDir;
    const dt = ctx.hostJson.extensions?.durableTask ?? {};
    const cores = Math.max(1, os.cpus().length);
    this.config = {
      hubName: resolveSettingRefs(String(dt.hubName ?? 'TestHubName'), ctx.env),
      maxConcurrentActivities: Number(dt.maxConcurrentActivityFunctions ?? 10 * cores),
      maxConcurrentOrchestrations: Number(dt.maxConcurrentOrchestratorFunctions ?? 10 * cores),
      maxConcurrentEntities: Number(dt.maxConcurrentEntityFunctions ?? 10 * cores),
      maxEntityBatch: Number(dt.maxEntityOperationBatchSize ?? 50),
      maximumShortTimerMs: parseTimeSpan(dt.maximumTimerInterval as string | undefined, 6 * 86_400_000),
      longRunningTimerIntervalMs: parseTimeSpan(
        dt.longRunningTimerInterval as string | undefined,
        3 * 86_400_000,
      ),
      maxEventsPerEpisode: 100,
    };
    this.store = new DurableStore(ctx.db);
    this.store.onError = (err) => {
      ctx.log.error(`durable store: ${err.message}`);
      throw err;
    };
    this.timers = new TimerWheel((due) => this.onTimersDue(due));
    this.orchestrations = new OrchestrationRunner(this);
    this.entityRunner = new EntityRunner(this);
    mountDurableApi(ctx, this);
    ctx.invoker.provideInput('durableClient', () => ({ string: JSON.stringify(this.clientData()) }));
    ctx.invoker.provideInput('orchestrationClient', () => ({ string: JSON.stringify(this.clientData()) }));
  }

  get registry(): HostContext['registry'] {
    return this.ctx.registry;
  }
  get invoker(): HostContext['invoker'] {
    return this.ctx.invoker;
  }
  get log(): HostContext['log'] {
    return this.ctx.log;
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  start(): void {
    this.stopped = false;
    const inbox = new Map<string, InboxMessage[]>();
    for (const row of this.store.loadInbox()) {
      const list = inbox.get(row.instanceId) ?? [];
      list.push({ seq: row.seq, event: JSON.parse(row.event) as HistoryEvent, json: row.event });
      inbox.set(row.instanceId, list);
    }
    for (const r of this.store.loadLiveInstances()) {
      const inst = new Instance(r);
      // A new execution's ExecutionStarted goes before events that were waiting for it.
      inst.inbox = (inbox.get(r.id) ?? []).sort(
        (a, b) =>
          Number(b.event.EventType === EventType.ExecutionStarted) -
            Number(a.event.EventType === EventType.ExecutionStarted) || a.seq - b.seq,
      );
      this.live.set(r.id, inst);
      if (inst.inbox.length) this.readyInstances.add(r.id);
    }
    for (const a of this.store.loadActivities()) this.activities.push(a);
    for (const t of this.store.loadTimers()) {
      if (this.live.get(t.instanceId)?.executionId === t.executionId) this.timers.add(t);
    }
    for (const q of this.store.loadEntityQueue()) {
      const e = this.entity(q.entityId);
      e.queue.push({ seq: q.seq, request: JSON.parse(q.request) as EntityRequest });
      this.readyEntities.add(e.id);
    }
    const resumed = this.live.size;
    if (resumed || this.activities.length) {
      this.log.info(
        `Durable task hub '${this.config.hubName}': resumed ${resumed} instance(s), ${this.activities.length} activity item(s), ${this.timers.size} timer(s).`,
      );
    }
    this.pump();
  }

  async stop(deadline: number): Promise<void> {
    this.stopped = true;
    this.timers.stop();
    while (this.busyCount() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.store.close();
  }

  describe(reg: Registration): string | undefined {
    const t = reg.trigger.type.toLowerCase();
    if (t === 'orchestrationtrigger' || t === 'activitytrigger' || t === 'entitytrigger')
      return reg.trigger.type;
    return undefined;
  }

  // ---- HubServices ---------------------------------------------------------------------------

  function(name: string, triggerType: string): Registration | undefined {
    const reg = this.ctx.registry.get(name);
    return reg && reg.trigger.type.toLowerCase() === triggerType.toLowerCase() ? reg : undefined;
  }

  deliver(instanceId: string, executionId: string | undefined, event: HistoryEvent): void {
    const inst = this.live.get(instanceId);
    if (!inst || isTerminal(inst.status) || (executionId !== undefined && inst.executionId !== executionId)) {
      this.log.debug(`dropped event ${event.EventType} for instance ${instanceId}: it is not running`);
      return;
    }
    const json = JSON.stringify(event);
    const row = this.store.addInbox(instanceId, json);
    inst.inbox.push({ seq: row.seq, event, json });
    this.store.afterFlush(() => this.markReady(instanceId));
  }

  scheduleActivity(a: Omit<ActivityRow, 'seq'>): void {
    const row = this.store.addActivity(a);
    this.store.afterFlush(() => {
      this.activities.push(row);
      this.pump();
    });
  }

  sendToEntity(entityId: string, request: EntityRequest): void {
    const e = this.entity(entityId);
    const row = this.store.addEntityRequest(entityId, JSON.stringify(request));
    e.queue.push({ seq: row.seq, request });
    this.store.afterFlush(() => {
      this.readyEntities.add(entityId);
      this.pump();
    });
  }

  createInstance(name: string, id: string, input: string | undefined, parent?: ParentRef): Instance {
    if (!this.function(name, 'orchestrationTrigger')) {
      throw new DurableHostError(
        'NotFound',
        `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.`,
      );
    }
    const existing = this.live.get(id);
    if (existing) {
      throw new DurableHostError(
        'Conflict',
        `An instance with ID '${id}' already exists and is ${existing.status}.`,
      );
    }
    const now = new Date().toISOString();
    const inst = Instance.create(name, id, input, parent, now);
    inst.history = [];
    this.live.set(id, inst);
    // A finished instance with the same id is replaced (its history goes).
    if (this.finishing.has(id) || this.store.instanceExists(id)) this.store.purge(id);
    this.store.saveInstance(inst);
    const started = inst.startedEvent(now);
    const json = JSON.stringify(started);
    const row = this.store.addInbox(id, json);
    inst.inbox.push({ seq: row.seq, event: started, json });
    this.store.afterFlush(() => this.markReady(id));
    return inst;
  }

  finished(inst: Instance): void {
    this.finishing.add(inst.id);
    this.store.afterFlush(() => {
      this.finishing.delete(inst.id);
      if (this.live.get(inst.id) === inst) this.live.delete(inst.id);
      const waiters = this.completionWaiters.get(inst.id);
      this.completionWaiters.delete(inst.id);
      waiters?.forEach((w) => w());
    });
  }

  async dispatchOutputs(reg: Registration, outputs: { name: string; data: unknown }[]): Promise<void> {
    if (outputs.length && this.options.dispatchOutputs) {
      await this.options.dispatchOutputs(reg, outputs as { name: string; data: RpcTypedData }[]);
    }
  }

  // ---- scheduling ----------------------------------------------------------------------------

  private markReady(instanceId: string): void {
    this.readyInstances.add(instanceId);
    this.pump();
  }

  private busyCount(): number {
    return this.running.orchestrations + this.running.activities + this.running.entities;
  }

  /** Starts as much ready work as the concurrency limits allow. */
  private pump(): void {
    if (this.stopped) return;
    const c = this.config;
    for (const id of this.readyInstances) {
      if (this.running.orchestrations >= c.maxConcurrentOrchestrations) break;
      this.readyInstances.delete(id);
      const inst = this.live.get(id);
      if (
        !inst ||
        inst.busy ||
        inst.inbox.length === 0 ||
        inst.status === 'Suspended' ||
        isTerminal(inst.status)
      )
        continue;
      void this.runOrchestration(inst);
    }
    while (this.activities.length && this.running.activities < c.maxConcurrentActivities) {
      void this.runActivity(this.activities.shift()!);
    }
    for (const id of this.readyEntities) {
      if (this.running.entities >= c.maxConcurrentEntities) break;
      this.readyEntities.delete(id);
      const e = this.entities.get(id);
      if (!e || e.busy || e.queue.length === 0) continue;
      void this.runEntity(e);
    }
    if (
      this.idleWaiters.length &&
      this.busyCount() === 0 &&
      this.readyInstances.size === 0 &&
      this.activities.length === 0 &&
      this.readyEntities.size === 0
    ) {
      // Idle once the last writes are committed too.
      if (this.store.pendingWrites > 0) this.store.afterFlush(() => this.pump());
      else this.idleWaiters.splice(0).forEach((w) => w());
    }
  }

  private async runOrchestration(inst: Instance): Promise<void> {
    inst.busy = true;
    this.running.orchestrations++;
    try {
      await this.orchestrations.runEpisode(inst);
    } catch (err) {
      this.log.error(`orchestration ${inst.id}: ${(err as Error).stack ?? String(err)}`);
      if (!isTerminal(inst.status)) {
        this.orchestrations.finish(inst, 'Failed', new Date().toISOString(), undefined, {
          message: (err as Error).message,
        });
      }
    } finally {
      inst.busy = false;
      this.running.orchestrations--;
      for (const op of inst.deferred.splice(0)) op();
      if (inst.inbox.length && !isTerminal(inst.status)) this.store.afterFlush(() => this.markReady(inst.id));
      this.pump();
    }
  }

  private async runActivity(item: ActivityRow): Promise<void> {
    const inst = this.live.get(item.instanceId);
    if (!inst || inst.executionId !== item.executionId) {
      this.store.removeActivity(item.seq);
      return;
    }
    const reg = this.function(item.name, 'activityTrigger');
    this.running.activities++;
    let event: HistoryEvent;
    try {
      if (!reg)
        throw new Error(
          `The function '${item.name}' doesn't exist, is disabled, or is not an activity function.`,
        );
      const res = await this.ctx.invoker.invoke(reg, {
        trigger: item.input === undefined ? undefined : { string: item.input },
      });
      if (res.error) {
        event = activityFailed(item, res.error);
      } else {
        const outputs = (res.response?.outputData ?? [])
          .filter((o) => o.data)
          .map((o) => ({ name: String(o.name), data: o.data! }));
        await this.dispatchOutputs(reg, outputs);
        event = {
          EventType: EventType.TaskCompleted,
          EventId: -1,
          Timestamp: new Date().toISOString(),
          TaskScheduledId: item.taskId,
          Result: typedDataToJson(res.response?.returnValue),
        };
      }
    } catch (err) {
      event = activityFailed(item, err as Error);
    } finally {
      this.running.activities--;
    }
    this.store.removeActivity(item.seq);
    this.deliver(item.instanceId, item.executionId, event);
    this.pump();
  }

  private entity(id: string): EntityState {
    let e = this.entities.get(id);
    if (!e) {
      const rec = this.store.loadEntity(id);
      const { name, key } = parseSchedulerId(id);
      e = {
        id,
        name,
        key,
        exists: rec?.exists ?? false,
        state: rec?.state,
        lastModified: rec?.lastModified ?? '',
        queue: [],
        busy: false,
      };
      this.entities.set(id, e);
    }
    return e;
  }

  private async runEntity(e: EntityState): Promise<void> {
    e.busy = true;
    this.running.entities++;
    try {
      await this.entityRunner.runBatch(e);
    } catch (err) {
      this.log.error(`entity ${e.id}: ${(err as Error).message}`);
    } finally {
      e.busy = false;
      this.running.entities--;
      if (e.queue.length)
        this.store.afterFlush(() => {
          this.readyEntities.add(e.id);
          this.pump();
        });
      else if (!e.exists) this.entities.delete(e.id);
      this.pump();
    }
  }

  private onTimersDue(due: DueTimer[]): void {
    for (const t of due) {
      this.store.removeTimer(t);
      this.deliver(t.instanceId, t.executionId, {
        EventType: EventType.TimerFired,
        EventId: -1,
        Timestamp: new Date().toISOString(),
        TimerId: t.timerId,
        FireAt: t.fireAt,
      });
    }
  }

  /** Resolves when no work is ready or running and every write is committed (timers may be pending). */
  whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.store.afterFlush(() => this.pump());
    });
  }

  // ---- client operations ---------------------------------------------------------------------

  /** Creates an instance; resolves once it is committed (concurrent starts share one transaction). */
  async startNew(
    name: string,
    input?: string,
    instanceId: string = randomUUID().replace(/-/g, ''),
  ): Promise<string> {
    this.createInstance(name, instanceId, input === '' ? undefined : input);
    await this.store.committed();
    return instanceId;
  }

  private liveOrThrow(id: string): Instance {
    const inst = this.live.get(id);
    if (inst) return inst;
    this.store.flush();
    if (this.store.loadInstance(id))
      throw new DurableHostError('Gone', `Instance '${id}' has already completed.`);
    throw new DurableHostError('NotFound', `No instance with ID '${id}' found.`);
  }

  /** Applies a client operation now, or right after the episode in progress. */
  private control(inst: Instance, op: () => void): void {
    if (inst.busy)
      inst.deferred.push(() => {
        if (!isTerminal(inst.status)) op();
      });
    else op();
    this.store.flush();
  }

  async raiseEvent(id: string, name: string, input?: string): Promise<void> {
    const inst = this.liveOrThrow(id);
    this.deliver(inst.id, undefined, {
      EventType: EventType.EventRaised,
      EventId: -1,
      Timestamp: new Date().toISOString(),
      Name: name,
      Input: input === '' ? undefined : input,
    });
    await this.store.committed();
  }

  terminate(id: string, reason: string): void {
    const inst = this.liveOrThrow(id);
    this.control(inst, () =>
      this.orchestrations.finish(inst, 'Terminated', new Date().toISOString(), JSON.stringify(reason)),
    );
  }

  suspend(id: string, reason: string): void {
    const inst = this.liveOrThrow(id);
    this.control(inst, () => {
      if (inst.status === 'Suspended') return;
      inst.status = 'Suspended';
      this.appendControlEvent(inst, EventType.ExecutionSuspended, reason);
    });
  }

  resume(id: string, reason: string): void {
    const inst = this.liveOrThrow(id);
    this.control(inst, () => {
      if (inst.status !== 'Suspended') return;
      inst.status = inst.history?.length ? 'Running' : 'Pending';
      this.appendControlEvent(inst, EventType.ExecutionResumed, reason);
      if (inst.inbox.length) this.store.afterFlush(() => this.markReady(inst.id));
    });
  }

  private appendControlEvent(inst: Instance, type: number, reason: string): void {
    inst.history ??= this.store.loadHistory(inst.id);
    const now = new Date().toISOString();
    const json = JSON.stringify({
      EventType: type,
      EventId: -1,
      Timestamp: now,
      Reason: reason,
      IsPlayed: true,
    });
    this.store.appendHistory(inst.id, inst.history.length, [json]);
    inst.history.push(json);
    inst.lastUpdatedTime = now;
    this.store.saveInstance(inst);
  }

  /** Deletes a finished instance and its history. Returns how many were deleted. */
  purge(id: string): number {
    if (this.live.has(id)) {
      throw new DurableHostError(
        'BadRequest',
        `Instance '${id}' is still running: terminate it before purging its history.`,
      );
    }
    this.store.flush();
    if (!this.store.loadInstance(id)) return 0;
    this.store.purge(id);
    this.store.flush();
    return 1;
  }

  purgeWhere(q: InstanceQuery): number {
    this.store.flush();
    const finished = this.store.queryInstances(q).filter((r) => isTerminal(r.status));
    for (const r of finished) this.store.purge(r.id);
    this.store.flush();
    return finished.length;
  }

  getStatus(id: string, o: StatusOptions = {}): Record<string, unknown> | undefined {
    const inst = this.live.get(id);
    if (inst)
      return statusJson(inst, o.showHistory ? (inst.history ??= this.store.loadHistory(id)) : undefined, o);
    this.store.flush();
    const r = this.store.loadInstance(id);
    return r ? statusJson(r, o.showHistory ? this.store.loadHistory(id) : undefined, o) : undefined;
  }

  query(
    q: InstanceQuery,
    o: StatusOptions = {},
  ): { items: Record<string, unknown>[]; last?: InstanceRecord } {
    this.store.flush();
    const rows = this.store.queryInstances(q);
    return {
      items: rows.map((r) => statusJson(this.live.get(r.id) ?? r, undefined, o)),
      last: rows[rows.length - 1],
    };
  }

  /** Resolves when the instance reaches a terminal state or the timeout passes (true if finished). */
  waitForCompletion(id: string, timeoutMs: number): Promise<boolean> {
    if (!this.live.has(id)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      const list = this.completionWaiters.get(id) ?? [];
      list.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      this.completionWaiters.set(id, list);
    });
  }

  async signalEntity(name: string, key: string, op: string, input?: string): Promise<void> {
    if (!this.function(name, 'entityTrigger')) {
      throw new DurableHostError(
        'NotFound',
        `The function '${name}' doesn't exist, is disabled, or is not an entity function.`,
      );
    }
    this.sendToEntity(`@${name.toLowerCase()}@${key}`, {
      id: randomUUID(),
      op,
      signal: true,
      input: input === '' ? undefined : input,
    });
    await this.store.committed();
  }

  readEntity(name: string, key: string): { exists: boolean; state?: string } {
    const id = `@${name.toLowerCase()}@${key}`;
    const e = this.entities.get(id);
    if (e) return { exists: e.exists, state: e.state };
    this.store.flush();
    const rec = this.store.loadEntity(id);
    return { exists: rec?.exists ?? false, state: rec?.state };
  }

  listEntities(
    name: string,
    top: number,
  ): { name: string; key: string; state: unknown; lastOperationTime: string }[] {
    this.store.flush();
    return this.store.queryEntities(`@${name.toLowerCase()}@`, top).map((r) => ({
      ...parseSchedulerId(r.id),
      state: r.state === undefined ? null : (JSON.parse(r.state) as unknown),
      lastOperationTime: r.lastModified,
    }));
  }

  /** What the extension puts in a durableClient input binding; the DurableClient calls us back over HTTP. */
  /** `taskHub=…&connection=Storage`, the query the extension puts on its management URLs. */
  hubQueryString(): string {
    return `taskHub=${encodeURIComponent(this.config.hubName)}&connection=Storage`;
  }

  /** What the extension puts in a durableClient input binding; the DurableClient calls us back over HTTP. */
  clientData(): Record<string, unknown> {
    const base = `${this.ctx.baseUrl()}/runtime/webhooks/durabletask/`;
    const qs = this.hubQueryString();
    return {
      taskHubName: this.config.hubName,
      creationUrls: {
        createNewInstancePostUri: `${base}orchestrators/{functionName}[/{instanceId}]?${qs}`,
        waitOnNewInstancePostUri: `${base}orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&${qs}`,
      },
      managementUrls: managementPayload(base, 'INSTANCEID', qs),
      baseUrl: base,
      requiredQueryStringParameters: qs,
      rpcBaseUrl: base,
      httpBaseUrl: base,
      maxGrpcMessageSizeInBytes: 0,
      grpcHttpClientTimeout: '00:01:40',
    };
  }

  baseUrl(): string {
    return this.ctx.baseUrl();
  }

  get databaseFile(): string {
    return path.join(this.dataDir, 'local-host.sqlite');
  }
}

function activityFailed(item: ActivityRow, err: Error): HistoryEvent {
  let details: FailureDetails = {
    ErrorType: err.name || 'Error',
    ErrorMessage: err.message,
    StackTrace: err.stack,
    IsNonRetriable: false,
  };
  // With an exception properties provider the SDK serialises the failure details into the message.
  try {
    const parsed = JSON.parse(err.message) as Record<string, unknown>;
    if (parsed && typeof parsed.errorMessage === 'string') {
      details = {
        ErrorType: typeof parsed.errorType === 'string' ? parsed.errorType : details.ErrorType,
        ErrorMessage: parsed.errorMessage,
        StackTrace: (parsed.stackTrace as string | undefined) ?? details.StackTrace,
        IsNonRetriable: Boolean(parsed.isNonRetriable),
        Properties: parsed.properties as Record<string, unknown> | undefined,
      };
    }
  } catch {
    // a plain message
  }
  return taskFailed(item.taskId, `Activity function '${item.name}' failed: ${details.ErrorMessage}`, details);
}
