"""The Azure Functions app (Python v2 model): the host finds this file next to host.json.

It only builds the app and registers the control plane's blueprint; everything lives in ``functions/``.
"""

import azure.durable_functions as df

from functions.app import bp

app = df.DFApp()
app.register_functions(bp)
