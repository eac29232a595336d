/**
 * The Cosmos DB CatalogStore (docs/storage.md).
 * - agents (pk /id): one document per agent — the definition, createdAt, updatedAt; its etag is the
 *   document's `_etag`. An update is one patch (definition + updatedAt, createdAt untouched) with
 *   If-Match when the caller sent one: a 412 is CATALOG.ETAG_MISMATCH, never a silent overwrite.
 * - workflows (pk = workflow id): see workflows.ts.
 * Bootstrap is asynchronous and the store is built synchronously, so every method awaits `ready`.
 */
import type { Container, CosmosClient } from '@azure/cosmos';
import { z } from 'zod';
import type { AgentDefinition } from '../../agents/types';
import type { WorkflowDefinition } from '../../workflows/definition';
import type { CatalogStore, StoredWorkflow } from '../catalog';
import { agentExists, agentNotFound, etagMismatch } from '../memory-catalog';
import { AGENTS_CONTAINER, WORKFLOWS_CONTAINER, lazy, openContainers } from './setup';
import { createItem, deleteItem, hasStatus, itemId, queryAll, readItem, type Stored } from './shared';
import * as workflows from './workflows';

export interface CosmosCatalogStoreOptions {
  /** The store owns the client: close() disposes it. */
  client: CosmosClient;
  /** Database id (COSMOS_DATABASE). */
  database: string;
}

interface AgentDoc {
  id: string;
  definition: Omit<AgentDefinition, 'etag' | 'createdAt' | 'updatedAt'>;
  createdAt: string;
  updatedAt: string;
}

/** Documents read back are checked: a hand-edited or older document fails loudly. */
const storedAgent = z.looseObject({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  role: z.string(),
  systemPrompt: z.string(),
  capabilities: z.array(z.string()),
  builtIn: z.boolean(),
});

interface Containers {
  agents: Container;
  workflows: Container;
}

export class CosmosCatalogStore implements CatalogStore {
  private readonly client: CosmosClient;
  private readonly ready: () => Promise<Containers>;

  constructor(options: CosmosCatalogStoreOptions) {
    this.client = options.client;
    this.ready = lazy(() =>
      openContainers(options.client, options.database, {
        agents: AGENTS_CONTAINER,
        workflows: WORKFLOWS_CONTAINER,
      }),
    );
  }

  async listAgents(): Promise<AgentDefinition[]> {
    const docs = await queryAll<Stored<AgentDoc>>((await this.ready()).agents, 'SELECT * FROM c');
    return docs.map(fromDoc).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async getAgent(id: string): Promise<AgentDefinition | undefined> {
    const doc = await readItem<AgentDoc>((await this.ready()).agents, itemId(id), itemId(id));
    return doc && fromDoc(doc);
  }

  async createAgent(def: AgentDefinition): Promise<AgentDefinition> {
    const now = new Date().toISOString();
    const doc: AgentDoc = {
      id: itemId(def.id),
      definition: definitionOf(def),
      createdAt: now,
      updatedAt: now,
    };
    const made = await createItem((await this.ready()).agents, doc);
    if (!made) throw agentExists(def.id);
    return fromDoc(made);
  }

  async updateAgent(def: AgentDefinition, ifMatch?: string): Promise<AgentDefinition> {
    const { agents } = await this.ready();
    const operations = [
      { op: 'set' as const, path: '/definition', value: definitionOf(def) },
      { op: 'set' as const, path: '/updatedAt', value: new Date().toISOString() },
    ];
    const options = ifMatch === undefined ? {} : { accessCondition: { type: 'IfMatch', condition: ifMatch } };
    try {
      const { resource } = await agents
        .item(itemId(def.id), itemId(def.id))
        .patch<AgentDoc>(operations, options);
      return fromDoc(resource!);
    } catch (err) {
      if (hasStatus(err, 404)) throw agentNotFound(def.id);
      if (hasStatus(err, 412)) throw etagMismatch(def.id);
      throw err;
    }
  }

  async deleteAgent(id: string): Promise<boolean> {
    return deleteItem((await this.ready()).agents, itemId(id), itemId(id));
  }

  async listWorkflows(): Promise<StoredWorkflow[]> {
    return workflows.listWorkflows((await this.ready()).workflows);
  }

  async getWorkflow(id: string, version?: string): Promise<StoredWorkflow | undefined> {
    return workflows.getWorkflow((await this.ready()).workflows, id, version);
  }

  async listWorkflowVersions(id: string): Promise<StoredWorkflow[]> {
    return workflows.listWorkflowVersions((await this.ready()).workflows, id);
  }

  async createWorkflow(def: WorkflowDefinition): Promise<StoredWorkflow> {
    return workflows.createWorkflow((await this.ready()).workflows, def);
  }

  async putWorkflowVersion(def: WorkflowDefinition, ifMatch?: string): Promise<StoredWorkflow> {
    return workflows.putWorkflowVersion((await this.ready()).workflows, def, ifMatch);
  }

  async deleteWorkflow(id: string): Promise<boolean> {
    return workflows.deleteWorkflow((await this.ready()).workflows, id);
  }

  /** Disposes the client. */
  close(): void {
    this.client.dispose();
  }
}

/** The document owns etag and timestamps; the definition holds the rest (as JSON). */
function definitionOf(def: AgentDefinition): AgentDoc['definition'] {
  const { etag: _etag, createdAt: _createdAt, updatedAt: _updatedAt, ...rest } = def;
  return JSON.parse(JSON.stringify(rest)) as AgentDoc['definition'];
}

function fromDoc(doc: Stored<AgentDoc>): AgentDefinition {
  const parsed = storedAgent.safeParse(doc.definition);
  if (!parsed.success) {
    throw new Error(`agents document '${doc.id}' is not a valid agent definition: ${parsed.error.message}`);
  }
  return {
    ...(parsed.data as AgentDefinition),
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
    etag: doc._etag,
  };
}
