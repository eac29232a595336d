/** The Cosmos DB adapters (docs/storage.md); app.ts loads them only when a store setting asks for them. */
export { CosmosCatalogStore, type CosmosCatalogStoreOptions } from './catalog';
export { CosmosConversationStore, type CosmosConversationStoreOptions } from './conversations';
export { cosmosClientOptions, createCosmosClient, type CosmosSettings } from './client';
export { CosmosRunStore, type CosmosRunStoreOptions } from './runs';
