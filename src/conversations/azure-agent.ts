/**
 * The seed's `azure` agent: a general assistant on Azure OpenAI, registered automatically when the
 * Azure OpenAI settings are present (AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT; a key or the
 * managed identity signs in). It lives in a catalog decorator, so the runner, the registry and the
 * conversation endpoints all see it; like a built-in it is read-only (409 AGENT.BUILTIN).
 */
import { AgentError } from '../agents/errors';
import type { AgentDefinition } from '../agents/types';
import type { Config } from '../config';
import type { CatalogStore, StoredWorkflow } from '../store/catalog';
import type { WorkflowDefinition } from '../workflows/definition';

export const AZURE_AGENT_ID = 'azure';

/** The agent, when the settings allow it. */
export function azureOpenAIAgent(llm: Config['llm']): AgentDefinition | undefined {
  const { endpoint, deployment } = llm.azure;
  if (!endpoint || !deployment) return undefined;
  return {
    id: AZURE_AGENT_ID,
    name: 'Azure',
    description: `A general assistant on Azure OpenAI (deployment ${deployment})`,
    role: 'assistant',
    systemPrompt: 'You are a helpful, precise assistant. Answer the user clearly and concisely.',
    provider: 'azure-openai',
    deployment,
    capabilities: ['chat', 'azure-openai'],
    builtIn: true,
  };
}

const readOnly = (id: string): AgentError =>
  new AgentError(
    'AGENT.BUILTIN',
    `'${id}' is registered from the app settings: it can be read but not changed.`,
  );

/** `catalog` with the fixed agents listed and readable alongside its own, which cannot take their ids. */
export class CatalogWithFixedAgents implements CatalogStore {
  private readonly fixed: Map<string, AgentDefinition>;

  constructor(
    private readonly inner: CatalogStore,
    agents: AgentDefinition[],
  ) {
    this.fixed = new Map(agents.map((a) => [a.id, a]));
  }

  async listAgents(): Promise<AgentDefinition[]> {
    const own = (await this.inner.listAgents()).filter((a) => !this.fixed.has(a.id));
    return [...this.fixed.values(), ...own]
      .map((a) => structuredClone(a))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  async getAgent(id: string): Promise<AgentDefinition | undefined> {
    const fixed = this.fixed.get(id);
    return fixed ? structuredClone(fixed) : this.inner.getAgent(id);
  }

  createAgent(def: AgentDefinition): Promise<AgentDefinition> {
    if (this.fixed.has(def.id)) return Promise.reject(readOnly(def.id));
    return this.inner.createAgent(def);
  }

  updateAgent(def: AgentDefinition, ifMatch?: string): Promise<AgentDefinition> {
    if (this.fixed.has(def.id)) return Promise.reject(readOnly(def.id));
    return this.inner.updateAgent(def, ifMatch);
  }

  deleteAgent(id: string): Promise<boolean> {
    if (this.fixed.has(id)) return Promise.reject(readOnly(id));
    return this.inner.deleteAgent(id);
  }

  listWorkflows(): Promise<StoredWorkflow[]> {
    return this.inner.listWorkflows();
  }

  getWorkflow(id: string, version?: string): Promise<StoredWorkflow | undefined> {
    return this.inner.getWorkflow(id, version);
  }

  listWorkflowVersions(id: string): Promise<StoredWorkflow[]> {
    return this.inner.listWorkflowVersions(id);
  }

  createWorkflow(def: WorkflowDefinition): Promise<StoredWorkflow> {
    return this.inner.createWorkflow(def);
  }

  putWorkflowVersion(def: WorkflowDefinition, ifMatch?: string): Promise<StoredWorkflow> {
    return this.inner.putWorkflowVersion(def, ifMatch);
  }

  deleteWorkflow(id: string): Promise<boolean> {
    return this.inner.deleteWorkflow(id);
  }

  close(): void {
    this.inner.close?.();
  }
}

/** The catalog, with the `azure` agent when the Azure OpenAI settings are present (else as it is). */
export function withSettingsAgents(catalog: CatalogStore, llm: Config['llm']): CatalogStore {
  const azure = azureOpenAIAgent(llm);
  return azure ? new CatalogWithFixedAgents(catalog, [azure]) : catalog;
}
