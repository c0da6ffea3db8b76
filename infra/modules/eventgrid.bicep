// Event Grid: a system topic on the ACS resource, and the subscription that delivers
// Microsoft.Communication.IncomingCall to the Functions app's Event Grid trigger `incoming_call`.
//
// The subscription names the function itself (endpointType AzureFunction), and Event Grid refuses it while
// that function does not exist, i.e. before the first `azd deploy` of the code. So it is created only when
// deploySubscription is true: run `azd up` once (it creates the topic and deploys the code), then
// `azd env set RTAGENT_EVENT_SUBSCRIPTION true` and `azd provision`. The postprovision hook says which
// step is next.

param systemTopicName string
param tags object = {}

@description('Resource id of the ACS resource the topic listens to.')
param acsId string

param functionAppName string

@description('The Event Grid trigger function (functions/app.py).')
param functionName string = 'incoming_call'

@description('Create the event subscription (only once the function exists).')
param deploySubscription bool = false

param subscriptionName string = 'incoming-call'

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  location: 'global'
  tags: tags
  properties: {
    source: acsId
    topicType: 'Microsoft.Communication.CommunicationServices'
  }
}

resource incomingCall 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (deploySubscription) {
  parent: topic
  name: subscriptionName
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: resourceId('Microsoft.Web/sites/functions', functionAppName, functionName)
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Communication.IncomingCall'
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    // A ringing call is worth answering for seconds, not hours; duplicates are harmless (the call's
    // orchestration id is derived from the call, so a second delivery finds it running).
    retryPolicy: {
      maxDeliveryAttempts: 3
      eventTimeToLiveInMinutes: 1
    }
  }
}

output systemTopicName string = topic.name
output subscriptionName string = deploySubscription ? subscriptionName : ''
output functionResourceId string = resourceId('Microsoft.Web/sites/functions', functionAppName, functionName)
