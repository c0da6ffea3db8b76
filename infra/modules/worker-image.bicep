// Which image the worker container app runs after a provision. azd sets SERVICE_WORKER_RESOURCE_EXISTS once
// the app exists: then the image azd last deployed is kept (a provision must not roll the worker back to the
// placeholder). Before the first `azd deploy` there is no image yet: the placeholder stands in, and its
// revision stays unready (it listens on port 80, not 8080) until `azd deploy` replaces it.
// A separate module so that the lookup is a GET that runs before the container app's PUT.

param name string
param exists bool

@description('Image used until azd deploys the real one.')
param placeholderImage string = 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'

resource existingApp 'Microsoft.App/containerApps@2024-03-01' existing = if (exists) {
  name: name
}

output image string = exists ? existingApp.properties.template.containers[0].image : placeholderImage
