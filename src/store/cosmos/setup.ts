/**
 * The Cosmos containers, their partition keys and indexing, and the bootstrap that creates whatever is
 * missing (docs/storage.md). On Azure, bicep provisions the database and containers — managed
 * identities get data-plane roles, which may read but not create them — so there createIfNotExists is
 * only a read; local stand-ins get everything created on first use.
 */
import {
  PartitionKeyDefinitionVersion,
  type Container,
  type ContainerRequest,
  type CosmosClient,
  type IndexingPolicy,
  type PartitionKeyDefinition,
} from '@azure/cosmos';
import { hasStatus } from './shared';

/** Hash version 2: partition key values up to 2 KB hash whole (run ids are caller data). */
const partitionedBy = (path: string): PartitionKeyDefinition => ({
  paths: [path],
  version: PartitionKeyDefinitionVersion.V2,
});

/** Index only what queries filter or sort on: documents carry run inputs, step records and outputs. */
const only = (...paths: string[]): IndexingPolicy => ({
  indexingMode: 'consistent',
  automatic: true,
  includedPaths: paths.map((path) => ({ path: `${path}/?` })),
  excludedPaths: [{ path: '/*' }],
});

/**
 * runs (pk /pk = the run id): the run documents (kind `run`) and the idempotency-key documents
 * (kind `key`, pk = their own id). Listing is newest first, hence the composite index.
 */
export const RUNS_CONTAINER: ContainerRequest = {
  id: 'runs',
  partitionKey: partitionedBy('/pk'),
  indexingPolicy: {
    ...only(
      '/pk',
      '/kind',
      '/tenant',
      '/record/status',
      '/record/workflowId',
      '/record/createdAt',
      '/record/id',
    ),
    compositeIndexes: [
      [
        { path: '/record/createdAt', order: 'descending' },
        { path: '/record/id', order: 'descending' },
      ],
    ],
  },
};

/** runEvents (pk /pk = the run id): one `head` per log and `seg` documents of consecutive events. */
export function eventsContainer(ttlSeconds: number | undefined): ContainerRequest {
  return {
    id: 'runEvents',
    partitionKey: partitionedBy('/pk'),
    // -1: TTL on with no default expiry (heads carry ttl -1 either way, so they never expire).
    defaultTtl: ttlSeconds && ttlSeconds > 0 ? Math.round(ttlSeconds) : -1,
    indexingPolicy: only('/pk', '/kind', '/first', '/last', '/closedAt', '/purged'),
  };
}

/** runOutputs (pk /pk = the run id): step outputs, content-addressed, in parts of at most ~1.5 MB. */
export const OUTPUTS_CONTAINER: ContainerRequest = {
  id: 'runOutputs',
  partitionKey: partitionedBy('/pk'),
  indexingPolicy: only('/pk', '/kind'),
};

/** agents (pk /id): one document per agent definition. */
export const AGENTS_CONTAINER: ContainerRequest = { id: 'agents', partitionKey: partitionedBy('/id') };

/** workflows (pk /pk = the workflow id): a `head` per workflow and one `version` document per version. */
export const WORKFLOWS_CONTAINER: ContainerRequest = {
  id: 'workflows',
  partitionKey: partitionedBy('/pk'),
  indexingPolicy: only('/pk', '/kind', '/gen', '/seq'),
};

/**
 * conversations (pk /pk = the conversation id): a `head` per conversation, its `msg` and `turn`
 * documents and the `delivery` documents of messages sent to it (src/store/cosmos/conversations.ts).
 * Idle expiry lists heads by lastActiveAt; deliveries are listed per agent, newest first.
 */
export const CONVERSATIONS_CONTAINER: ContainerRequest = {
  id: 'conversations',
  partitionKey: partitionedBy('/pk'),
  indexingPolicy: only('/pk', '/kind', '/epoch', '/seq', '/lastActiveAt', '/agentId', '/at'),
};

/** Creates the database and the containers when missing; answers them by name. */
export async function openContainers<K extends string>(
  client: CosmosClient,
  databaseId: string,
  specs: Record<K, ContainerRequest>,
): Promise<Record<K, Container>> {
  const { database } = await racing(`database '${databaseId}'`, () =>
    client.databases.createIfNotExists({ id: databaseId }),
  );
  const names = Object.keys(specs) as K[];
  const containers = await Promise.all(
    names.map(async (name) => {
      const spec = specs[name];
      return (await racing(`container '${spec.id}'`, () => database.containers.createIfNotExists(spec)))
        .container;
    }),
  );
  return Object.fromEntries(names.map((name, i) => [name, containers[i]])) as Record<K, Container>;
}

/**
 * createIfNotExists reads, then creates: two starting processes race, and the loser's 409 means
 * "exists". A 403 means this identity may not create what is missing: say what to provision.
 */
async function racing<T>(what: string, createIfNotExists: () => Promise<T>): Promise<T> {
  try {
    return await createIfNotExists();
  } catch (err) {
    if (hasStatus(err, 409)) return createIfNotExists();
    if (hasStatus(err, 403)) {
      throw new Error(
        `Cosmos DB ${what} is missing or unreadable, and this identity may not create it: provision ` +
          'it (docs/storage.md lists the containers) or grant a data-plane role.',
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * A promise made on first use and shared by every later call; a failure is not kept, so the next
 * call tries again (a transient error at start-up must not break the store for the process's life).
 */
export function lazy<T>(make: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () =>
    (pending ??= make().catch((err: unknown) => {
      pending = undefined;
      throw err;
    }));
}

/**
 * Who shares this process's per-run queues and wake-ups: every store on one account and database.
 * Stores with different scopes behave like separate processes (tests use that).
 */
export async function scopeOf(client: CosmosClient, databaseId: string, scope?: string): Promise<string> {
  return scope ?? `${await client.getWriteEndpoint()}|${databaseId}`;
}
