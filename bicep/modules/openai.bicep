// Azure OpenAI with its model deployments. Local (key) auth is off: the app signs in with its identity
// (Cognitive Services OpenAI User, rbac.bicep), which needs the account's custom subdomain.

@export()
@description('One model deployment on the Azure OpenAI account.')
type modelDeployment = {
  @description('Deployment name (what the app sends as AZURE_OPENAI_DEPLOYMENT or AGENT_MODELS.<agent>.deployment).')
  name: string

  @description('Model name, e.g. gpt-4o-mini.')
  model: string

  @description('Model version, e.g. 2024-07-18.')
  version: string

  @description('Deployment type: GlobalStandard, DataZoneStandard, Standard, ...')
  sku: string

  @description('Capacity, in thousands of tokens per minute.')
  @minValue(1)
  capacity: int
}

@description('Account name; also its custom subdomain (<name>.openai.azure.com).')
@minLength(2)
@maxLength(64)
param name string

param location string

@description('Tags of every resource (azd-env-name).')
param tags object

param deployments modelDeployment[]

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
    }
  }
}

// One at a time: the service refuses concurrent deployment changes on an account.
@batchSize(1)
resource modelDeployments 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = [for deployment in deployments: {
  parent: account
  name: deployment.name
  sku: {
    name: deployment.sku
    capacity: deployment.capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: deployment.model
      version: deployment.version
    }
    versionUpgradeOption: 'NoAutoUpgrade'
  }
}]

output name string = account.name
output id string = account.id
output endpoint string = account.properties.endpoint
output deploymentNames array = [for (deployment, i) in deployments: modelDeployments[i].name]
