/**
 * The Cosmos DB client the stores use. On Azure it signs in with managed identity
 * (DefaultAzureCredential, the user-assigned identity's client id from AZURE_CLIENT_ID); an account key
 * (COSMOS_KEY) is for local stand-ins only, and with it endpoint discovery is off, so the SDK talks to
 * the configured endpoint alone and never follows the addresses a stand-in advertises.
 */
import { CosmosClient, type CosmosClientOptions } from '@azure/cosmos';
import { DefaultAzureCredential } from '@azure/identity';
import type { Config } from '../../config';
import { ConfigError } from '../../errors';

export type CosmosSettings = Config['cosmos'];

/**
 * The options for `new CosmosClient`; no network call is made here or by the constructor. `extra` is
 * merged last (tests hand in an https.Agent that trusts a throwaway certificate).
 */
export function cosmosClientOptions(
  settings: CosmosSettings,
  extra: Partial<CosmosClientOptions> = {},
): CosmosClientOptions {
  const { endpoint, key, clientId } = settings;
  if (!endpoint) {
    throw new ConfigError(
      'COSMOS_ENDPOINT is required when CATALOG_STORE or RUN_STORE is cosmos (the account URL, ' +
        'e.g. https://<account>.documents.azure.com:443/).',
    );
  }
  if (!/^https?:\/\/[^/]/i.test(endpoint) || !URL.canParse(endpoint)) {
    throw new ConfigError(`COSMOS_ENDPOINT '${endpoint}' is not an http(s) URL.`);
  }
  const common: CosmosClientOptions = { endpoint, userAgentSuffix: 'agent-functions' };
  if (key) {
    return { ...common, key, connectionPolicy: { enableEndpointDiscovery: false }, ...extra };
  }
  return {
    ...common,
    aadCredentials: new DefaultAzureCredential({ managedIdentityClientId: clientId }),
    ...extra,
  };
}

/** A client for the settings (see cosmosClientOptions); the store that receives it disposes it. */
export function createCosmosClient(
  settings: CosmosSettings,
  extra: Partial<CosmosClientOptions> = {},
): CosmosClient {
  return new CosmosClient(cosmosClientOptions(settings, extra));
}
