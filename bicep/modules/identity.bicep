// The app's one identity: every service it reaches trusts this user-assigned identity (modules/rbac.bicep).

@description('Name of the user-assigned managed identity.')
param name string

param location string

@description('Tags of every resource (azd-env-name).')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
