// The operators' dashboard: an Application Insights workbook over the app's telemetry names
// (docs/telemetry.md, src/telemetry/names.ts) plus the Service Bus queue metrics. The template is
// workbook.json (edit it in the portal, export it, paste it back); test/unit/bicep-telemetry.test.ts
// checks every name it queries.

@description('Workbook resource name (a GUID).')
param name string

param displayName string
param location string

@description('Tags of every resource (azd-env-name).')
param tags object

param applicationInsightsId string
param serviceBusNamespaceId string

var template = loadTextContent('workbook.json')
var withServiceBus = replace(template, '__SERVICE_BUS_NAMESPACE_ID__', serviceBusNamespaceId)

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: name
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: replace(withServiceBus, '__APPLICATION_INSIGHTS_ID__', applicationInsightsId)
  }
}

output id string = workbook.id
