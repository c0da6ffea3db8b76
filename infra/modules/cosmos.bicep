// Cosmos DB (NoSQL) for the call store: database `rtagent`, containers `calls` (/callId) and `callers`
// (/number). Serverless by default; provisioned autoscale throughput on the database when serverless is off.
// Keys are disabled: both service identities get the built-in Data Contributor data-plane role.

param name string
param location string
param tags object = {}

@description('Database name (AZURE_COSMOS_DATABASE).')
param databaseName string = 'rtagent'

@description('true: serverless (pay per request). false: provisioned autoscale throughput on the database.')
param serverless bool = true

@description('Provisioned mode only: autoscale maximum RU/s shared by the database\'s containers.')
@minValue(1000)
param autoscaleMaxThroughput int = 1000

@description('Days a call record is kept (the `calls` container\'s default TTL); 0 keeps them forever.')
@minValue(0)
param callRetentionDays int = 0

@description('Principal ids of the identities that read and write data (built-in Data Contributor).')
param dataContributorPrincipalIds array

@description('Principal id of the deploying user, also given data access (for debugging); empty: none.')
param deployerPrincipalId string = ''

@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'

// Cosmos DB Built-in Data Contributor (data plane; assigned with sqlRoleAssignments, not ARM RBAC).
var dataContributorRole = '00000000-0000-0000-0000-000000000002'
var deployer = empty(deployerPrincipalId) ? [] : [deployerPrincipalId]
var principals = concat(dataContributorPrincipalIds, deployer)
var containers = [
  {
    name: 'calls'
    partitionKey: '/callId'
    // -1: TTL on, items live forever unless they set their own `ttl`.
    defaultTtl: callRetentionDays > 0 ? callRetentionDays * 86400 : -1
  }
  {
    name: 'callers'
    partitionKey: '/number'
    defaultTtl: -1
  }
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: serverless ? [{ name: 'EnableServerless' }] : []
    disableLocalAuth: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: publicNetworkAccess
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: autoscaleMaxThroughput } }
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [
  for c in containers: {
    parent: database
    name: c.name
    properties: {
      resource: {
        id: c.name
        partitionKey: {
          paths: [c.partitionKey]
          kind: 'Hash'
        }
        defaultTtl: c.defaultTtl
      }
    }
  }
]

resource dataAccess 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principalId in principals: {
    parent: account
    name: guid(account.id, principalId, dataContributorRole)
    properties: {
      roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRole}'
      principalId: principalId
      scope: account.id
    }
  }
]

output id string = account.id
output name string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
