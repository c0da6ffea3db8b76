// The two user-assigned managed identities: one for the Functions app (control plane), one for the media
// worker (data plane). Every role assignment elsewhere names one of these, never a key.

@description('Name of the Functions app identity.')
param functionsIdentityName string

@description('Name of the media worker identity.')
param workerIdentityName string

param location string
param tags object = {}

resource functionsIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: functionsIdentityName
  location: location
  tags: tags
}

resource workerIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: workerIdentityName
  location: location
  tags: tags
}

output functionsId string = functionsIdentity.id
output functionsClientId string = functionsIdentity.properties.clientId
output functionsPrincipalId string = functionsIdentity.properties.principalId
output workerId string = workerIdentity.id
output workerClientId string = workerIdentity.properties.clientId
output workerPrincipalId string = workerIdentity.properties.principalId
