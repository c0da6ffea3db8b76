"""What the control plane's functions do, as plain async functions (the triggers in ``functions.app`` are
thin wrappers around these, so tests and the local stack call the same code).

* ``incoming_call``: route the dialled number to an agent, start the call's orchestration (its id comes
  from the call, so a duplicate Event Grid delivery finds it and stops), answer with media streaming to a
  signed media-worker URL, and tell the orchestration the call connection id. It runs in the ``call.answer``
  span, whose trace context rides on the media URL (``traceparent``) so that the worker's spans of the call
  join the same trace.
* ``callbacks``: authenticate ACS's signed callback, parse its events, raise them to the orchestration.
* ``media_event``: a signed report from the media worker (an escalation request, the session's end);
  an escalation waits, bounded, for the transfer's outcome, which it returns to the worker.

``client`` is a Durable Functions orchestration client (``start_new``, ``raise_event``, ``get_status``), or
the local stack's stand-in with the same methods.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import Span

from functions import lifecycle as lc
from functions.config import ControlPlane
from functions.events import EventError, IncomingCall, call_key, parse_callback_body, parse_incoming_call
from functions.orchestrator import ANSWERED_EVENT, CALL_EVENT, ORCHESTRATOR
from rtagent.signing import SignatureError, sign_media_url, verify_body
from rtagent.telemetry import CALL_ID, add_trace_context, call_context, caller_number, instruments, tracer

log = logging.getLogger(__name__)

MAX_CALL_MARGIN_S = 20.0
"""The media worker's agent ends a call at its ``limits.max_call_s`` with a goodbye; the orchestration's own
limit comes this much later, as a backstop for a worker that is gone."""
TRANSFER_WAIT_S = 30.0
"""How long an escalation request waits for the transfer's outcome before answering ``transferring``."""
_POLL_S = 0.25


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status and JSON body."""

    status: int
    body: dict[str, Any]


def _exists(status: Any) -> bool:
    return status is not None and getattr(status, "runtime_status", None) is not None


def _config_for(plane: ControlPlane, agent: str) -> lc.LifecycleConfig:
    from agents.spec import load_agent

    spec = load_agent(agent, plane.settings.agents_dir)
    return lc.LifecycleConfig(
        max_call_s=spec.limits.max_call_s + MAX_CALL_MARGIN_S,
        default_transfer_target=lc.TransferTarget.from_spec(spec.escalation.transfer),
        record_header_fields=tuple(list(spec.record)[:3]),
    )


async def incoming_call(event: Mapping[str, Any], client: Any, plane: ControlPlane, now: datetime) -> str:
    """Answer one IncomingCall; returns what happened: answered, duplicate, rejected or failed."""
    call = parse_incoming_call(dict(event))
    key = call_key(call)
    attributes = {CALL_ID: key, "rtagent.called": call.called, "rtagent.caller": caller_number(call.caller)}
    with call_context(key), tracer().start_as_current_span("call.answer", attributes=attributes) as span:
        outcome = await _answer(call, key, client, plane, now, span)
        span.set_attribute("rtagent.outcome", outcome)
    instruments().incoming_calls.add(1, {"rtagent.outcome": outcome})
    return outcome


async def _answer(
    call: IncomingCall, key: str, client: Any, plane: ControlPlane, now: datetime, span: Span
) -> str:
    from functions.routing import route

    if _exists(await client.get_status(key)):
        log.info("call %s: IncomingCall delivered again; already answered", key)
        return "duplicate"
    decision = route(plane.routing, call.called, call.caller or None, now)
    span.set_attribute("rtagent.route.rule", decision.rule)
    # Logs are exported too: the caller's number in them follows the same PII rule as in spans.
    log.info("call %s: %s", key, replace(decision, caller=caller_number(decision.caller) or None).log_line())
    if decision.agent is None:
        await asyncio.to_thread(plane.calls.reject, call.incoming_call_context)
        return "rejected"
    span.set_attribute("rtagent.agent", decision.agent)
    config = _config_for(plane, decision.agent)
    order = {"call_key": key, "agent": decision.agent, "caller": call.caller, "called": call.called}
    try:
        await client.start_new(ORCHESTRATOR, key, {**order, "config": config.to_dict()})
    except Exception as exc:  # another delivery of this call got there first
        log.info("call %s: orchestration already started (%s); not answering twice", key, exc)
        return "duplicate"
    s = plane.settings
    media_url = sign_media_url(s.media_url, s.media_secret, key, decision.agent, time.time(), call.caller)
    # Outside the signature: the worker's session becomes a child of this span (a forged value can only
    # misplace a trace, never open a session).
    media_url = add_trace_context(media_url)
    callback_url = f"{s.callback_url}/api/callbacks?call={key}"
    try:
        answered = await asyncio.to_thread(
            plane.calls.answer, call.incoming_call_context, callback_url, media_url, s.media_rate_hz, key
        )
    except Exception as exc:
        log.error("call %s: answer failed: %s", key, exc)
        await client.raise_event(key, ANSWERED_EVENT, {"call_connection_id": "", "error": str(exc)})
        return "failed"
    await client.raise_event(key, ANSWERED_EVENT, {"call_connection_id": answered.call_connection_id})
    log.info("call %s: answered as %s for %s", key, answered.call_connection_id, decision.agent)
    return "answered"


async def callbacks(
    body: bytes, headers: Mapping[str, str], query: Mapping[str, str], client: Any, plane: ControlPlane
) -> Reply:
    """ACS's callback POST: 401 unless signed by ACS, 400 if unreadable, else raised to the orchestration."""
    from functions.callback_auth import CallbackAuthError

    lower = {k.lower(): v for k, v in headers.items()}
    try:
        await asyncio.to_thread(plane.callback_auth.verify, lower.get("authorization"))
    except CallbackAuthError as exc:
        log.warning("callback refused: %s", exc)
        return Reply(401, {"error": str(exc)})
    try:
        events = parse_callback_body(body)
    except EventError as exc:
        return Reply(400, {"error": str(exc)})
    for ev in events:
        key = query.get("call") or ev.operation_context
        if not key:
            log.warning("callback %s for %s names no call; dropped", ev.name, ev.call_connection_id)
            continue
        event = lc.event_from_callback(ev, 0.0)
        await client.raise_event(key, CALL_EVENT, lc.event_to_dict(event))
    return Reply(200, {"events": len(events)})


async def media_event(
    call: str, body: bytes, headers: Mapping[str, str], client: Any, plane: ControlPlane
) -> Reply:
    """A signed report from the media worker about ``call``; an escalation answers with the transfer's
    outcome (``transferred``, ``failed`` or, after ``TRANSFER_WAIT_S``, ``transferring``)."""
    try:
        verify_body(headers, plane.settings.media_secret, body, time.time())
    except SignatureError as exc:
        return Reply(401, {"error": str(exc)})
    try:
        report = json.loads(body)
        kind = report["kind"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return Reply(400, {"error": "expected a JSON object with a kind"})
    status = await client.get_status(call)
    if not _exists(status):
        return Reply(404, {"error": f"no call {call!r}"})
    if kind == "session_started":
        await client.raise_event(call, CALL_EVENT, lc.event_to_dict(lc.MediaSessionStarted(0.0)))
        return Reply(200, {"status": "ok"})
    if kind == "session_ended":
        event = lc.MediaSessionEnded(0.0, str(report.get("ended_by", "")))
        await client.raise_event(call, CALL_EVENT, lc.event_to_dict(event))
        return Reply(200, {"status": "ok"})
    if kind != "escalation":
        return Reply(400, {"error": f"unknown kind {kind!r}"})
    before = _custom(status)
    event = lc.EscalationRequested(
        0.0,
        str(report.get("reason", "")),
        dict(report.get("record") or {}),
        str(report.get("target", "")),
        str(report.get("summary", "")),
    )
    await client.raise_event(call, CALL_EVENT, lc.event_to_dict(event))
    return Reply(200, await _transfer_outcome(call, client, before))


def _custom(status: Any) -> dict[str, Any]:
    custom = getattr(status, "custom_status", None)
    if isinstance(custom, str):
        try:
            custom = json.loads(custom)
        except json.JSONDecodeError:
            custom = None
    return custom if isinstance(custom, dict) else {}


async def _transfer_outcome(call: str, client: Any, before: dict[str, Any]) -> dict[str, Any]:
    """Watch the orchestration's status until this escalation's transfer is decided."""
    transfers, notices = int(before.get("transfers", 0)), int(before.get("notice_count", 0))
    deadline = time.monotonic() + TRANSFER_WAIT_S
    while time.monotonic() < deadline:
        custom = _custom(await client.get_status(call))
        if custom.get("phase") == "transferred":
            return {"status": "transferred", "message": ""}
        fresh = int(custom.get("notice_count", 0)) - notices
        for notice in custom.get("notices", [])[-fresh:] if fresh > 0 else []:
            if notice.get("kind") == "transfer_failed":
                return {"status": "failed", "message": notice.get("message", "")}
        last = custom.get("transfer") or {}
        if int(custom.get("transfers", 0)) > transfers and last.get("outcome") in ("failed", "timed_out"):
            return {"status": "failed", "message": last.get("detail", "")}
        if custom.get("phase") in ("ended", "failed"):
            return {"status": "failed", "message": f"the call {custom['phase']}"}
        await asyncio.sleep(_POLL_S)
    return {"status": "transferring", "message": "no outcome yet"}


def utc_now() -> datetime:
    return datetime.now(UTC)
