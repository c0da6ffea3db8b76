"""Control plane (Azure Functions): Event Grid IncomingCall, Call Automation callbacks, call orchestration."""
