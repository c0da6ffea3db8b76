// The Container Apps environment the media worker runs in: workload-profile environment (Consumption
// profile), logs to Log Analytics, optionally in a VNet subnet (ingress stays external: ACS must reach
// the worker's WebSocket from the internet).

param name string
param location string
param tags object = {}

@description('Log Analytics workspace the environment sends container logs to.')
param logAnalyticsName string

@description('Subnet (delegated to Microsoft.App/environments, /27 or larger); empty: no VNet.')
param infrastructureSubnetId string = ''

var vnetConfiguration = {
  infrastructureSubnetId: infrastructureSubnetId
  internal: false
}

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

resource managedEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logAnalytics.properties.customerId
        sharedKey: logAnalytics.listKeys().primarySharedKey
      }
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    vnetConfiguration: empty(infrastructureSubnetId) ? null : vnetConfiguration
    zoneRedundant: false
  }
}

output id string = managedEnvironment.id
output name string = managedEnvironment.name
@description('Apps with external ingress get <app name>.<defaultDomain>.')
output defaultDomain string = managedEnvironment.properties.defaultDomain
