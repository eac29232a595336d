// Service Bus: job intake (agent-jobs), long steps (agent-tasks) and run results (agent-results with the
// subscription `default`). The entity names are src/workflows/names.ts's; their properties are those of
// servicebus-emulator.config.json, which declares the same entities for local runs
// (test/unit/bicep-resources.test.ts keeps the two equal). Local (SAS) auth is off: the app's identity
// holds sender/receiver roles on the entities it uses (rbac.bicep).

@description('Namespace name (6-50 letters, digits and hyphens).')
@minLength(6)
@maxLength(50)
param name string

param location string

@description('Tags of every resource (azd-env-name).')
param tags object

@allowed([
  'Standard'
  'Premium'
])
param sku string = 'Standard'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
    tier: sku
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

// Jobs from downstream systems; an invalid job is dead-lettered at once with its reason.
resource jobsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'agent-jobs'
  properties: {
    maxDeliveryCount: 5
    lockDuration: 'PT1M'
    defaultMessageTimeToLive: 'P14D'
    deadLetteringOnMessageExpiration: true
  }
}

// Long steps offloaded by the orchestration; the worker's lock is renewed while the step runs.
resource tasksQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'agent-tasks'
  properties: {
    maxDeliveryCount: 3
    lockDuration: 'PT5M'
    defaultMessageTimeToLive: 'P1D'
    deadLetteringOnMessageExpiration: true
  }
}

// One message per finished run, for downstream systems.
resource resultsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: namespace
  name: 'agent-results'
  properties: {
    defaultMessageTimeToLive: 'P14D'
  }
}

resource resultsSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = {
  parent: resultsTopic
  name: 'default'
  properties: {
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
  }
}

output name string = namespace.name
output id string = namespace.id
// ServiceBusConnection__fullyQualifiedNamespace: <name>.servicebus.windows.net (from https://<host>:443/).
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
output queueNames array = [
  jobsQueue.name
  tasksQueue.name
]
output topicName string = resultsTopic.name
output subscriptionName string = resultsSubscription.name
