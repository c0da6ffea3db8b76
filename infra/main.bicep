// RTAgent on Azure: everything `azd up` creates, in one resource group.
//
//   caller ─PSTN─▶ ACS ─IncomingCall─▶ Event Grid ─▶ Functions app `api` (Flex Consumption, Durable)
//                   ▲  ◀──────── answer / transfer / hang up (Call Automation, Entra ID) ─┘
//                   └── media WebSocket ─▶ worker container app `worker` ─▶ Speech, Azure OpenAI
//   both services ─▶ Cosmos DB (call store), Key Vault (media secret), Application Insights
//
// Every setting each service gets is written out below (appSettings / env / secretEnv): the names are the
// ones rtagent/settings.py ENVIRONMENT declares, and tests/test_infra.py checks them against it.
// See docs/DeploymentGuide.md for the steps and docs/Operations.md for running it.

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names and tags every resource.')
param environmentName string

@minLength(1)
@description('Region for the resources (it must offer Flex Consumption, Container Apps, Speech and Cosmos DB).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the user or pipeline running azd (AZURE_PRINCIPAL_ID): it may manage the Key Vault secret and use Speech, OpenAI and Cosmos data for local runs. Empty: no such access.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

@description('Resource group name; empty: rg-<environmentName>.')
param resourceGroupName string = ''

// ---------------------------------------------------------------------------------------------- phone line

@description('Where ACS keeps data at rest: United States, Europe, UK, Australia, ...')
param acsDataLocation string = 'United States'

@description('The ACS phone number callers dial, E.164 (+18005550100), once you have one. Informational: numbers are bought in the portal; the postprovision hook prints the next steps.')
param acsPhoneNumber string = ''

@description('Create the Event Grid subscription IncomingCall -> incoming_call. Only after the code is deployed (the function must exist): set RTAGENT_EVENT_SUBSCRIPTION=true after the first azd up.')
param deployEventSubscription bool = false

@description('PCM rate ACS streams media at (RTAGENT_MEDIA_RATE).')
@allowed(['16000', '24000'])
param mediaRate string = '16000'

@secure()
@description('RTAGENT_MEDIA_SECRET, shared by both services. main.parameters.json reads it back from Key Vault, or generates one the first time.')
param mediaSecret string

// ------------------------------------------------------------------------------------------ speech, model

@description('Region for Azure AI Speech; empty: location.')
param speechLocation string = ''

@description('Recognition language (AZURE_SPEECH_LANGUAGE).')
param speechLanguage string = 'en-US'

@description('Region for Azure OpenAI; empty: location. Pick one where the models below are offered.')
param openAiLocation string = ''

@description('Azure OpenAI deployments. Each name must be a deployment agents/router.yaml declares; the router uses only these (RTAGENT_LLM_DEPLOYMENTS). capacity: thousands of tokens per minute.')
param openAiDeployments array = [
  {
    name: 'gpt-4o-mini'
    model: 'gpt-4o-mini'
    version: '2024-07-18'
    sku: 'GlobalStandard'
    capacity: 50
  }
  {
    name: 'gpt-4.1-mini'
    model: 'gpt-4.1-mini'
    version: '2025-04-14'
    sku: 'GlobalStandard'
    capacity: 50
  }
]

// ----------------------------------------------------------------------------------------------- state

@description('Cosmos DB serverless (true) or provisioned autoscale throughput (false).')
param cosmosServerless bool = true

@description('Provisioned mode only: autoscale maximum RU/s for the database.')
param cosmosAutoscaleMaxThroughput int = 1000

@description('Days call records are kept (TTL of the calls container); 0: forever.')
param callRetentionDays int = 0

// ------------------------------------------------------------------------------------------ the services

@description('Set by azd (SERVICE_WORKER_RESOURCE_EXISTS) once the worker app exists: keeps its deployed image.')
param workerExists bool = false

param workerMinReplicas int = 1
param workerMaxReplicas int = 10

@description('Concurrent calls per worker replica before scaling out.')
param workerCallsPerReplica int = 20

param workerCpu string = '1.0'
param workerMemory string = '2Gi'

@description('Seconds a stopping worker replica gets before it is killed (terminationGracePeriodSeconds); keep it above the worker\'s own drain time (120 s).')
param workerDrainSeconds int = 600

param functionsMaximumInstanceCount int = 100

@description('Flex Consumption always-ready instances, e.g. [{ name: \'http\', instanceCount: 1 }].')
param functionsAlwaysReady array = []

// ----------------------------------------------------------------------------------------------- network

@description('Private endpoints for Storage, Cosmos DB, Key Vault, Speech and OpenAI, with VNet integration for both services. The worker\'s ingress stays public (ACS connects to it from the internet).')
param usePrivateEndpoints bool = false

@description('Public access to Speech. It stays Enabled even with private endpoints: with Entra ID the worker\'s Speech engine connects to the regional endpoint (AZURE_SPEECH_REGION), which a private endpoint does not cover. Disabled needs an engine that connects through the custom domain (AZURE_SPEECH_ENDPOINT).')
@allowed(['Enabled', 'Disabled'])
param speechPublicNetworkAccess string = 'Enabled'

// ------------------------------------------------------------------------------------------------ names

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var names = {
  resourceGroup: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  functionsIdentity: 'id-api-${resourceToken}'
  workerIdentity: 'id-worker-${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  applicationInsights: 'appi-${resourceToken}'
  keyVault: 'kv-${resourceToken}'
  storage: 'st${resourceToken}'
  cosmos: 'cosmos-${resourceToken}'
  speech: 'speech-${resourceToken}'
  openAi: 'oai-${resourceToken}'
  acs: 'acs-${resourceToken}'
  systemTopic: 'evgt-acs-${resourceToken}'
  registry: 'cr${resourceToken}'
  containerAppsEnvironment: 'cae-${resourceToken}'
  worker: 'ca-worker-${resourceToken}'
  functionsPlan: 'plan-${resourceToken}'
  functions: 'func-${resourceToken}'
  vnet: 'vnet-${resourceToken}'
}
var deploymentContainerName = 'app-package-${resourceToken}'
var publicNetworkAccess = usePrivateEndpoints ? 'Disabled' : 'Enabled'
var privateDnsZones = {
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
  cosmos: 'privatelink.documents.azure.com'
  vault: 'privatelink.vaultcore.azure.net'
  cognitive: 'privatelink.cognitiveservices.azure.com'
  openai: 'privatelink.openai.azure.com'
}
var workerFqdn = '${names.worker}.${containerAppsEnvironment.outputs.defaultDomain}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

// ------------------------------------------------------------------------------- identity, secrets, logs

module identities 'modules/identities.bicep' = {
  name: 'identities'
  scope: rg
  params: {
    functionsIdentityName: names.functionsIdentity
    workerIdentityName: names.workerIdentity
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    mediaSecret: mediaSecret
    readerPrincipalIds: [
      identities.outputs.functionsPrincipalId
      identities.outputs.workerPrincipalId
    ]
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    publicNetworkAccess: publicNetworkAccess
  }
}

// ------------------------------------------------------------------------------------- data and models

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    functionsPrincipalId: identities.outputs.functionsPrincipalId
    publicNetworkAccess: publicNetworkAccess
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: names.cosmos
    location: location
    tags: tags
    databaseName: 'rtagent'
    serverless: cosmosServerless
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    callRetentionDays: callRetentionDays
    dataContributorPrincipalIds: [
      identities.outputs.functionsPrincipalId
      identities.outputs.workerPrincipalId
    ]
    deployerPrincipalId: principalId
    publicNetworkAccess: publicNetworkAccess
  }
}

module speech 'modules/speech.bicep' = {
  name: 'speech'
  scope: rg
  params: {
    name: names.speech
    location: !empty(speechLocation) ? speechLocation : location
    tags: tags
    customSubDomainName: names.speech
    workerPrincipalId: identities.outputs.workerPrincipalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    publicNetworkAccess: speechPublicNetworkAccess
  }
}

module openAi 'modules/openai.bicep' = {
  name: 'openai'
  scope: rg
  params: {
    name: names.openAi
    location: !empty(openAiLocation) ? openAiLocation : location
    tags: tags
    customSubDomainName: names.openAi
    deployments: openAiDeployments
    workerPrincipalId: identities.outputs.workerPrincipalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    publicNetworkAccess: publicNetworkAccess
  }
}

// ---------------------------------------------------------------------------------------- phone line

module acs 'modules/acs.bicep' = {
  name: 'acs'
  scope: rg
  params: {
    name: names.acs
    tags: tags
    dataLocation: acsDataLocation
    functionsPrincipalId: identities.outputs.functionsPrincipalId
  }
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    systemTopicName: names.systemTopic
    tags: tags
    acsId: acs.outputs.id
    functionAppName: functionsApp.outputs.name
    functionName: 'incoming_call'
    deploySubscription: deployEventSubscription
  }
}

// ------------------------------------------------------------------------------------------- network

module network 'modules/network.bicep' = if (usePrivateEndpoints) {
  name: 'network'
  scope: rg
  params: {
    name: names.vnet
    location: location
    tags: tags
    privateDnsZoneNames: [
      privateDnsZones.blob
      privateDnsZones.queue
      privateDnsZones.table
      privateDnsZones.cosmos
      privateDnsZones.vault
      privateDnsZones.cognitive
      privateDnsZones.openai
    ]
  }
}

module privateEndpoints 'modules/private-endpoints.bicep' = if (usePrivateEndpoints) {
  name: 'private-endpoints'
  scope: rg
  params: {
    location: location
    tags: tags
    subnetId: usePrivateEndpoints ? network.outputs.privateEndpointsSubnetId : ''
    targets: [
      {
        name: '${names.storage}-blob'
        serviceId: storage.outputs.id
        groupId: 'blob'
        dnsZoneName: privateDnsZones.blob
      }
      {
        name: '${names.storage}-queue'
        serviceId: storage.outputs.id
        groupId: 'queue'
        dnsZoneName: privateDnsZones.queue
      }
      {
        name: '${names.storage}-table'
        serviceId: storage.outputs.id
        groupId: 'table'
        dnsZoneName: privateDnsZones.table
      }
      {
        name: names.cosmos
        serviceId: cosmos.outputs.id
        groupId: 'Sql'
        dnsZoneName: privateDnsZones.cosmos
      }
      {
        name: names.keyVault
        serviceId: keyVault.outputs.id
        groupId: 'vault'
        dnsZoneName: privateDnsZones.vault
      }
      {
        name: names.speech
        serviceId: speech.outputs.id
        groupId: 'account'
        dnsZoneName: privateDnsZones.cognitive
      }
      {
        name: names.openAi
        serviceId: openAi.outputs.id
        groupId: 'account'
        dnsZoneName: privateDnsZones.openai
      }
    ]
  }
}

// --------------------------------------------------------------------------------------- the services

module registry 'modules/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    name: names.registry
    location: location
    tags: tags
    workerPrincipalId: identities.outputs.workerPrincipalId
  }
}

module containerAppsEnvironment 'modules/containerapps-env.bicep' = {
  name: 'containerapps-env'
  scope: rg
  params: {
    name: names.containerAppsEnvironment
    location: location
    tags: tags
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    infrastructureSubnetId: usePrivateEndpoints ? network.outputs.containerAppsSubnetId : ''
  }
}

// The control plane: Event Grid trigger, ACS callbacks, the call orchestration.
module functionsApp 'modules/functions.bicep' = {
  name: 'functions'
  scope: rg
  params: {
    name: names.functions
    planName: names.functionsPlan
    location: location
    tags: tags
    serviceName: 'api'
    identityId: identities.outputs.functionsId
    identityClientId: identities.outputs.functionsClientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    virtualNetworkSubnetId: usePrivateEndpoints ? network.outputs.functionsSubnetId : ''
    maximumInstanceCount: functionsMaximumInstanceCount
    alwaysReady: functionsAlwaysReady
    appSettings: {
      // rtagent/settings.py ENVIRONMENT, used_by functions
      RTAGENT_STORE: 'cosmos'
      AZURE_COSMOS_ENDPOINT: cosmos.outputs.endpoint
      AZURE_COSMOS_DATABASE: cosmos.outputs.databaseName
      ACS_ENDPOINT: acs.outputs.endpoint
      ACS_CALLBACK_AUDIENCE: acs.outputs.immutableResourceId
      RTAGENT_CALLBACK_URL: 'https://${names.functions}.azurewebsites.net'
      RTAGENT_MEDIA_URL: 'wss://${workerFqdn}/ws/acs'
      RTAGENT_MEDIA_RATE: mediaRate
      RTAGENT_MEDIA_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.mediaSecretUri})'
      AZURE_CLIENT_ID: identities.outputs.functionsClientId
      // telemetry (rtagent/telemetry.py); the Functions host reads it too
      APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.applicationInsightsConnectionString
    }
  }
}

module workerImage 'modules/worker-image.bicep' = {
  name: 'worker-image'
  scope: rg
  params: {
    name: names.worker
    exists: workerExists
  }
}

// The data plane: the media WebSocket and the streaming pipeline.
module worker 'modules/worker.bicep' = {
  name: 'worker'
  scope: rg
  params: {
    name: names.worker
    location: location
    tags: tags
    serviceName: 'worker'
    environmentId: containerAppsEnvironment.outputs.id
    identityId: identities.outputs.workerId
    registryServer: registry.outputs.loginServer
    image: workerImage.outputs.image
    minReplicas: workerMinReplicas
    maxReplicas: workerMaxReplicas
    callsPerReplica: workerCallsPerReplica
    cpu: workerCpu
    memory: workerMemory
    drainSeconds: workerDrainSeconds
    env: {
      // rtagent/settings.py ENVIRONMENT, used_by worker
      RTAGENT_STT: 'azure'
      RTAGENT_TTS: 'azure'
      AZURE_SPEECH_REGION: speech.outputs.location
      AZURE_SPEECH_ENDPOINT: speech.outputs.endpoint
      AZURE_SPEECH_RESOURCE_ID: speech.outputs.id
      AZURE_SPEECH_LANGUAGE: speechLanguage
      RTAGENT_DIALOG_ENGINE: 'llm'
      AZURE_OPENAI_ENDPOINT: openAi.outputs.endpoint
      RTAGENT_LLM_AUTH: 'entra'
      RTAGENT_LLM_DEPLOYMENTS: join(map(openAiDeployments, d => d.name), ',')
      RTAGENT_STORE: 'cosmos'
      AZURE_COSMOS_ENDPOINT: cosmos.outputs.endpoint
      AZURE_COSMOS_DATABASE: cosmos.outputs.databaseName
      RTAGENT_CONTROL_URL: functionsApp.outputs.uri
      // the worker's own drain ends well inside the platform's grace period (session-end reports included)
      RTAGENT_DRAIN_S: string(max(workerDrainSeconds - 45, 10))
      AZURE_CLIENT_ID: identities.outputs.workerClientId
      // telemetry (rtagent/telemetry.py)
      APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.applicationInsightsConnectionString
    }
    secretEnv: {
      RTAGENT_MEDIA_SECRET: keyVault.outputs.mediaSecretUri
    }
  }
}

// ------------------------------------------------------------------------ outputs (azd's environment)

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_CONTAINER_ENVIRONMENT_NAME string = containerAppsEnvironment.outputs.name
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.applicationInsightsConnectionString
output AZURE_APPLICATION_INSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output AZURE_LOG_ANALYTICS_NAME string = monitoring.outputs.logAnalyticsName

output SERVICE_API_NAME string = functionsApp.outputs.name
output SERVICE_API_URI string = functionsApp.outputs.uri
output SERVICE_WORKER_NAME string = worker.outputs.name
output SERVICE_WORKER_URI string = worker.outputs.uri

output ACS_RESOURCE_NAME string = acs.outputs.name
output ACS_ENDPOINT string = acs.outputs.endpoint
output ACS_CALLBACK_AUDIENCE string = acs.outputs.immutableResourceId
output ACS_PHONE_NUMBER string = acsPhoneNumber
output EVENT_GRID_SYSTEM_TOPIC_NAME string = eventGrid.outputs.systemTopicName
output EVENT_GRID_SUBSCRIPTION_NAME string = eventGrid.outputs.subscriptionName
output INCOMING_CALL_FUNCTION_ID string = eventGrid.outputs.functionResourceId

output RTAGENT_CALLBACK_URL string = 'https://${names.functions}.azurewebsites.net'
output RTAGENT_MEDIA_URL string = 'wss://${workerFqdn}/ws/acs'
output AZURE_SPEECH_ENDPOINT string = speech.outputs.endpoint
output AZURE_SPEECH_REGION string = speech.outputs.location
output AZURE_SPEECH_RESOURCE_ID string = speech.outputs.id
output AZURE_OPENAI_ENDPOINT string = openAi.outputs.endpoint
output RTAGENT_LLM_DEPLOYMENTS string = join(map(openAiDeployments, d => d.name), ',')
output AZURE_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output AZURE_COSMOS_DATABASE string = cosmos.outputs.databaseName
