// The control plane: a Python 3.11 Functions app on the Flex Consumption plan (Event Grid IncomingCall,
// Call Automation callbacks, the Durable call orchestration). It runs as its user-assigned identity: storage,
// Key Vault references and every Azure SDK (AZURE_CLIENT_ID) use it.
//
// App settings = platformSettings (what the Functions host reads) + appSettings (what our code reads, listed
// in rtagent/settings.py ENVIRONMENT, passed in by main.bicep). tests/test_infra.py checks both lists.
// Flex Consumption takes the runtime from functionAppConfig: FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION are not allowed as app settings there.

param name string
param planName string
param location string
param tags object = {}

@description('azd service name (azure.yaml) this app is deployed as.')
param serviceName string = 'api'

@description('Resource id of the Functions app user-assigned identity.')
param identityId string

@description('Client id of that identity (AzureWebJobsStorage__clientId).')
param identityClientId string

@description('Storage account for the host and the Durable task hub (identity-based connection).')
param storageAccountName string

@description('Blob container URL for the deployment package.')
param deploymentContainerUrl string

@description('The settings our code reads (rtagent/settings.py ENVIRONMENT, used_by functions).')
param appSettings object

@description('Subnet (delegated to Microsoft.App/environments) for VNet integration; empty: none.')
param virtualNetworkSubnetId string = ''

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Flex Consumption always-ready instances, e.g. [{ name: \'http\', instanceCount: 1 }]; [] scales from zero.')
param alwaysReady array = []

var platformSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
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
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        alwaysReady: alwaysReady
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(platformSettings, appSettings)
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
output uri string = 'https://${site.properties.defaultHostName}'
