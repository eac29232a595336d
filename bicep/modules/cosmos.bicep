// Cosmos DB for NoSQL: the catalog (agents, workflows), the run store (runs, runEvents, runOutputs) and
// the conversation store (conversations).
// The app's identity holds the data-plane Built-in Data Contributor role (rbac.bicep), which reads and
// writes items but cannot create databases or containers: they are all declared here, exactly as
// docs/storage.md lists them and src/store/cosmos/setup.ts expects (test/unit/bicep-resources.test.ts
// compares them).

@description('Account name (3-44 lower-case letters, digits and hyphens).')
@minLength(3)
@maxLength(44)
param accountName string

param location string

@description('Tags of every resource (azd-env-name).')
param tags object

@description('COSMOS_DATABASE.')
param databaseName string

@description('Serverless account (pay per request). false: autoscale throughput shared by the database\'s containers.')
param serverless bool = true

@minValue(1000)
param autoscaleMaxThroughput int = 1000

@description('RUN_EVENTS_TTL_HOURS: the runEvents container\'s default TTL; 0 turns TTL on without a default expiry.')
@minValue(0)
param runEventsTtlHours int

var runEventsTtlSeconds = runEventsTtlHours > 0 ? runEventsTtlHours * 3600 : -1

var serverlessCapabilities = [
  {
    name: 'EnableServerless'
  }
]
var autoscaleOptions = {
  autoscaleSettings: {
    maxThroughput: autoscaleMaxThroughput
  }
}

// Hash version 2: partition key values up to 2 KB hash whole (run ids are caller data).
var containers = [
  {
    id: 'runs'
    partitionKey: {
      paths: [
        '/pk'
      ]
      kind: 'Hash'
      version: 2
    }
    indexingPolicy: {
      indexingMode: 'consistent'
      automatic: true
      includedPaths: [
        {
          path: '/pk/?'
        }
        {
          path: '/kind/?'
        }
        {
          path: '/tenant/?'
        }
        {
          path: '/record/status/?'
        }
        {
          path: '/record/workflowId/?'
        }
        {
          path: '/record/createdAt/?'
        }
        {
          path: '/record/id/?'
        }
      ]
      excludedPaths: [
        {
          path: '/*'
        }
      ]
      compositeIndexes: [
        [
          {
            path: '/record/createdAt'
            order: 'descending'
          }
          {
            path: '/record/id'
            order: 'descending'
          }
        ]
      ]
    }
  }
  {
    id: 'runEvents'
    partitionKey: {
      paths: [
        '/pk'
      ]
      kind: 'Hash'
      version: 2
    }
    defaultTtl: runEventsTtlSeconds
    indexingPolicy: {
      indexingMode: 'consistent'
      automatic: true
      includedPaths: [
        {
          path: '/pk/?'
        }
        {
          path: '/kind/?'
        }
        {
          path: '/first/?'
        }
        {
          path: '/last/?'
        }
        {
          path: '/closedAt/?'
        }
        {
          path: '/purged/?'
        }
      ]
      excludedPaths: [
        {
          path: '/*'
        }
      ]
    }
  }
  {
    id: 'runOutputs'
    partitionKey: {
      paths: [
        '/pk'
      ]
      kind: 'Hash'
      version: 2
    }
    indexingPolicy: {
      indexingMode: 'consistent'
      automatic: true
      includedPaths: [
        {
          path: '/pk/?'
        }
        {
          path: '/kind/?'
        }
      ]
      excludedPaths: [
        {
          path: '/*'
        }
      ]
    }
  }
  {
    // The default indexing policy (everything).
    id: 'agents'
    partitionKey: {
      paths: [
        '/id'
      ]
      kind: 'Hash'
      version: 2
    }
  }
  {
    id: 'workflows'
    partitionKey: {
      paths: [
        '/pk'
      ]
      kind: 'Hash'
      version: 2
    }
    indexingPolicy: {
      indexingMode: 'consistent'
      automatic: true
      includedPaths: [
        {
          path: '/pk/?'
        }
        {
          path: '/kind/?'
        }
        {
          path: '/gen/?'
        }
        {
          path: '/seq/?'
        }
      ]
      excludedPaths: [
        {
          path: '/*'
        }
      ]
    }
  }
  {
    // Conversations (issue 7): a head per conversation, its messages, turns and deliveries.
    id: 'conversations'
    partitionKey: {
      paths: [
        '/pk'
      ]
      kind: 'Hash'
      version: 2
    }
    indexingPolicy: {
      indexingMode: 'consistent'
      automatic: true
      includedPaths: [
        {
          path: '/pk/?'
        }
        {
          path: '/kind/?'
        }
        {
          path: '/epoch/?'
        }
        {
          path: '/seq/?'
        }
        {
          path: '/lastActiveAt/?'
        }
        {
          path: '/agentId/?'
        }
        {
          path: '/at/?'
        }
      ]
      excludedPaths: [
        {
          path: '/*'
        }
      ]
    }
  }
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    capabilities: serverless ? serverlessCapabilities : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: serverless ? {} : autoscaleOptions
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for container in containers: {
  parent: database
  name: container.id
  properties: {
    resource: container
  }
}]

output name string = account.name
output id string = account.id
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
