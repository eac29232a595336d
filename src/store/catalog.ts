/** The catalog store port: agent definitions and versioned workflow definitions. */
import type { AgentDefinition } from '../agents/types';
import type { WorkflowDefinition } from '../workflows/definition';

/**
 * One stored version of a workflow. Versions are immutable once stored: a change is a new version, so
 * a run that pinned a version (it carries its definition) never sees it change under it.
 */
export interface StoredWorkflow {
  definition: WorkflowDefinition;
  /** When this version was stored (ISO 8601). */
  createdAt: string;
  /** Entity tag of this version; If-Match on a new version compares it with the latest one's. */
  etag: string;
  /** Whether this is the latest version (the one most recently stored). */
  latest: boolean;
}

/** The agent half of the port (what the agent runner needs). */
export interface AgentCatalog {
  listAgents(): Promise<AgentDefinition[]>;
  getAgent(id: string): Promise<AgentDefinition | undefined>;
  /** Throws ConflictError (CATALOG.AGENT_EXISTS) when the id is taken. */
  createAgent(def: AgentDefinition): Promise<AgentDefinition>;
  /** Throws NotFoundError, or ConflictError (CATALOG.ETAG_MISMATCH) when `ifMatch` is stale. */
  updateAgent(def: AgentDefinition, ifMatch?: string): Promise<AgentDefinition>;
  deleteAgent(id: string): Promise<boolean>;
}

/** The workflow half of the port: versioned workflow definitions. */
export interface WorkflowCatalog {
  /** The latest version of every workflow, sorted by id. */
  listWorkflows(): Promise<StoredWorkflow[]>;
  /** The latest version, or the given one; undefined when either does not exist. */
  getWorkflow(id: string, version?: string): Promise<StoredWorkflow | undefined>;
  /** Every version, oldest first; empty when the workflow does not exist. */
  listWorkflowVersions(id: string): Promise<StoredWorkflow[]>;
  /** Stores the first version (`def.version`); ConflictError CATALOG.WORKFLOW_EXISTS when the id is taken. */
  createWorkflow(def: WorkflowDefinition): Promise<StoredWorkflow>;
  /**
   * Stores `def` as a new version, which becomes the latest. A version that already exists with the
   * very same content is answered as it is (an idempotent retry); otherwise throws NotFoundError
   * (WORKFLOW.NOT_FOUND), ConflictError CATALOG.ETAG_MISMATCH (`ifMatch` is not the latest version's
   * etag) or CATALOG.WORKFLOW_VERSION_EXISTS. Of two writers of one new version, exactly one wins.
   */
  putWorkflowVersion(def: WorkflowDefinition, ifMatch?: string): Promise<StoredWorkflow>;
  /** Removes every version (runs keep the definition they pinned); false when there was none. */
  deleteWorkflow(id: string): Promise<boolean>;
}

export interface CatalogStore extends AgentCatalog, WorkflowCatalog {
  close?(): void;
}
