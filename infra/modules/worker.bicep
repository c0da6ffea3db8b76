// The data plane: the media worker container app. ACS opens one long-lived WebSocket per call to
// wss://<fqdn>/ws/acs, so:
// - ingress is external HTTP (WebSocket upgrades ride on HTTP/1.1) on port 8080;
// - the scale rule counts concurrent requests, and each call is one request for its whole life;
// - /readyz turns 503 when a replica drains (SIGTERM): ingress stops sending it new calls while live calls
//   finish within terminationGracePeriodSeconds;
// - sticky sessions (cookie affinity) keep any HTTP follow-ups of one client on one replica. The media
//   socket itself is pinned by being one connection; the worker asks the control plane for outcomes rather
//   than being called back, so nothing has to reach a particular replica from outside.
//
// Environment = env (plain values) + secretEnv (name -> Key Vault secret URI, read with the worker's
// identity as Container Apps secrets). tests/test_infra.py checks the names against rtagent/settings.py.

param name string
param location string
param tags object = {}

@description('azd service name (azure.yaml) this app is deployed as.')
param serviceName string = 'worker'

param environmentId string

@description('Resource id of the worker user-assigned identity (registry pull, Key Vault secrets).')
param identityId string

param registryServer string
param image string

@description('Plain environment variables: name -> value.')
param env object

@description('Secret environment variables: name -> Key Vault secret URI (no version: the latest).')
param secretEnv object = {}

param targetPort int = 8080

@minValue(0)
param minReplicas int = 1

@minValue(1)
param maxReplicas int = 10

@description('Calls (concurrent WebSockets) per replica before the scaler adds one.')
@minValue(1)
param callsPerReplica int = 20

@description('vCPU per replica, as a string: 0.5, 1.0, 2.0, ...')
param cpu string = '1.0'

param memory string = '2Gi'

@description('Seconds a stopping replica gets to let its calls finish after SIGTERM.')
@minValue(0)
@maxValue(600)
param drainSeconds int = 600

var plainEnv = [for item in items(env): { name: item.key, value: item.value }]
var secrets = [
  for item in items(secretEnv): {
    name: toLower(replace(item.key, '_', '-'))
    keyVaultUrl: item.value
    identity: identityId
  }
]
var secretRefs = [for item in items(secretEnv): { name: item.key, secretRef: toLower(replace(item.key, '_', '-')) }]

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      // Sticky sessions need single revision mode.
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: targetPort
        transport: 'http'
        allowInsecure: false
        stickySessions: {
          affinity: 'sticky'
        }
        traffic: [
          {
            latestRevision: true
            weight: 100
          }
        ]
      }
      registries: [
        {
          server: registryServer
          identity: identityId
        }
      ]
      secrets: secrets
    }
    template: {
      terminationGracePeriodSeconds: drainSeconds
      containers: [
        {
          name: 'worker'
          image: image
          env: concat(plainEnv, secretRefs)
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: targetPort
              }
              initialDelaySeconds: 5
              periodSeconds: 10
              failureThreshold: 10
              timeoutSeconds: 5
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: targetPort
              }
              periodSeconds: 10
              failureThreshold: 3
              timeoutSeconds: 5
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: targetPort
              }
              periodSeconds: 5
              failureThreshold: 2
              successThreshold: 1
              timeoutSeconds: 3
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'concurrent-calls'
            http: {
              metadata: {
                concurrentRequests: string(callsPerReplica)
              }
            }
          }
        ]
      }
    }
  }
}

output id string = app.id
output name string = app.name
output fqdn string = app.properties.configuration.ingress.fqdn
output uri string = 'https://${app.properties.configuration.ingress.fqdn}'
