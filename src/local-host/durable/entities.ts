/** Durable entities: one queue per entity, operations run in batches through the SDK's entity handler. */
import { randomUUID } from 'node:crypto';
import { EventType } from './history';
import type { EntityRequest, HubServices } from './services';
import type { EntityRecord } from './store';

export interface EntityState extends EntityRecord {
  name: string;
  key: string;
  queue: { seq: number; request: EntityRequest }[];
  busy: boolean;
}

interface EntityBatchResult {
  entityExists: boolean;
  entityState?: string;
  results: { isError: boolean; result?: string }[];
  signals: { target: { name: string; key: string }; name: string; input?: string }[];
}

/** `@name@key`, with the name lower-cased as the SDK does. */
export function schedulerId(name: string, key: string): string {
  return `@${name.toLowerCase()}@${key}`;
}

export function parseSchedulerId(id: string): { name: string; key: string } {
  const at = id.indexOf('@', 1);
  return { name: id.slice(1, at), key: id.slice(at + 1) };
}

export class EntityRunner {
  constructor(private readonly hub: HubServices) {}

  async runBatch(entity: EntityState): Promise<void> {
    const { store, config } = this.hub;
    const batch = entity.queue.slice(0, config.maxEntityBatch);
    const reg = this.hub.function(entity.name, 'entityTrigger');
    let out: EntityBatchResult | undefined;
    let failure: string | undefined;
    if (!reg) {
      failure = `The function '${entity.name}' doesn't exist, is disabled, or is not an entity function.`;
    } else {
      const binding = {
        self: { name: entity.name, key: entity.key },
        exists: entity.exists,
        state: entity.state,
        batch: batch.map((b) => ({
          id: b.request.id,
          name: b.request.op,
          signal: b.request.signal,
          input: b.request.input,
        })),
      };
      const res = await this.hub.invoker.invoke(reg, { trigger: { json: JSON.stringify(binding) } });
      if (res.error) failure = res.error.message;
      else out = res.result as EntityBatchResult;
    }
    const now = new Date().toISOString();
    if (out) {
      entity.exists = out.entityExists;
      entity.state = out.entityExists ? out.entityState : undefined;
      entity.lastModified = now;
      store.saveEntity(entity);
    } else {
      this.hub.log.error(`entity ${entity.id}: ${failure ?? 'no result'}`);
    }
    batch.forEach((b, i) => {
      store.removeEntityRequest(b.seq);
      const r = b.request;
      if (r.signal || !r.parent) return;
      const res = out?.results[i];
      const response = res
        ? res.isError
          ? { result: res.result, exceptionType: 'Error' }
          : { result: res.result }
        : { result: JSON.stringify(failure ?? 'the operation did not run'), exceptionType: 'Error' };
      this.hub.deliver(r.parent, r.parentExecution, {
        EventType: EventType.EventRaised,
        EventId: -1,
        Timestamp: now,
        Name: r.id,
        Input: JSON.stringify(response),
      });
    });
    entity.queue.splice(0, batch.length);
    for (const s of out?.signals ?? []) {
      this.hub.sendToEntity(schedulerId(s.target.name, s.target.key), {
        id: randomUUID(),
        op: s.name,
        signal: true,
        input: s.input ? s.input : undefined,
      });
    }
  }
}
