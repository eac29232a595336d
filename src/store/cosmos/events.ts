/**
 * Run event logs in the runEvents container, partitioned by run id:
 * - `head` (one per run, ttl -1 so it never expires): the last id handed out, the last record batch
 *   applied, when the log closed (its terminal event's time) and whether purgeExpired emptied it.
 * - `seg.<first>`: the events of one append call, ids first..last, in one document.
 * An append is one transactional batch: replace the head if its etag still matches (create it for a
 * new log), then create the segment. On Azure that is all or nothing, so ids are gapless even if the
 * writer dies mid-call, and a reader sees a segment exactly when the head counts it. A 412/409 on the
 * head means another writer won: read the head again and retry. In this process appends to one run
 * queue up (`serialized`) and reuse the head they last wrote, so a lone writer costs one request.
 */
import { EventEmitter } from 'node:events';
import type { Container, OperationInput } from '@azure/cosmos';
import { ConflictError } from '../../errors';
import { jsonClone, toEvent } from '../memory-runs';
import {
  eventsClosed,
  isTerminalEvent,
  tailEvents,
  type NewRunEvent,
  type RunEvent,
  type Unsubscribe,
} from '../runs';
import {
  asJson,
  backoff,
  committed,
  deleteItem,
  hasStatus,
  mapLimit,
  queryAll,
  readItem,
  serialized,
  transact,
  withoutSystem,
} from './shared';

interface Head {
  id: 'head';
  pk: string;
  kind: 'head';
  last: number;
  lastBatch?: number;
  closedAt?: string;
  purged?: true;
  ttl: -1;
}

interface Segment {
  id: string;
  pk: string;
  kind: 'seg';
  first: number;
  last: number;
  events: Omit<RunEvent, 'runId'>[];
}

/** Append attempts before giving up (each conflict means another writer made progress). */
const MAX_ATTEMPTS = 50;
const CACHE_LIMIT = 10_000;

/** The head each run's last append in this process wrote, with its etag (per scope and run). */
const heads = new Map<string, { head: Head; etag: string }>();
/** Appends through any store of a scope wake that scope's subscribers in this process at once. */
const appended = new EventEmitter().setMaxListeners(0);

export interface EventsContext {
  events: Container;
  scope: string;
}

export class CosmosEventLog {
  private readonly subscriptions = new Set<Unsubscribe>();

  constructor(
    private readonly ready: () => Promise<EventsContext>,
    private readonly pollMs: number,
  ) {}

  async appendMany(runId: string, events: NewRunEvent[], batch?: number): Promise<RunEvent[]> {
    if (!events.length && batch === undefined) return [];
    const { events: container, scope } = await this.ready();
    const key = `${scope}\0${runId}`;
    const stored = await serialized(`events\0${key}`, () => write(container, key, runId, events, batch));
    if (stored.length) appended.emit(key);
    return stored;
  }

  async read(runId: string, afterId = 0, limit = Infinity): Promise<RunEvent[]> {
    const { events: container } = await this.ready();
    const pages = container.items.query<Segment>(
      {
        query: "SELECT * FROM c WHERE c.pk = @pk AND c.kind = 'seg' AND c.last > @after ORDER BY c.first",
        parameters: [
          { name: '@pk', value: runId },
          { name: '@after', value: afterId },
        ],
      },
      { maxItemCount: 100, partitionKey: runId },
    );
    const out: RunEvent[] = [];
    while (out.length < limit && pages.hasMoreResults()) {
      for (const seg of (await pages.fetchNext()).resources ?? []) {
        for (const e of seg.events) if (e.id > afterId && out.length < limit) out.push({ ...e, runId });
      }
    }
    return out;
  }

  subscribe(
    runId: string,
    afterId: number,
    onEvent: (event: RunEvent) => void,
    onError?: (err: unknown) => void,
  ): Unsubscribe {
    let key: string | undefined;
    let wakeUp: (() => void) | undefined;
    let stopped = false;
    const stop = tailEvents({
      afterId,
      read: (after, limit) => this.read(runId, after, limit),
      listen: (wake) => {
        // The scope is known once the store is ready (until then the reads and polls carry on); a
        // failing start is reported by the first read, which fails the same way.
        void this.ready().then(
          ({ scope }) => {
            if (stopped) return;
            key = `${scope}\0${runId}`;
            wakeUp = wake;
            appended.on(key, wake);
            wake();
          },
          () => undefined,
        );
        return () => {
          stopped = true;
          if (key && wakeUp) appended.off(key, wakeUp);
        };
      },
      onEvent,
      onError,
      pollMs: this.pollMs,
    });
    const unsubscribe = (): void => {
      this.subscriptions.delete(unsubscribe);
      stop();
    };
    this.subscriptions.add(unsubscribe);
    return unsubscribe;
  }

  async lastId(runId: string): Promise<number> {
    const { events: container } = await this.ready();
    return (await readItem<Head>(container, 'head', runId))?.last ?? 0;
  }

  /**
   * Deletes the segments of every closed log whose terminal event is older than the cutoff, then marks
   * its head purged (so it is not picked again); the head keeps the ids used and the log closed. Cosmos
   * TTL usually got there first on Azure; stand-ins have no TTL, so this is what deletes them there.
   */
  async purgeExpired(olderThanMs: number, now: number): Promise<number> {
    const { events: container, scope } = await this.ready();
    const cutoff = new Date(now - olderThanMs).toISOString();
    const runs = await queryAll<string>(
      container,
      "SELECT VALUE c.pk FROM c WHERE c.kind = 'head' AND c.closedAt < @cutoff AND NOT IS_DEFINED(c.purged)",
      { '@cutoff': cutoff },
    );
    const counts = await mapLimit(runs, 4, (runId) =>
      serialized(`events\0${scope}\0${runId}`, async () => {
        const deleted = await deleteSegments(container, runId);
        try {
          await container.item('head', runId).patch([{ op: 'set', path: '/purged', value: true }]);
        } catch (err) {
          if (!hasStatus(err, 404)) throw err;
        }
        heads.delete(`${scope}\0${runId}`);
        return deleted;
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Deletes the log: segments first, the head last (so a half-done delete never reuses an id). */
  async deleteLog(runId: string): Promise<void> {
    const { events: container, scope } = await this.ready();
    const key = `${scope}\0${runId}`;
    await serialized(`events\0${key}`, async () => {
      heads.delete(key);
      await deleteSegments(container, runId);
      await deleteItem(container, 'head', runId);
    });
  }

  close(): void {
    for (const unsubscribe of [...this.subscriptions]) unsubscribe();
  }
}

/** The append proper, queued per run in this process; retried on etag conflicts with other processes. */
async function write(
  container: Container,
  key: string,
  runId: string,
  events: NewRunEvent[],
  batch: number | undefined,
): Promise<RunEvent[]> {
  const end = events.findIndex((e) => isTerminalEvent(e.type));
  for (let attempt = 0; ; attempt++) {
    const cached = heads.get(key);
    const current = cached ?? (await readHead(container, runId));
    const head = current?.head;
    const skip = batch !== undefined && batch <= (head?.lastBatch ?? -Infinity);
    const closed =
      events.length > 0 && (head?.closedAt !== undefined || (end >= 0 && end < events.length - 1));
    if ((skip || closed) && cached) {
      heads.delete(key); // refuse only on what the database says, not on this process's memory
      continue;
    }
    if (skip) return [];
    if (closed) throw eventsClosed(runId);

    const last = head?.last ?? 0;
    const stored = events.map((e, i) => jsonClone(toEvent(runId, last + 1 + i, e)));
    const next: Head = { id: 'head', pk: runId, kind: 'head', last: last + stored.length, ttl: -1 };
    const lastBatch = batch ?? head?.lastBatch;
    if (lastBatch !== undefined) next.lastBatch = lastBatch;
    const closedAt = end >= 0 ? stored[end]!.at : head?.closedAt;
    if (closedAt !== undefined) next.closedAt = closedAt;
    if (head?.purged) next.purged = true;

    const operations: OperationInput[] = [
      current
        ? { operationType: 'Replace', id: 'head', resourceBody: asJson(next), ifMatch: current.etag }
        : { operationType: 'Create', resourceBody: asJson(next) },
    ];
    if (stored.length) {
      const segment: Segment = {
        id: `seg.${last + 1}`,
        pk: runId,
        kind: 'seg',
        first: last + 1,
        last: next.last,
        events: stored.map(({ runId: _runId, ...e }) => e),
      };
      operations.push({ operationType: 'Create', resourceBody: asJson(segment) });
    }
    const results = await transact(container, runId, operations);
    if (committed(results, operations.length)) {
      remember(key, next, results[0]!.eTag!);
      return stored;
    }
    heads.delete(key);
    const status = results[0]?.statusCode;
    // 412: the head changed; 409: it was created meanwhile; 404: it was deleted (deleteRun); 429:
    // throttled (inside a batch answered 207, so the SDK does not retry it itself).
    if (status === undefined || ![404, 409, 412, 429].includes(status)) {
      throw new Error(
        `Appending to run '${runId}' failed: batch statuses ${results.map((r) => r.statusCode).join(', ')}.`,
      );
    }
    if (attempt + 1 >= MAX_ATTEMPTS) {
      throw new ConflictError(
        'RUN.APPEND_CONFLICT',
        `Run '${runId}' kept changing under ${MAX_ATTEMPTS} append attempts (etag conflicts); try again.`,
      );
    }
    await backoff(Math.min(attempt, 6));
  }
}

async function readHead(
  container: Container,
  runId: string,
): Promise<{ head: Head; etag: string } | undefined> {
  const found = await readItem<Head>(container, 'head', runId);
  return found && { head: withoutSystem(found), etag: found._etag };
}

function remember(key: string, head: Head, etag: string): void {
  heads.delete(key);
  if (heads.size >= CACHE_LIMIT) heads.delete(heads.keys().next().value!);
  heads.set(key, { head, etag });
}

/** Deletes a run's segments; answers how many events they held. */
async function deleteSegments(container: Container, runId: string): Promise<number> {
  const segments = await queryAll<{ id: string; first: number; last: number }>(
    container,
    "SELECT c.id, c.first, c.last FROM c WHERE c.pk = @pk AND c.kind = 'seg'",
    { '@pk': runId },
  );
  const deleted = await mapLimit(segments, 8, async (s) =>
    (await deleteItem(container, s.id, runId)) ? s.last - s.first + 1 : 0,
  );
  return deleted.reduce((a, b) => a + b, 0);
}
