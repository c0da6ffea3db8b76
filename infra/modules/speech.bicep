// Azure AI Speech for the worker's streaming STT and TTS. A custom subdomain is what makes Microsoft Entra ID
// auth possible (AZURE_SPEECH_ENDPOINT); keys are disabled. The worker identity gets Cognitive Services
// Speech User on this resource only.

param name string
param location string
param tags object = {}

@description('Custom subdomain (globally unique); the endpoint is https://<subdomain>.cognitiveservices.azure.com/.')
param customSubDomainName string

@description('Principal id of the media worker identity.')
param workerPrincipalId string

@description('Principal id of the deploying user, also given Speech User (local runs against Azure); empty: none.')
param deployerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal'])
param deployerPrincipalType string = 'User'

@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'

var speechUserRole = 'f2dc8367-1007-4938-bd23-fe263f013447' // Cognitive Services Speech User

resource speech 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'SpeechServices'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: customSubDomainName
    disableLocalAuth: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      defaultAction: publicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'
    }
  }
}

resource workerAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(speech.id, workerPrincipalId, speechUserRole)
  scope: speech
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', speechUserRole)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource deployerAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(speech.id, deployerPrincipalId, speechUserRole)
  scope: speech
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', speechUserRole)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

output id string = speech.id
output name string = speech.name
output location string = speech.location
output endpoint string = speech.properties.endpoint
