// Key Vault for optional secrets (e.g. a third-party model key used through a Key Vault reference,
// @Microsoft.KeyVault(SecretUri=...), resolved with the app's identity). RBAC mode, no access policies.
// Purge protection stays off so that `azd down --purge` can remove the vault.

@description('Vault name (3-24 letters, digits and hyphens).')
@minLength(3)
@maxLength(24)
param name string

param location string

@description('Tags of every resource (azd-env-name).')
param tags object

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
