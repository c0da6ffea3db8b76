// Only with usePrivateEndpoints: one private endpoint per target, registered in its private DNS zone (the
// zones are made by network.bicep in the same resource group).

param location string
param tags object = {}

@description('The private endpoints subnet.')
param subnetId string

@description('Targets: [{ name, serviceId, groupId, dnsZoneName }].')
param targets array

resource endpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [
  for t in targets: {
    name: 'pe-${t.name}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: subnetId
      }
      privateLinkServiceConnections: [
        {
          name: t.name
          properties: {
            privateLinkServiceId: t.serviceId
            groupIds: [t.groupId]
          }
        }
      ]
    }
  }
]

resource dnsGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [
  for (t, i) in targets: {
    parent: endpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: replace(t.dnsZoneName, '.', '-')
          properties: {
            privateDnsZoneId: resourceId('Microsoft.Network/privateDnsZones', t.dnsZoneName)
          }
        }
      ]
    }
  }
]

output names array = [for (t, i) in targets: endpoints[i].name]
