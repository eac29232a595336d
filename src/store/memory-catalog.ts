/**
 * The in-memory CatalogStore: tests, `CATALOG_STORE=memory`, and the reference the other adapters
 * are checked against (test/unit/store-catalog.test.ts). Documents are copied in and out, so a caller
 * that mutates what it got back never changes the store behind its back.
 */
import { randomUUID } from 'node:crypto';
import type { AgentDefinition } from '../agents/types';
import { ConflictError, NotFoundError } from '../errors';
import type { WorkflowDefinition } from '../workflows/definition';
import type { CatalogStore, StoredWorkflow } from './catalog';

/** One stored version; `latest` is worked out on reading (the last of its workflow's list). */
type WorkflowVersion = Omit<StoredWorkflow, 'latest'>;

export class MemoryCatalogStore implements CatalogStore {
  private readonly agents = new Map<string, AgentDefinition>();
  /** Every version of each workflow, oldest first. */
  private readonly workflows = new Map<string, WorkflowVersion[]>();

  listAgents(): Promise<AgentDefinition[]> {
    const all = [...this.agents.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return Promise.resolve(all.map((d) => structuredClone(d)));
  }

  getAgent(id: string): Promise<AgentDefinition | undefined> {
    const found = this.agents.get(id);
    return Promise.resolve(found && structuredClone(found));
  }

  createAgent(def: AgentDefinition): Promise<AgentDefinition> {
    if (this.agents.has(def.id)) return Promise.reject(agentExists(def.id));
    const now = new Date().toISOString();
    const stored: AgentDefinition = {
      ...structuredClone(def),
      createdAt: now,
      updatedAt: now,
      etag: newEtag(),
    };
    this.agents.set(def.id, stored);
    return Promise.resolve(structuredClone(stored));
  }

  updateAgent(def: AgentDefinition, ifMatch?: string): Promise<AgentDefinition> {
    const current = this.agents.get(def.id);
    if (!current) return Promise.reject(agentNotFound(def.id));
    if (ifMatch !== undefined && ifMatch !== current.etag) return Promise.reject(etagMismatch(def.id));
    const stored: AgentDefinition = {
      ...structuredClone(def),
      createdAt: current.createdAt,
      updatedAt: new Date().toISOString(),
      etag: newEtag(),
    };
    this.agents.set(def.id, stored);
    return Promise.resolve(structuredClone(stored));
  }

  deleteAgent(id: string): Promise<boolean> {
    return Promise.resolve(this.agents.delete(id));
  }

  listWorkflows(): Promise<StoredWorkflow[]> {
    const ids = [...this.workflows.keys()].sort();
    return Promise.resolve(ids.map((id) => latestOf(this.workflows.get(id)!)));
  }

  getWorkflow(id: string, version?: string): Promise<StoredWorkflow | undefined> {
    const versions = this.workflows.get(id);
    if (!versions) return Promise.resolve(undefined);
    if (version === undefined) return Promise.resolve(latestOf(versions));
    const found = versions.find((v) => v.definition.version === version);
    return Promise.resolve(found && stored(found, found === versions[versions.length - 1]));
  }

  listWorkflowVersions(id: string): Promise<StoredWorkflow[]> {
    const versions = this.workflows.get(id) ?? [];
    return Promise.resolve(versions.map((v, i) => stored(v, i === versions.length - 1)));
  }

  createWorkflow(def: WorkflowDefinition): Promise<StoredWorkflow> {
    if (this.workflows.has(def.id)) return Promise.reject(workflowExists(def.id));
    const version = newVersion(def);
    this.workflows.set(def.id, [version]);
    return Promise.resolve(stored(version, true));
  }

  putWorkflowVersion(def: WorkflowDefinition, ifMatch?: string): Promise<StoredWorkflow> {
    const versions = this.workflows.get(def.id);
    if (!versions) return Promise.reject(workflowNotFound(def.id));
    const latest = versions[versions.length - 1]!;
    const existing = versions.find((v) => v.definition.version === def.version);
    if (existing && sameDefinition(existing.definition, def)) {
      return Promise.resolve(stored(existing, existing === latest));
    }
    if (ifMatch !== undefined && ifMatch !== latest.etag) {
      return Promise.reject(workflowEtagMismatch(def.id));
    }
    if (existing) return Promise.reject(workflowVersionExists(def.id, def.version));
    const version = newVersion(def);
    versions.push(version);
    return Promise.resolve(stored(version, true));
  }

  deleteWorkflow(id: string): Promise<boolean> {
    return Promise.resolve(this.workflows.delete(id));
  }
}

function newVersion(def: WorkflowDefinition): WorkflowVersion {
  return { definition: structuredClone(def), createdAt: new Date().toISOString(), etag: newEtag() };
}

function stored(version: WorkflowVersion, latest: boolean): StoredWorkflow {
  return { ...structuredClone(version), latest };
}

const latestOf = (versions: WorkflowVersion[]): StoredWorkflow =>
  stored(versions[versions.length - 1]!, true);

/** JSON with object keys sorted, so two equal documents give the same text whatever their key order. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Whether two definitions have the same content (key order aside): a repeated put is idempotent. */
export function sameDefinition(a: WorkflowDefinition, b: WorkflowDefinition): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** A fresh, unguessable etag for every write: equal etags mean the very same write. */
export function newEtag(): string {
  return randomUUID();
}

export const agentExists = (id: string): ConflictError =>
  new ConflictError('CATALOG.AGENT_EXISTS', `An agent with id '${id}' already exists.`);

export const agentNotFound = (id: string): NotFoundError =>
  new NotFoundError('CATALOG.AGENT_NOT_FOUND', `No agent with id '${id}'.`);

export const etagMismatch = (id: string): ConflictError =>
  new ConflictError(
    'CATALOG.ETAG_MISMATCH',
    `Agent '${id}' was changed since it was read (its etag no longer matches); read it again and retry.`,
  );

export const workflowExists = (id: string): ConflictError =>
  new ConflictError(
    'CATALOG.WORKFLOW_EXISTS',
    `A workflow with id '${id}' already exists; store a new version with PUT instead.`,
  );

export const workflowVersionExists = (id: string, version: string): ConflictError =>
  new ConflictError(
    'CATALOG.WORKFLOW_VERSION_EXISTS',
    `Workflow '${id}' already has a version '${version}' with other content; a version never changes, ` +
      'so give the new one another version.',
  );

export const workflowNotFound = (id: string, version?: string): NotFoundError =>
  new NotFoundError(
    'WORKFLOW.NOT_FOUND',
    version === undefined ? `No workflow with id '${id}'.` : `Workflow '${id}' has no version '${version}'.`,
  );

export const workflowEtagMismatch = (id: string): ConflictError =>
  new ConflictError(
    'CATALOG.ETAG_MISMATCH',
    `Workflow '${id}' has a newer version than the one that was read (its etag no longer matches); ` +
      'read it again and retry.',
  );
