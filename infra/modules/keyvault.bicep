// Key Vault in RBAC mode, holding the media secret (RTAGENT_MEDIA_SECRET) shared by the Functions app and the
// media worker: it signs media URLs and the worker's requests. Both identities may read secrets; the
// deploying user may manage them (azd's secretOrRandomPassword reads the secret back on the next provision,
// so the value stays stable across provisions).

param name string
param location string
param tags object = {}

@secure()
@description('The media secret. main.parameters.json fills it with azd secretOrRandomPassword.')
param mediaSecret string

@description('Name of the secret that holds RTAGENT_MEDIA_SECRET.')
param mediaSecretName string = 'rtagent-media-secret'

@description('Principal ids of the service identities that read secrets (Key Vault Secrets User).')
param readerPrincipalIds array

@description('Principal id of the deploying user or pipeline (Key Vault Secrets Officer); empty: none.')
param deployerPrincipalId string = ''

@allowed(['User', 'ServicePrincipal'])
param deployerPrincipalType string = 'User'

@description('Disabled when the vault is reached through a private endpoint.')
@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'

var secretsUserRole = '4633458b-17de-408a-b874-0445c86b69e6'
var secretsOfficerRole = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: publicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'
    }
  }
}

resource mediaSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: mediaSecretName
  properties: {
    value: mediaSecret
    contentType: 'RTAGENT_MEDIA_SECRET: HMAC key for signed media URLs and worker requests'
  }
}

resource readers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in readerPrincipalIds: {
    name: guid(vault.id, principalId, secretsUserRole)
    scope: vault
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRole)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource deployer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, secretsOfficerRole)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsOfficerRole)
    principalId: deployerPrincipalId
    principalType: deployerPrincipalType
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
@description('The secret URI without a version: readers always get the latest version.')
output mediaSecretUri string = '${vault.properties.vaultUri}secrets/${mediaSecretName}'
