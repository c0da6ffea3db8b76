// Azure OpenAI for the LLM dialog engine, with one deployment per entry of `deployments`. Each name must be a
// deployment agents/router.yaml declares; RTAGENT_LLM_DEPLOYMENTS tells the router which ones exist. Keys are
// disabled: the worker identity gets Cognitive Services OpenAI User.

param name string
param location string
param tags object = {}

@description('Custom subdomain (globally unique); the endpoint is https://<subdomain>.openai.azure.com/.')
param customSubDomainName string

@description('Deployments: [{ name, model, version, sku, capacity }] (capacity in thousands of tokens per minute).')
param deployments array

@description('Principal id of the media worker identity.')
param workerPrincipalId string

@description('Principal id of the deploying user, also given OpenAI User (local runs against Azure); empty: none.')
param deployerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal'])
param deployerPrincipalType string = 'User'

@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'

var openAiUserRole = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd' // Cognitive Services OpenAI User

resource openai 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
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

// One at a time: parallel deployment writes on one account conflict.
@batchSize(1)
resource modelDeployments 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = [
  for d in deployments: {
    parent: openai
    name: d.name
    sku: {
      name: d.sku
      capacity: d.capacity
    }
    properties: {
      model: {
        format: 'OpenAI'
        name: d.model
        version: d.version
      }
      versionUpgradeOption: 'OnceNewDefaultVersionAvailable'
    }
  }
]

resource workerAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(openai.id, workerPrincipalId, openAiUserRole)
  scope: openai
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAiUserRole)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource deployerAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(openai.id, deployerPrincipalId, openAiUserRole)
  scope: openai
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAiUserRole)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

output id string = openai.id
output name string = openai.name
output endpoint string = openai.properties.endpoint
