/** In-memory state of a live orchestration instance (the store holds the durable copy). */
import { randomUUID } from 'node:crypto';
import { EventType, type HistoryEvent, type Op, type RuntimeStatus } from './history';
import type { InstanceRecord, ParentRef } from './store';

export interface InboxMessage {
  seq: number;
  event: HistoryEvent;
  json: string;
}

export class Instance implements InstanceRecord {
  id: string;
  name: string;
  executionId: string;
  status: RuntimeStatus;
  input: string | undefined;
  output: string | undefined;
  customStatus: string | undefined;
  createdTime: string;
  lastUpdatedTime: string;
  parent: ParentRef | undefined;
  nextId: number;
  ops: Op[];
  /** History events as stored (JSON with IsPlayed true); loaded on first use. */
  history: string[] | undefined;
  inbox: InboxMessage[] = [];
  busy = false;
  /** Timestamp (ms) of the last episode, to keep the orchestration clock monotonic. */
  lastEpisodeMs = 0;
  /** Client operations that arrived while an episode was running, applied after it. */
  deferred: (() => void)[] = [];
  private index: Map<number, Op> | undefined;

  constructor(r: InstanceRecord) {
    this.id = r.id;
    this.name = r.name;
    this.executionId = r.executionId;
    this.status = r.status;
    this.input = r.input;
    this.output = r.output;
    this.customStatus = r.customStatus;
    this.createdTime = r.createdTime;
    this.lastUpdatedTime = r.lastUpdatedTime;
    this.parent = r.parent;
    this.nextId = r.nextId;
    this.ops = r.ops;
  }

  static create(
    name: string,
    id: string,
    input: string | undefined,
    parent: ParentRef | undefined,
    now: string,
  ): Instance {
    return new Instance({
      id,
      name,
      executionId: randomUUID().replace(/-/g, ''),
      status: 'Pending',
      input,
      output: undefined,
      customStatus: undefined,
      createdTime: now,
      lastUpdatedTime: now,
      parent,
      nextId: 0,
      ops: [],
    });
  }

  /** Task number → the op that owns it (retries and long timers own several numbers). */
  get opsById(): Map<number, Op> {
    if (!this.index) {
      this.index = new Map();
      for (const op of this.ops) for (const id of op.ids) this.index.set(id, op);
    }
    return this.index;
  }

  allocate(op: Op): number {
    const id = this.nextId++;
    op.ids.push(id);
    this.opsById.set(id, op);
    return id;
  }

  /** Starts a new execution (continueAsNew): empty history, numbering from zero. */
  reset(input: string | undefined): void {
    this.executionId = randomUUID().replace(/-/g, '');
    this.input = input;
    this.history = [];
    this.ops = [];
    this.nextId = 0;
    this.index = undefined;
    this.lastEpisodeMs = 0;
  }

  startedEvent(now: string): HistoryEvent {
    return {
      EventType: EventType.ExecutionStarted,
      EventId: -1,
      Timestamp: now,
      Name: this.name,
      Input: this.input,
      Version: '',
      OrchestrationInstance: { InstanceId: this.id, ExecutionId: this.executionId },
      ParentInstance: this.parent
        ? {
            OrchestrationInstance: { InstanceId: this.parent.id, ExecutionId: this.parent.executionId },
            TaskScheduleId: this.parent.taskId,
          }
        : undefined,
    };
  }
}
