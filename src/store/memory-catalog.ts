/**
 * The in-memory CatalogStore: tests, `CATALOG_STORE=memory`, and the reference the other adapters
 * are checked against (test/unit/store-catalog.test.ts). Documents are copied in and out, so a caller
 * that mutates what it got back never changes the store behind its back.
 */
import { randomUUID } from 'node:crypto';
import type { AgentDefinition } from '../agents/types';
import { ConflictError, NotFoundError } from '../errors';
import type { CatalogStore } from './catalog';

export class MemoryCatalogStore implements CatalogStore {
  private readonly agents = new Map<string, AgentDefinition>();

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
