/**
 * Run documents in the runs container, and the idempotent create.
 * - A run: `{id, pk: run id, kind: 'run', tenant, record}`; the record without its etag, which is the
 *   document's `_etag`.
 * - A key: `{id: '~key.' + sha256(tenant, key), pk: its id, kind: 'key', runId, claim, record}`. The
 *   create of this document decides who made the run (409: the key is taken); it carries the new
 *   record, so whoever finds the key without its run (its creator died in between, or is still
 *   writing) creates the run from it: one run per key, and no crash window that loses or doubles one.
 *   The run document copies the key's random `claim`, which tells "the key's run" from another run that
 *   happens to hold the same id (then the creation is RUN.EXISTS and the key is released).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Container } from '@azure/cosmos';
import { z } from 'zod';
import { ConflictError } from '../../errors';
import { keyOf } from '../memory-runs';
import { RUN_STATUSES, runExists, type RunRecord } from '../runs';
import { createItem, deleteItem, itemId, readItem, type Stored } from './shared';

export type StoredRecord = Omit<RunRecord, 'etag'>;

export interface RunDoc {
  id: string;
  pk: string;
  kind: 'run';
  /** The tenant or '' (what listRuns filters on). */
  tenant: string;
  record: StoredRecord;
  /** The claim of the key document that made this run (keyed runs only). */
  claim?: string;
}

export interface KeyDoc {
  id: string;
  pk: string;
  kind: 'key';
  runId: string;
  /** A random token the run document copies: tells "my run" from another run with the same id. */
  claim: string;
  record: StoredRecord;
}

/** Documents read back are checked: a hand-edited or older document fails loudly. */
const storedRun = z.looseObject({
  id: z.string(),
  workflowId: z.string(),
  workflowVersion: z.string(),
  status: z.enum(RUN_STATUSES),
  createdAt: z.string(),
  updatedAt: z.string(),
  steps: z.record(z.string(), z.looseObject({ id: z.string(), kind: z.string(), attempts: z.number() })),
  totals: z.looseObject({ durationMs: z.number() }),
});

const ATTEMPTS = 10;

/** Creates a keyed run, or answers the run its key already names (see the file comment). */
export async function createKeyed(
  runs: Container,
  run: RunRecord,
  key: string,
): Promise<{ run: RunRecord; created: boolean }> {
  const id = keyDocId(run.tenantId, key);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const ours: KeyDoc = {
      id,
      pk: id,
      kind: 'key',
      runId: run.id,
      claim: randomUUID(),
      record: stored(run),
    };
    const mine = await createItem(runs, ours);
    const keyDoc = mine ?? (await readItem<KeyDoc>(runs, id, id));
    if (!keyDoc) continue; // released between our create and our read
    // The key's creator usually finds no run yet (try the create first); others usually find it.
    const found = await materialize(runs, keyDoc, mine !== undefined);
    if (found) return { run: found, created: mine !== undefined };
    // The key names an id that another run holds (its creation fails with RUN.EXISTS): release it.
    await deleteItem(runs, id, id, keyDoc._etag);
    if (mine) throw runExists(run.id);
  }
  throw new ConflictError(
    'RUN.CREATE_CONFLICT',
    `Run creation with key '${key}' kept conflicting; try again.`,
  );
}

/**
 * The run a key document names: read, or created from the key's record (finishing a creation that
 * stopped after claiming the key); undefined when another run holds that id.
 */
async function materialize(
  runs: Container,
  key: KeyDoc,
  createFirst: boolean,
): Promise<RunRecord | undefined> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (createFirst || attempt > 0) {
      const made = await createItem(runs, runDoc(key.record, key.claim));
      if (made) return fromDoc(made);
    }
    const doc = await readItem<RunDoc>(runs, itemId(key.runId), key.runId);
    if (doc) return doc.claim === key.claim ? fromDoc(doc) : undefined;
  }
  throw new ConflictError(
    'RUN.CREATE_CONFLICT',
    `Run '${key.runId}' kept appearing and disappearing; try again.`,
  );
}

export const keyDocId = (tenantId: string | undefined, key: string): string =>
  `~key.${createHash('sha256').update(keyOf(tenantId, key), 'utf8').digest('hex')}`;

function stored(run: StoredRecord & { etag?: string }): StoredRecord {
  const { etag: _etag, ...record } = run;
  return record;
}

export function runDoc(run: StoredRecord & { etag?: string }, claim?: string): RunDoc {
  const doc: RunDoc = {
    id: itemId(run.id),
    pk: run.id,
    kind: 'run',
    tenant: run.tenantId ?? '',
    record: stored(run),
  };
  if (claim !== undefined) doc.claim = claim;
  return doc;
}

export function fromDoc(doc: Stored<RunDoc>): RunRecord {
  const parsed = storedRun.safeParse(doc.record);
  if (!parsed.success)
    throw new Error(`runs document '${doc.id}' is not a valid run record: ${parsed.error.message}`);
  return { ...(parsed.data as unknown as StoredRecord), etag: doc._etag };
}
