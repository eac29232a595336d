// Alert rules: run failure rate and p95 run duration (log search alerts over Application Insights, on
// the RunCompleted/RunFailed/RunCancelled events, which are not sampled), and any dead-lettered message
// (a metric alert per Service Bus entity). With alertEmail, an action group mails the operators.

@description('Prefix of the rule names.')
param namePrefix string

param location string

@description('Tags of every resource (azd-env-name).')
param tags object

param applicationInsightsId string
param serviceBusNamespaceId string

@description('E-mail address the alerts go to; empty: no action group.')
param alertEmail string = ''

@minValue(1)
@maxValue(100)
param failureRateThresholdPercent int = 10

@minValue(1)
param runLatencyP95ThresholdMs int = 300000

var hasEmail = !empty(alertEmail)

// At least this many ended runs in the window before the failure rate counts (one failure in two runs
// is not an incident).
var minimumRuns = 3

var failureRateQuery = '''
customEvents
| where name in ("RunCompleted", "RunFailed", "RunCancelled")
| summarize ended = count(), failed = countif(name == "RunFailed")
| where ended >= {minimumRuns}
| project failureRatePercent = 100.0 * failed / ended
'''

var runLatencyQuery = '''
customEvents
| where name in ("RunCompleted", "RunFailed", "RunCancelled")
| summarize p95Ms = percentile(todouble(customMeasurements["duration.ms"]), 95), ended = count()
| where ended > 0
| project p95Ms
'''

resource operators 'Microsoft.Insights/actionGroups@2023-01-01' = if (hasEmail) {
  name: '${namePrefix}-operators'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'agentops'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actionGroupIds = hasEmail ? [
  operators.id
] : []

resource failureRate 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-run-failure-rate'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'agent-functions: run failure rate above ${failureRateThresholdPercent}%'
    description: 'More than ${failureRateThresholdPercent}% of the runs that ended in the last 15 minutes failed (RunFailed events). The workbook\'s Errors section has the codes.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: replace(failureRateQuery, '{minimumRuns}', string(minimumRuns))
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'failureRatePercent'
          operator: 'GreaterThan'
          threshold: failureRateThresholdPercent
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

resource runLatency 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-run-latency-p95'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'agent-functions: p95 run duration above ${runLatencyP95ThresholdMs} ms'
    description: 'The 95th percentile duration of the runs that ended in the last hour is above ${runLatencyP95ThresholdMs} ms. The workbook\'s Latency section shows which workflow and agent.'
    severity: 3
    enabled: true
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: runLatencyQuery
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'p95Ms'
          operator: 'GreaterThan'
          threshold: runLatencyP95ThresholdMs
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: actionGroupIds
    }
  }
}

resource deadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'A Service Bus entity holds dead-lettered messages: an invalid job, or a job or task that failed maxDeliveryCount times. Read the reason in its dead-letter queue.'
    severity: 2
    enabled: true
    scopes: [
      serviceBusNamespaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLetteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    autoMitigate: true
    actions: [for id in actionGroupIds: {
      actionGroupId: id
    }]
  }
}

output ruleIds array = [
  failureRate.id
  runLatency.id
  deadLetters.id
]
