/** The catalog store port: agent definitions (workflow definitions join it with the workflows issue). */
import type { AgentDefinition } from '../agents/types';

export interface CatalogStore {
  listAgents(): Promise<AgentDefinition[]>;
  getAgent(id: string): Promise<AgentDefinition | undefined>;
  /** Throws ConflictError (CATALOG.AGENT_EXISTS) when the id is taken. */
  createAgent(def: AgentDefinition): Promise<AgentDefinition>;
  /** Throws NotFoundError, or ConflictError (CATALOG.ETAG_MISMATCH) when `ifMatch` is stale. */
  updateAgent(def: AgentDefinition, ifMatch?: string): Promise<AgentDefinition>;
  deleteAgent(id: string): Promise<boolean>;
  close?(): void;
}
