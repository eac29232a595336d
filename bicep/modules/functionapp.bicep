// The Functions app on a Flex Consumption plan (Linux, Node), run from a blob container deployment, with
// the user-assigned identity for everything: host storage, deployment, Service Bus triggers, Cosmos DB,
// Azure OpenAI, Application Insights and Key Vault references.
//
// App settings: one set of names. Those the app reads are src/config/index.ts's SETTING_NAMES (also in
// local.settings.example.json); the others are the Functions host's. test/unit/bicep-settings.test.ts
// keeps them in step. Flex Consumption sets the runtime in functionAppConfig, so FUNCTIONS_WORKER_RUNTIME,
// FUNCTIONS_EXTENSION_VERSION and WEBSITE_RUN_FROM_PACKAGE must not appear.

@export()
@description('Always-ready instances for a group (http, durable, blob) or one function (function:<name>).')
type alwaysReadyInstances = {
  name: string

  @minValue(0)
  instanceCount: int
}

param name string
param planName string
param location string

@description('Tags of every resource (azd-env-name).')
param tags object

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string

param nodeVersion string

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

param maximumInstanceCount int
param alwaysReady alwaysReadyInstances[]

param cosmosEndpoint string
param cosmosDatabaseName string
param runEventsTtlHours int

@description('<namespace>.servicebus.windows.net')
param serviceBusNamespace string

param openAiEndpoint string
param openAiDeployment string
param openAiApiVersion string

param telemetryRecordContent bool

@description('Durable Task Scheduler endpoint; empty: the Azure Storage provider (host.json).')
param durableTaskSchedulerEndpoint string = ''

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: alwaysReady
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }
}

// No FTP or SCM basic auth: deployments (azd) sign in with Entra ID.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// The Functions host: identity-based host storage and Service Bus trigger connection (a user-assigned
// identity must be named), and Application Insights with Entra ID auth (its local auth is off).
var hostSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// The app (src/config/index.ts): Azure OpenAI, Cosmos DB and Service Bus, all with the identity
// (DefaultAzureCredential with AZURE_CLIENT_ID). Everything else keeps the schema's defaults.
var appSettings = {
  AZURE_CLIENT_ID: identityClientId
  LLM_PROVIDER: 'azure-openai'
  AZURE_OPENAI_ENDPOINT: openAiEndpoint
  AZURE_OPENAI_DEPLOYMENT: openAiDeployment
  AZURE_OPENAI_API_VERSION: openAiApiVersion
  CATALOG_STORE: 'cosmos'
  RUN_STORE: 'cosmos'
  CONVERSATION_STORE: 'cosmos'
  COSMOS_ENDPOINT: cosmosEndpoint
  COSMOS_DATABASE: cosmosDatabaseName
  RUN_EVENTS_TTL_HOURS: string(runEventsTtlHours)
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusNamespace
  TELEMETRY_RECORD_CONTENT: telemetryRecordContent ? 'true' : 'false'
}

// Durable Task Scheduler instead of Azure Storage: overrides host.json's storage provider (the hub name,
// AgentTaskHub, stays). The connection names the endpoint and the identity; it holds no secret.
var durableTaskSchedulerSettings = {
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'azureManaged'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${durableTaskSchedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(hostSettings, appSettings, empty(durableTaskSchedulerEndpoint) ? {} : durableTaskSchedulerSettings)
}

output name string = functionApp.name
output id string = functionApp.id
output uri string = 'https://${functionApp.properties.defaultHostName}'
