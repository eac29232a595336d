/**
 * The Cosmos DB RunStore and EventLog (docs/storage.md has the containers, ids and crash windows).
 * - runs (pk = run id): every run operation but listing is a point operation, since the port names
 *   runs by id alone and ids are unique across tenants. The record's etag is the document's `_etag`;
 *   updates replace with If-Match, and a 412 re-reads and re-runs `mutate` (no lost update).
 * - Idempotency: a key document, created before the run, decides; see run-docs.ts.
 * - Event logs (events.ts) and outputs (outputs.ts) live in their own containers, partitioned by run.
 * Bootstrap is asynchronous and the stores are built synchronously, so every method awaits `ready`.
 */
import type { Container, CosmosClient } from '@azure/cosmos';
import { buildRun, pageOf, planList, prepareUpdate } from '../memory-runs';
import {
  DEFAULT_UPDATE_RETRIES,
  applyStepPatch,
  runExists,
  runNotFound,
  updateConflict,
  type EventLog,
  type NewRun,
  type NewRunEvent,
  type OutputRef,
  type RunEvent,
  type RunPage,
  type RunQuery,
  type RunRecord,
  type RunStore,
  type StepPatch,
  type Unsubscribe,
} from '../runs';
import { CosmosEventLog } from './events';
import { deleteOutputs, getOutput, putOutput } from './outputs';
import { createKeyed, fromDoc, keyDocId, runDoc, type KeyDoc, type RunDoc } from './run-docs';
import { OUTPUTS_CONTAINER, RUNS_CONTAINER, eventsContainer, lazy, openContainers, scopeOf } from './setup';
import {
  backoff,
  createItem,
  deleteItem,
  hasStatus,
  itemId,
  queryAll,
  readItem,
  serialized,
  type Stored,
} from './shared';

export interface CosmosRunStoreOptions {
  /** The store owns the client: close() disposes it. */
  client: CosmosClient;
  /** Database id (COSMOS_DATABASE). */
  database: string;
  /** How often a subscription polls for appends made by other processes (default 250 ms). */
  pollMs?: number;
  /** Default TTL of event segments, in seconds (RUN_EVENTS_TTL_HOURS × 3600); 0: only purgeExpired. */
  eventsTtlSeconds?: number;
  /** Stores with one scope share queues and wake-ups (default: endpoint + database; see setup.ts). */
  scope?: string;
}

interface Context {
  runs: Container;
  events: Container;
  outputs: Container;
  scope: string;
}

/**
 * Writes started from inside a running `mutate` (synchronous code): the update that called it waits
 * for them before its own write — as with the synchronous adapters, where they land at once — and
 * they skip the per-run queue that update holds (waiting there would deadlock).
 */
let nested: Promise<unknown>[] | undefined;

/** Registers a run write made inside a running `mutate` (see `nested`). */
function track<T>(result: Promise<T>): Promise<T> {
  nested?.push(result.catch(() => undefined));
  return result;
}

export class CosmosRunStore implements RunStore, EventLog {
  private readonly client: CosmosClient;
  private readonly ready: () => Promise<Context>;
  private readonly log: CosmosEventLog;

  constructor(options: CosmosRunStoreOptions) {
    const { client, database } = options;
    this.client = client;
    this.ready = lazy(async () => {
      const specs = {
        runs: RUNS_CONTAINER,
        events: eventsContainer(options.eventsTtlSeconds),
        outputs: OUTPUTS_CONTAINER,
      };
      const [containers, scope] = await Promise.all([
        openContainers(client, database, specs),
        scopeOf(client, database, options.scope),
      ]);
      return { ...containers, scope };
    });
    this.log = new CosmosEventLog(this.ready, options.pollMs ?? 250);
  }

  async createRun(input: NewRun): Promise<{ run: RunRecord; created: boolean }> {
    const { runs } = await this.ready();
    const run = buildRun(input);
    if (run.idempotencyKey !== undefined) return createKeyed(runs, run, run.idempotencyKey);
    const made = await createItem(runs, runDoc(run));
    if (!made) throw runExists(run.id);
    return { run: fromDoc(made), created: true };
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const { runs } = await this.ready();
    const doc = await readItem<RunDoc>(runs, itemId(id), id);
    return doc && fromDoc(doc);
  }

  /** A cross-partition query: newest first, keyset paging on (createdAt, id) like the other adapters. */
  async listRuns(query: RunQuery = {}): Promise<RunPage> {
    const plan = planList(query);
    const { runs } = await this.ready();
    const where = ["c.kind = 'run'"];
    const params: Record<string, string> = {};
    const add = (clause: string, values: Record<string, string | undefined>): void => {
      if (Object.values(values).some((v) => v === undefined)) return;
      where.push(clause);
      Object.assign(params, values);
    };
    add('c.record.status = @status', { '@status': plan.status });
    add('c.record.workflowId = @workflowId', { '@workflowId': plan.workflowId });
    add('c.tenant = @tenant', { '@tenant': plan.tenantId });
    add('c.record.createdAt >= @from', { '@from': plan.from });
    add('c.record.createdAt < @to', { '@to': plan.to });
    add('(c.record.createdAt < @afterAt OR (c.record.createdAt = @afterAt AND c.record.id < @afterId))', {
      '@afterAt': plan.after?.createdAt,
      '@afterId': plan.after?.id,
    });
    const sql =
      `SELECT TOP ${plan.limit + 1} * FROM c WHERE ${where.join(' AND ')} ` +
      'ORDER BY c.record.createdAt DESC, c.record.id DESC';
    return pageOf((await queryAll<Stored<RunDoc>>(runs, sql, params)).map(fromDoc), plan.limit);
  }

  updateRun(
    id: string,
    mutate: (run: RunRecord) => void | RunRecord,
    options: { retries?: number } = {},
  ): Promise<RunRecord> {
    const inner = nested !== undefined;
    return track(this.update(id, mutate, options.retries ?? DEFAULT_UPDATE_RETRIES, inner));
  }

  updateStep(runId: string, stepId: string, patch: StepPatch): Promise<RunRecord> {
    return this.updateRun(runId, (run) => applyStepPatch(run, stepId, patch));
  }

  async putOutput(runId: string, stepId: string, text: string): Promise<OutputRef> {
    return putOutput((await this.ready()).outputs, runId, stepId, text);
  }

  async getOutput(ref: OutputRef | string): Promise<string> {
    return getOutput((await this.ready()).outputs, ref);
  }

  /** Frees the key, deletes outputs and events, and the run document last (a retry finishes the job). */
  deleteRun(id: string): Promise<boolean> {
    return track(this.remove(id));
  }

  async append(runId: string, event: NewRunEvent): Promise<RunEvent> {
    return (await this.log.appendMany(runId, [event]))[0]!;
  }

  appendMany(runId: string, events: NewRunEvent[], options: { batch?: number } = {}): Promise<RunEvent[]> {
    return this.log.appendMany(runId, events, options.batch);
  }

  read(runId: string, options: { afterId?: number; limit?: number } = {}): Promise<RunEvent[]> {
    return this.log.read(runId, options.afterId, options.limit);
  }

  subscribe(
    runId: string,
    afterId: number,
    onEvent: (event: RunEvent) => void,
    onError?: (err: unknown) => void,
  ): Unsubscribe {
    return this.log.subscribe(runId, afterId, onEvent, onError);
  }

  lastId(runId: string): Promise<number> {
    return this.log.lastId(runId);
  }

  purgeExpired(olderThanMs: number, now = Date.now()): Promise<number> {
    return this.log.purgeExpired(olderThanMs, now);
  }

  /** Ends every subscription and disposes the client. */
  close(): void {
    this.log.close();
    this.client.dispose();
  }

  private async remove(id: string): Promise<boolean> {
    const { runs, outputs } = await this.ready();
    const doc = await readItem<RunDoc>(runs, itemId(id), id);
    const key = doc?.record.idempotencyKey;
    if (doc?.claim !== undefined && key !== undefined) {
      const keyId = keyDocId(doc.record.tenantId, key);
      const keyDoc = await readItem<KeyDoc>(runs, keyId, keyId);
      if (keyDoc?.claim === doc.claim) await deleteItem(runs, keyId, keyId, keyDoc._etag);
    }
    await Promise.all([deleteOutputs(outputs, id), this.log.deleteLog(id)]);
    return doc !== undefined && (await deleteItem(runs, itemId(id), id));
  }

  /** Read, mutate, replace with If-Match; queued per run in this process unless nested in a mutate. */
  private async update(
    id: string,
    mutate: (run: RunRecord) => void | RunRecord,
    retries: number,
    inner: boolean,
  ): Promise<RunRecord> {
    const { runs, scope } = await this.ready();
    const attempt = (): Promise<RunRecord> => compareAndSwap(runs, id, mutate, retries);
    return inner ? attempt() : serialized(`run\0${scope}\0${id}`, attempt);
  }
}

async function compareAndSwap(
  runs: Container,
  id: string,
  mutate: (run: RunRecord) => void | RunRecord,
  retries: number,
): Promise<RunRecord> {
  for (let attempt = 0; ; attempt++) {
    const doc = await readItem<RunDoc>(runs, itemId(id), id);
    if (!doc) throw runNotFound(id);
    const current = fromDoc(doc);
    const outer = nested;
    const started: Promise<unknown>[] = (nested = []);
    let next: RunRecord | undefined;
    try {
      next = prepareUpdate(current, mutate);
    } finally {
      nested = outer;
    }
    await Promise.all(started);
    if (!next) return current;
    try {
      const { resource } = await runs.item(doc.id, id).replace<RunDoc>(runDoc(next, doc.claim), {
        accessCondition: { type: 'IfMatch', condition: doc._etag },
      });
      return fromDoc(resource!);
    } catch (err) {
      if (hasStatus(err, 404)) throw runNotFound(id);
      if (!hasStatus(err, 412)) throw err;
    }
    if (attempt >= retries) throw updateConflict(id, attempt + 1);
    await backoff(attempt);
  }
}
