// agent-functions on Azure: the Functions app (Flex Consumption, Node) and everything it reaches with its
// user-assigned managed identity. `azd up` deploys it (azure.yaml points here); bicep/README.md describes it.
// No keys anywhere: every service has local auth off and the identity holds data-plane roles scoped to
// the resource it uses (modules/rbac.bicep).
targetScope = 'subscription'

import { modelDeployment } from 'modules/openai.bicep'
import { alwaysReadyInstances } from 'modules/functionapp.bicep'

metadata description = 'agent-functions: AI agents and multi-agent workflows on Azure Functions (Durable Functions).'

@minLength(1)
@maxLength(64)
@description('The azd environment name: names the resource group, seeds resource names, tags every resource (azd-env-name).')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer Flex Consumption (and the models, unless openAiLocation says otherwise).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name (default: rg-<environmentName>).')
param resourceGroupName string = ''

@description('Object id of the deployer (azd sets AZURE_PRINCIPAL_ID): may manage Key Vault secrets and use the Durable Task Scheduler dashboard. Empty: no role.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
@description('Kind of principal principalId names.')
param principalType string = 'User'

// --- Function app (Flex Consumption) ---

@allowed([
  '20'
  '22'
])
@description('Node.js version of the Functions runtime.')
param nodeVersion string = '20'

@allowed([
  512
  2048
  4096
])
@description('Memory of each instance, in MB.')
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(1000)
@description('Scale-out limit.')
param maximumInstanceCount int = 100

@description('Always-ready instances, e.g. [{ name: \'http\', instanceCount: 1 }, { name: \'durable\', instanceCount: 1 }]. Empty: scale to zero (no baseline cost).')
param alwaysReady alwaysReadyInstances[] = []

// --- Durable Functions ---

@allowed([
  'AzureStorage'
  'DurableTaskScheduler'
])
@description('Durable task hub backend: the Azure Storage provider (host.json default) or a Durable Task Scheduler.')
param durableBackend string = 'AzureStorage'

@allowed([
  'Consumption'
  'Dedicated'
])
@description('Durable Task Scheduler SKU (durableBackend = DurableTaskScheduler).')
param durableTaskSchedulerSku string = 'Consumption'

// --- Cosmos DB ---

@description('Serverless Cosmos DB account (pay per request). false: provisioned autoscale throughput on the database. Cannot be changed after creation.')
param cosmosServerless bool = true

@minValue(1000)
@description('Autoscale maximum RU/s of the database when cosmosServerless is false.')
param cosmosAutoscaleMaxThroughput int = 1000

@description('Cosmos DB database (COSMOS_DATABASE).')
param cosmosDatabaseName string = 'agentfunctions'

@minValue(0)
@description('RUN_EVENTS_TTL_HOURS: events of finished runs expire after this many hours (the runEvents container\'s default TTL); 0 keeps them.')
param runEventsTtlHours int = 168

// --- Service Bus ---

@allowed([
  'Standard'
  'Premium'
])
@description('Service Bus tier (topics need Standard or Premium).')
param serviceBusSku string = 'Standard'

// --- Azure OpenAI ---

@description('Region of the Azure OpenAI account (default: location).')
param openAiLocation string = ''

@minLength(1)
@description('Model deployments; the first is the default deployment (AZURE_OPENAI_DEPLOYMENT). Capacity is in thousands of tokens per minute.')
param openAiDeployments modelDeployment[] = [
  {
    name: 'gpt-4o-mini'
    model: 'gpt-4o-mini'
    version: '2024-07-18'
    sku: 'GlobalStandard'
    capacity: 30
  }
]

@description('Azure OpenAI API version the app calls (AZURE_OPENAI_API_VERSION).')
param openAiApiVersion string = '2024-10-21'

// --- Monitoring ---

@minValue(30)
@maxValue(730)
@description('Log Analytics retention, in days.')
param logRetentionInDays int = 30

@description('Record prompts and model outputs on spans (TELEMETRY_RECORD_CONTENT). They may hold personal data.')
param telemetryRecordContent bool = false

@description('E-mail address the alerts go to. Empty: no action group (alerts still show in the portal).')
param alertEmail string = ''

@minValue(1)
@maxValue(100)
@description('Alert when more than this percentage of the runs that ended in 15 minutes failed.')
param failureRateThresholdPercent int = 10

@minValue(1)
@description('Alert when the p95 run duration over an hour is above this many milliseconds.')
param runLatencyP95ThresholdMs int = 300000

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = '${abbrs.functionApp}api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
var useDurableTaskScheduler = durableBackend == 'DurableTaskScheduler'
// host.json: extensions.durableTask.hubName (the Azure Storage provider uses it too).
var taskHubName = 'AgentTaskHub'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourceGroup}${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentity}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.logAnalyticsWorkspace}${resourceToken}'
    applicationInsightsName: '${abbrs.applicationInsights}${resourceToken}'
    location: location
    tags: tags
    retentionInDays: logRetentionInDays
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageAccount}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    accountName: '${abbrs.cosmosAccount}${resourceToken}'
    location: location
    tags: tags
    databaseName: cosmosDatabaseName
    serverless: cosmosServerless
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    runEventsTtlHours: runEventsTtlHours
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: '${abbrs.serviceBusNamespace}${resourceToken}'
    location: location
    tags: tags
    sku: serviceBusSku
  }
}

module openAi 'modules/openai.bicep' = {
  name: 'openai'
  scope: rg
  params: {
    name: '${abbrs.openAiAccount}${resourceToken}'
    location: !empty(openAiLocation) ? openAiLocation : location
    tags: tags
    deployments: openAiDeployments
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVault}${resourceToken}'
    location: location
    tags: tags
  }
}

module durableTaskScheduler 'modules/durable-task-scheduler.bicep' = if (useDurableTaskScheduler) {
  name: 'durable-task-scheduler'
  scope: rg
  params: {
    name: '${abbrs.durableTaskScheduler}${resourceToken}'
    location: location
    tags: tags
    taskHubName: taskHubName
    skuName: durableTaskSchedulerSku
  }
}

// After the role assignments: the host starts at once and reaches storage, Service Bus and the rest.
module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  dependsOn: [
    rbac
  ]
  params: {
    name: functionAppName
    planName: '${abbrs.flexConsumptionPlan}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    nodeVersion: nodeVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    alwaysReady: alwaysReady
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    runEventsTtlHours: runEventsTtlHours
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    openAiEndpoint: openAi.outputs.endpoint
    openAiDeployment: openAiDeployments[0].name
    openAiApiVersion: openAiApiVersion
    telemetryRecordContent: telemetryRecordContent
    durableTaskSchedulerEndpoint: useDurableTaskScheduler ? durableTaskScheduler!.outputs.endpoint : ''
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    storageAccountName: storage.outputs.name
    useAzureStorageBackend: !useDurableTaskScheduler
    cosmosAccountName: cosmos.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    openAiAccountName: openAi.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    durableTaskSchedulerName: useDurableTaskScheduler ? durableTaskScheduler!.outputs.name : ''
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    name: guid(rg.id, 'agent-functions', 'operators-workbook')
    displayName: 'agent-functions operations (${environmentName})'
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    serviceBusNamespaceId: serviceBus.outputs.id
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: '${abbrs.alert}${resourceToken}'
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    serviceBusNamespaceId: serviceBus.outputs.id
    alertEmail: alertEmail
    failureRateThresholdPercent: failureRateThresholdPercent
    runLatencyP95ThresholdMs: runLatencyP95ThresholdMs
  }
}

// azd stores these in the environment (.azure/<env>/.env): names and endpoints only, never a key.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.uri
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_CLIENT_ID string = identity.outputs.clientId
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmos.outputs.databaseName
output SERVICE_BUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output AZURE_OPENAI_ENDPOINT string = openAi.outputs.endpoint
output AZURE_OPENAI_DEPLOYMENT string = openAiDeployments[0].name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output DURABLE_BACKEND string = durableBackend
