// Durable Task Scheduler (durableBackend = DurableTaskScheduler): a managed backend for the durable task
// hub instead of the Azure Storage provider. The function app switches to it through app settings
// (functionapp.bicep), so host.json keeps the Azure Storage default for everything else.

param name string
param location string

@description('Tags of every resource (azd-env-name).')
param tags object

@description('Task hub name: host.json\'s extensions.durableTask.hubName.')
param taskHubName string

@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string = 'Consumption'

var dedicatedSku = {
  name: 'Dedicated'
  capacity: 1
}
var consumptionSku = {
  name: 'Consumption'
}

resource scheduler 'Microsoft.DurableTask/schedulers@2026-02-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    ipAllowlist: [
      '0.0.0.0/0'
    ]
    sku: skuName == 'Dedicated' ? dedicatedSku : consumptionSku
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2026-02-01' = {
  parent: scheduler
  name: taskHubName
}

output name string = scheduler.name
output id string = scheduler.id
output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
