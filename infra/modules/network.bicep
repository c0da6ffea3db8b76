// Only with usePrivateEndpoints: a VNet with three subnets (Functions VNet integration, the Container Apps
// environment, private endpoints) and the private DNS zones the private endpoints register in.

param name string
param location string
param tags object = {}

param addressPrefix string = '10.40.0.0/16'
param functionsSubnetPrefix string = '10.40.0.0/24'
param containerAppsSubnetPrefix string = '10.40.2.0/23'
param privateEndpointsSubnetPrefix string = '10.40.4.0/24'

@description('Private DNS zones to create and link to the VNet.')
param privateDnsZoneNames array

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [addressPrefix]
    }
    subnets: [
      {
        // Flex Consumption VNet integration needs a subnet delegated to Microsoft.App/environments.
        name: 'functions'
        properties: {
          addressPrefix: functionsSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        // A workload-profile Container Apps environment: delegated, /27 or larger.
        name: 'containerapps'
        properties: {
          addressPrefix: containerAppsSubnetPrefix
          delegations: [
            {
              name: 'container-apps'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointsSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [
  for zone in privateDnsZoneNames: {
    name: zone
    location: 'global'
    tags: tags
  }
]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [
  for (zone, i) in privateDnsZoneNames: {
    parent: zones[i]
    name: '${name}-link'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
]

output id string = vnet.id
output functionsSubnetId string = '${vnet.id}/subnets/functions'
output containerAppsSubnetId string = '${vnet.id}/subnets/containerapps'
output privateEndpointsSubnetId string = '${vnet.id}/subnets/private-endpoints'
