"""The Azure Functions app (Python v2 model): the host finds this file next to host.json.

It only sets up telemetry, builds the app and registers the control plane's blueprint; everything lives in
``functions/``.
"""

import azure.durable_functions as df

from functions.app import bp
from rtagent.telemetry import setup_telemetry

# Off unless configured (then nothing is loaded); the host ships the app's logs itself, so only spans and
# metrics are exported from here.
setup_telemetry("rtagent-functions", export_logs=False)

app = df.DFApp()
app.register_functions(bp)
