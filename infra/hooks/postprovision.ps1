# azd runs this on Windows after `azd provision` and `azd deploy` (azure.yaml hooks); postprovision.sh is the
# same for macOS and Linux. It changes nothing: it prints what is left to do by hand.
# Steps in full: docs/DeploymentGuide.md.
$ErrorActionPreference = 'Continue'

$rg = $env:AZURE_RESOURCE_GROUP
$api = $env:SERVICE_API_NAME
$apiUri = $env:SERVICE_API_URI
$worker = $env:SERVICE_WORKER_NAME
$workerUri = $env:SERVICE_WORKER_URI
$topic = $env:EVENT_GRID_SYSTEM_TOPIC_NAME
$number = $env:ACS_PHONE_NUMBER
$subscriptionOn = $env:RTAGENT_EVENT_SUBSCRIPTION -eq 'true'
$haveAz = $null -ne (Get-Command az -ErrorAction SilentlyContinue)

$script:step = 0
function Next([string]$title) { $script:step++; Write-Host ""; Write-Host "$($script:step). $title" }
function Say([string]$text) { Write-Host "   $text" }

Write-Host ""
Write-Host "RTAgent: what is left to do (resource group $rg)"

$functionState = 'unknown'
if ($haveAz -and $api -and $rg) {
  az functionapp function show -g $rg -n $api --function-name incoming_call --query name -o tsv 2>$null | Out-Null
  $functionState = if ($LASTEXITCODE -eq 0) { 'deployed' } else { 'missing' }
}
if ($functionState -eq 'missing') {
  Next "Deploy the code (the function incoming_call does not exist yet)"
  Say "azd deploy            # both services: the Functions app 'api' and the media worker 'worker'"
}

if ($subscriptionOn) {
  if ($haveAz -and $topic) {
    az eventgrid system-topic event-subscription show -g $rg --system-topic-name $topic -n incoming-call `
      --query name -o tsv 2>$null | Out-Null
    if ($LASTEXITCODE -ne 0) {
      Next "Create the Event Grid subscription (RTAGENT_EVENT_SUBSCRIPTION=true, but it is not there)"
      Say "azd provision"
    }
  }
} else {
  Next "Create the Event Grid subscription IncomingCall -> incoming_call (calls are not answered without it)"
  if ($functionState -eq 'deployed') { Say "The function exists now, so Event Grid will accept the subscription:" }
  else { Say "After 'azd deploy' has put the function incoming_call in place:" }
  Say "azd env set RTAGENT_EVENT_SUBSCRIPTION true"
  Say "azd provision"
}

if (-not $number) {
  Next "Get a phone number for ACS resource $($env:ACS_RESOURCE_NAME) (not possible in every subscription or region)"
  Say "Portal: the Communication Services resource > Telephony and SMS > Phone numbers > Get:"
  Say "a toll-free or geographic number with inbound calling. Then tell azd and route it:"
  Say "azd env set ACS_PHONE_NUMBER +18005550100"
  Say "add the number under 'numbers:' in agents/routing.yaml, then: azd deploy api"
} elseif ((Test-Path agents/routing.yaml) -and -not (Select-String -Path agents/routing.yaml -SimpleMatch "`"$number`"" -Quiet)) {
  Next "Route $number in agents/routing.yaml (unless a prefix matches it, it reaches the table's default agent)"
  Say "numbers:"
  Say "  `"$number`": reception"
  Say "then: azd deploy api"
}

if ($apiUri -and $env:RTAGENT_CALLBACK_URL -and ($apiUri -ne $env:RTAGENT_CALLBACK_URL)) {
  Next "Check RTAGENT_CALLBACK_URL: it is $($env:RTAGENT_CALLBACK_URL) but the app answers at $apiUri"
  Say "ACS would post call events to the wrong host: set the app setting to $apiUri"
}

Next "Check the media worker"
if ($workerUri) {
  foreach ($path in 'healthz', 'readyz') {
    try {
      $r = Invoke-WebRequest -Uri "$workerUri/$path" -TimeoutSec 10 -UseBasicParsing -SkipHttpErrorCheck
      Say "$workerUri/$path -> HTTP $($r.StatusCode)"
    } catch {
      Say "$workerUri/$path -> no answer"
    }
  }
  Say "(before the first 'azd deploy' a placeholder image runs and these fail: expected)"
}
Say "logs: az containerapp logs show -g $rg -n $worker --follow"
Say "functions: Application Insights $($env:AZURE_APPLICATION_INSIGHTS_NAME) > Failures, or the app's Log stream"

Next "Call it"
if ($number) { Say "Dial $number from any phone: the agent routed for it in agents/routing.yaml answers." }
else { Say "Once a number is assigned, dial it from any phone." }
Say "No answer? docs/DeploymentGuide.md, Troubleshooting."
Write-Host ""
exit 0
