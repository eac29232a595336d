/**
 * Versioned workflow definitions in the workflows container, partitioned by workflow id:
 * - `head`: the workflow's incarnation `gen` (random per createWorkflow), the latest version's `seq`
 *   and a copy of the latest version, so getWorkflow and listWorkflows read heads only.
 * - `<gen>.<version>`: one immutable document per version, numbered by `seq` (1, 2, ...).
 * A new version is one transactional batch — replace the head if its etag still matches, create the
 * version — so of two writers exactly one wins; the loser reads again and gets the port's answer
 * (same content: the stored version; otherwise CATALOG.ETAG_MISMATCH or WORKFLOW_VERSION_EXISTS).
 * deleteWorkflow removes the head first (the workflow is gone at once), then the versions of every
 * incarnation but the current one: a crash in between leaves only unreachable documents, which the
 * next delete sweeps, and a new incarnation's ids never meet an old one's.
 */
import { randomUUID } from 'node:crypto';
import type { Container } from '@azure/cosmos';
import { z } from 'zod';
import type { WorkflowDefinition } from '../../workflows/definition';
import type { StoredWorkflow } from '../catalog';
import {
  newEtag,
  sameDefinition,
  workflowEtagMismatch,
  workflowExists,
  workflowNotFound,
  workflowVersionExists,
} from '../memory-catalog';
import {
  backoff,
  asJson,
  committed,
  deleteItem,
  itemId,
  mapLimit,
  queryAll,
  readItem,
  transact,
  withoutSystem,
  type Stored,
} from './shared';

interface Version {
  version: string;
  seq: number;
  etag: string;
  createdAt: string;
  definition: WorkflowDefinition;
}

interface Head {
  id: 'head';
  pk: string;
  kind: 'head';
  gen: string;
  seq: number;
  latest: Version;
}

interface VersionDoc extends Version {
  id: string;
  pk: string;
  kind: 'version';
  gen: string;
}

const storedDefinition = z.looseObject({
  id: z.string(),
  name: z.string(),
  version: z.string(),
  steps: z.array(z.unknown()).min(1),
});

const ATTEMPTS = 20;

export async function createWorkflow(container: Container, def: WorkflowDefinition): Promise<StoredWorkflow> {
  const gen = randomUUID();
  const version = newVersion(def, 1);
  const head: Head = { id: 'head', pk: def.id, kind: 'head', gen, seq: 1, latest: version };
  const results = await transact(container, def.id, [
    { operationType: 'Create', resourceBody: asJson(head) },
    { operationType: 'Create', resourceBody: asJson(versionDoc(def.id, gen, version)) },
  ]);
  if (results[0]?.statusCode === 409) throw workflowExists(def.id);
  if (!committed(results, 2)) throw batchFailed(def.id, results);
  return toStored(def.id, version, true);
}

export async function getWorkflow(
  container: Container,
  id: string,
  version?: string,
): Promise<StoredWorkflow | undefined> {
  const head = await readItem<Head>(container, 'head', id);
  if (!head) return undefined;
  const found = version === undefined ? head.latest : await findVersion(container, head, version);
  return found && toStored(id, found, found.seq === head.seq);
}

export async function listWorkflowVersions(container: Container, id: string): Promise<StoredWorkflow[]> {
  const head = await readItem<Head>(container, 'head', id);
  if (!head) return [];
  const versions = await queryAll<VersionDoc>(
    container,
    "SELECT * FROM c WHERE c.pk = @pk AND c.kind = 'version' AND c.gen = @gen ORDER BY c.seq",
    { '@pk': id, '@gen': head.gen },
  );
  return versions.map((v) => toStored(id, v, v.seq === head.seq));
}

/** A cross-partition query over the heads (the catalog is small); sorted by id here. */
export async function listWorkflows(container: Container): Promise<StoredWorkflow[]> {
  const heads = await queryAll<Head>(container, "SELECT * FROM c WHERE c.kind = 'head'");
  return heads
    .map((h) => toStored(h.pk, h.latest, true))
    .sort((a, b) => (a.definition.id < b.definition.id ? -1 : a.definition.id > b.definition.id ? 1 : 0));
}

export async function putWorkflowVersion(
  container: Container,
  def: WorkflowDefinition,
  ifMatch?: string,
): Promise<StoredWorkflow> {
  for (let attempt = 0; ; attempt++) {
    const head = await readItem<Head>(container, 'head', def.id);
    if (!head) throw workflowNotFound(def.id);
    const existing = await findVersion(container, head, def.version);
    if (existing && sameDefinition(existing.definition, def)) {
      return toStored(def.id, existing, existing.seq === head.seq);
    }
    if (ifMatch !== undefined && ifMatch !== head.latest.etag) throw workflowEtagMismatch(def.id);
    if (existing) throw workflowVersionExists(def.id, def.version);
    const version = newVersion(def, head.seq + 1);
    const next: Head = { ...withoutSystem(head), seq: version.seq, latest: version };
    const results = await transact(container, def.id, [
      { operationType: 'Replace', id: 'head', resourceBody: asJson(next), ifMatch: head._etag },
      { operationType: 'Create', resourceBody: asJson(versionDoc(def.id, head.gen, version)) },
    ]);
    if (committed(results, 2)) return toStored(def.id, version, true);
    // 412: another version got there first; 404: deleted meanwhile; 429: throttled. Look again.
    const status = results[0]?.statusCode;
    if (status === undefined || ![404, 412, 429].includes(status)) throw batchFailed(def.id, results);
    // Every lost round means a newer version was stored: after many, that is what the caller hears.
    if (attempt + 1 >= ATTEMPTS) throw workflowEtagMismatch(def.id);
    await backoff(Math.min(attempt, 5));
  }
}

export async function deleteWorkflow(container: Container, id: string): Promise<boolean> {
  const existed = await deleteItem(container, 'head', id);
  const versions = await queryAll<{ id: string; gen: string }>(
    container,
    "SELECT c.id, c.gen FROM c WHERE c.pk = @pk AND c.kind = 'version'",
    { '@pk': id },
  );
  const current = (await readItem<Head>(container, 'head', id))?.gen;
  await mapLimit(
    versions.filter((v) => v.gen !== current),
    8,
    (v) => deleteItem(container, v.id, id),
  );
  return existed;
}

async function findVersion(
  container: Container,
  head: Stored<Head>,
  version: string,
): Promise<Version | undefined> {
  if (head.latest.version === version) return head.latest;
  return readItem<VersionDoc>(container, `${head.gen}.${itemId(version)}`, head.pk);
}

function newVersion(def: WorkflowDefinition, seq: number): Version {
  return { version: def.version, seq, etag: newEtag(), createdAt: new Date().toISOString(), definition: def };
}

function versionDoc(id: string, gen: string, version: Version): VersionDoc {
  return { ...version, id: `${gen}.${itemId(version.version)}`, pk: id, kind: 'version', gen };
}

/** Checked on the way out: a hand-edited or mismatched document fails loudly. */
function toStored(id: string, v: Version, latest: boolean): StoredWorkflow {
  const parsed = storedDefinition.safeParse(v.definition);
  if (!parsed.success || parsed.data.id !== id || parsed.data.version !== v.version) {
    throw new Error(
      `workflows document '${id}' version '${v.version}' is not a valid workflow definition: ` +
        (parsed.error?.message ?? 'its id or version differs from the document'),
    );
  }
  // JSON round trip: the caller's definition object is never handed back (or kept) by reference.
  const definition = JSON.parse(JSON.stringify(parsed.data)) as WorkflowDefinition;
  return { definition, createdAt: v.createdAt, etag: v.etag, latest };
}

function batchFailed(id: string, results: { statusCode: number }[]): Error {
  return new Error(
    `Writing workflow '${id}' failed: batch statuses ` +
      `${results.map((r) => r.statusCode).join(', ') || 'none'}.`,
  );
}
