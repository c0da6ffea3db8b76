#!/bin/sh
# azd runs this after `azd provision` and after `azd deploy` (azure.yaml hooks). It changes nothing: it looks
# at what exists and prints what is left to do by hand, in order. azd passes the environment's values
# (infra/main.bicep outputs, `azd env set` values) as environment variables.
# Steps in full: docs/DeploymentGuide.md.
set -u

RG="${AZURE_RESOURCE_GROUP:-}"
API="${SERVICE_API_NAME:-}"
API_URI="${SERVICE_API_URI:-}"
WORKER="${SERVICE_WORKER_NAME:-}"
WORKER_URI="${SERVICE_WORKER_URI:-}"
TOPIC="${EVENT_GRID_SYSTEM_TOPIC_NAME:-}"
NUMBER="${ACS_PHONE_NUMBER:-}"
SUBSCRIPTION_ON="${RTAGENT_EVENT_SUBSCRIPTION:-false}"

have() { command -v "$1" >/dev/null 2>&1; }
step=0
next() {
  step=$((step + 1))
  printf '\n%d. %s\n' "$step" "$1"
}
say() { printf '   %s\n' "$*"; }

printf '\nRTAgent: what is left to do (resource group %s)\n' "${RG:-?}"

# --- the code ------------------------------------------------------------------------------------------
function_state=unknown
if have az && [ -n "$API" ] && [ -n "$RG" ]; then
  if az functionapp function show -g "$RG" -n "$API" --function-name incoming_call --query name -o tsv \
    >/dev/null 2>&1; then
    function_state=deployed
  else
    function_state=missing
  fi
fi
if [ "$function_state" = missing ]; then
  next "Deploy the code (the function incoming_call does not exist yet)"
  say "azd deploy            # both services: the Functions app 'api' and the media worker 'worker'"
fi

# --- Event Grid subscription ---------------------------------------------------------------------------
if [ "$SUBSCRIPTION_ON" = "true" ]; then
  if have az && [ -n "$TOPIC" ] && ! az eventgrid system-topic event-subscription show -g "$RG" \
    --system-topic-name "$TOPIC" -n incoming-call --query name -o tsv >/dev/null 2>&1; then
    next "Create the Event Grid subscription (RTAGENT_EVENT_SUBSCRIPTION=true, but it is not there)"
    say "azd provision"
  fi
else
  next "Create the Event Grid subscription IncomingCall -> incoming_call (calls are not answered without it)"
  if [ "$function_state" = deployed ]; then
    say "The function exists now, so Event Grid will accept the subscription:"
  else
    say "After 'azd deploy' has put the function incoming_call in place:"
  fi
  say "azd env set RTAGENT_EVENT_SUBSCRIPTION true"
  say "azd provision"
fi

# --- phone number --------------------------------------------------------------------------------------
if [ -z "$NUMBER" ]; then
  next "Get a phone number for ACS resource ${ACS_RESOURCE_NAME:-?} (not possible in every subscription or region)"
  say "Portal: the Communication Services resource > Telephony and SMS > Phone numbers > Get:"
  say "a toll-free or geographic number with inbound calling. Then tell azd and route it:"
  say "azd env set ACS_PHONE_NUMBER +18005550100"
  say "add the number under 'numbers:' in agents/routing.yaml, then: azd deploy api"
else
  if [ -f agents/routing.yaml ] && ! grep -q "\"$NUMBER\"" agents/routing.yaml; then
    next "Route $NUMBER in agents/routing.yaml (unless a prefix matches it, it reaches the table's default agent)"
    say "numbers:"
    say "  \"$NUMBER\": reception"
    say "then: azd deploy api"
  fi
fi

# --- sanity: the callback URL the Functions app gives ACS -----------------------------------------------
if [ -n "$API_URI" ] && [ -n "${RTAGENT_CALLBACK_URL:-}" ] && [ "$API_URI" != "$RTAGENT_CALLBACK_URL" ]; then
  next "Check RTAGENT_CALLBACK_URL: it is $RTAGENT_CALLBACK_URL but the app answers at $API_URI"
  say "ACS would post call events to the wrong host: set the app setting to $API_URI"
fi

# --- health ----------------------------------------------------------------------------------------------
next "Check the media worker"
if [ -n "$WORKER_URI" ] && have curl; then
  for path in healthz readyz; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$WORKER_URI/$path" || true)
    case "$code" in "" | 000) code="no answer" ;; *) code="HTTP $code" ;; esac
    say "$WORKER_URI/$path -> $code"
  done
  say "(before the first 'azd deploy' a placeholder image runs and these fail: expected)"
else
  say "curl $WORKER_URI/healthz    # 200: the process is up"
  say "curl $WORKER_URI/readyz     # 200: it takes calls; 503: starting or draining"
fi
say "logs: az containerapp logs show -g $RG -n ${WORKER:-<worker>} --follow"
say "functions: Application Insights ${AZURE_APPLICATION_INSIGHTS_NAME:-} > Failures, or the app's Log stream"

# --- call it ---------------------------------------------------------------------------------------------
next "Call it"
if [ -n "$NUMBER" ]; then
  say "Dial $NUMBER from any phone: the agent routed for it in agents/routing.yaml answers."
else
  say "Once a number is assigned, dial it from any phone."
fi
say "No answer? docs/DeploymentGuide.md, Troubleshooting."
printf '\n'
exit 0
