"""The Functions app's triggers (Python v2 programming model), registered on one Durable blueprint.

Each trigger is thin: it reads the request and hands it to ``functions.handlers``, or to the orchestrator
and activities in ``functions.orchestrator``. ``function_app.py`` at the app root registers ``bp``.

- ``incoming_call`` (Event Grid, ``Microsoft.Communication.IncomingCall``): route, start the call's
  orchestration, answer;
- ``incoming_call_webhook`` (HTTP POST ``/api/incoming-call``): the same for a plain webhook subscription,
  and the subscription validation handshake;
- ``callbacks`` (HTTP POST ``/api/callbacks?call=<key>``): ACS's signed callbacks → the orchestration;
- ``media_events`` (HTTP POST ``/api/media/{call}``): the media worker's signed reports;
- ``call_orchestrator`` (orchestration): one call's life (``functions.lifecycle``);
- ``transfer_call``, ``hang_up_call``, ``play_message``, ``persist_call_record`` (activities): the I/O.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions import handlers, orchestrator
from functions.config import control_plane
from functions.events import INCOMING_CALL, SUBSCRIPTION_VALIDATION, EventError

log = logging.getLogger(__name__)

bp = df.Blueprint()


def _json(status: int, body: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@bp.function_name("incoming_call")
@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def incoming_call(event: func.EventGridEvent, client: Any) -> None:
    if event.event_type != INCOMING_CALL:
        log.info("Event Grid event %s of type %s ignored", event.id, event.event_type)
        return
    body = {"eventType": event.event_type, "subject": event.subject, "data": event.get_json(), "id": event.id}
    try:
        await handlers.incoming_call(body, client, control_plane(), handlers.utc_now())
    except EventError as exc:
        log.warning("IncomingCall event %s ignored: %s", event.id, exc)


@bp.function_name("incoming_call_webhook")
@bp.route(route="incoming-call", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def incoming_call_webhook(req: func.HttpRequest, client: Any) -> func.HttpResponse:
    try:
        events = json.loads(req.get_body() or b"[]")
    except json.JSONDecodeError:
        return _json(400, {"error": "body is not JSON"})
    events = events if isinstance(events, list) else [events]
    outcomes: list[str] = []
    for ev in events:
        if not isinstance(ev, dict):
            continue
        if ev.get("eventType") == SUBSCRIPTION_VALIDATION:
            code = (ev.get("data") or {}).get("validationCode", "")
            log.info("Event Grid subscription validation answered")
            return _json(200, {"validationResponse": code})
        try:
            outcomes.append(await handlers.incoming_call(ev, client, control_plane(), handlers.utc_now()))
        except EventError as exc:
            outcomes.append(f"ignored: {exc}")
    return _json(200, {"calls": outcomes})


@bp.function_name("callbacks")
@bp.route(route="callbacks", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def callbacks(req: func.HttpRequest, client: Any) -> func.HttpResponse:
    reply = await handlers.callbacks(
        req.get_body(), dict(req.headers), dict(req.params), client, control_plane()
    )
    return _json(reply.status, reply.body)


@bp.function_name("media_events")
@bp.route(route="media/{call}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.durable_client_input(client_name="client")
async def media_events(req: func.HttpRequest, client: Any) -> func.HttpResponse:
    call = req.route_params.get("call", "")
    reply = await handlers.media_event(call, req.get_body(), dict(req.headers), client, control_plane())
    return _json(reply.status, reply.body)


@bp.function_name(orchestrator.ORCHESTRATOR)
@bp.orchestration_trigger(context_name="context")
def call_orchestrator(context: df.DurableOrchestrationContext) -> Any:
    result = yield from orchestrator.call_orchestrator(context)
    return result


@bp.function_name(orchestrator.ACTIVITY_TRANSFER)
@bp.activity_trigger(input_name="payload")
def transfer_call(payload: dict[str, Any]) -> dict[str, Any]:
    return orchestrator.transfer_call(payload)


@bp.function_name(orchestrator.ACTIVITY_HANG_UP)
@bp.activity_trigger(input_name="payload")
def hang_up_call(payload: dict[str, Any]) -> dict[str, Any]:
    return orchestrator.hang_up_call(payload)


@bp.function_name(orchestrator.ACTIVITY_PLAY)
@bp.activity_trigger(input_name="payload")
def play_message(payload: dict[str, Any]) -> dict[str, Any]:
    return orchestrator.play_message(payload)


@bp.function_name(orchestrator.ACTIVITY_PERSIST)
@bp.activity_trigger(input_name="payload")
async def persist_call_record(payload: dict[str, Any]) -> dict[str, Any]:
    return await orchestrator.persist_call_record(payload)
