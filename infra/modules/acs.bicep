// Azure Communication Services: the phone line. The Functions app calls Call Automation with Microsoft Entra
// ID (ACS_ENDPOINT, no access key), which needs a management-plane role on the resource: Contributor, scoped
// to this one resource (no narrower built-in role covers Call Automation). Phone numbers are bought and
// assigned outside Bicep (portal or `az communication phonenumber`): see docs/DeploymentGuide.md.

param name string
param tags object = {}

@description('Where ACS keeps data at rest, e.g. United States, Europe, UK, Australia.')
param dataLocation string = 'United States'

@description('Principal id of the Functions app identity.')
param functionsPrincipalId string

var contributorRole = 'b24988ac-6180-42a0-ab88-20f7382dd24c'

resource acs 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

resource functionsAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(acs.id, functionsPrincipalId, contributorRole)
  scope: acs
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', contributorRole)
    principalId: functionsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output id string = acs.id
output name string = acs.name
output endpoint string = 'https://${acs.properties.hostName}'
@description('The audience of the JWTs ACS signs its callbacks with (ACS_CALLBACK_AUDIENCE).')
output immutableResourceId string = acs.properties.immutableResourceId
