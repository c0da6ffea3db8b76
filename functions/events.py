"""What ACS sends the control plane, parsed leniently into small typed records (pure: no I/O).

* ``parse_incoming_call``: one ``Microsoft.Communication.IncomingCall`` event, in the Event Grid schema
  (``eventType``, ``data``) or the CloudEvents schema (``type``, ``data``), as a dict.
* ``parse_callback_body``: the body ACS POSTs to the callback URL, a JSON array of CloudEvents
  (``type = Microsoft.Communication.<Name>``, ``source = calling/callConnections/<id>``) whose data always
  holds ``callConnectionId``, ``serverCallId``, ``correlationId``, ``operationContext`` and
  ``resultInformation``. Unknown event names and extra fields are kept, never an error: the service adds
  both over time.

``call_key`` turns an incoming call into the id of its orchestration, the same for every delivery of the
same call, so a duplicate Event Grid delivery finds the call already answered.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

INCOMING_CALL = "Microsoft.Communication.IncomingCall"
SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")


class EventError(ValueError):
    """A body or event that cannot be understood; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class IncomingCall:
    called: str
    """The number dialled, E.164 when it is a phone number, else the raw ACS id."""
    caller: str
    incoming_call_context: str
    server_call_id: str = ""
    correlation_id: str = ""
    caller_display_name: str = ""


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """One Call Automation event: its short ``name`` (``CallConnected``) and the fields every event has."""

    name: str
    call_connection_id: str
    server_call_id: str = ""
    correlation_id: str = ""
    operation_context: str = ""
    result_code: int | None = None
    result_sub_code: int | None = None
    result_message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def identifier_value(ident: Any) -> str:
    """An ACS communication identifier as text: the E.164 number of a phone, else its raw id."""
    if isinstance(ident, str):
        raw = ident
    elif isinstance(ident, dict):
        phone = ident.get("phoneNumber")
        if isinstance(phone, dict) and isinstance(phone.get("value"), str):
            return phone["value"]
        raw = str(ident.get("rawId") or "")
    else:
        return ""
    if raw.startswith("4:") and _E164.match(raw[2:]):
        return raw[2:]
    return raw


def parse_incoming_call(event: dict[str, Any]) -> IncomingCall:
    """An IncomingCall event (Event Grid or CloudEvents schema) → ``IncomingCall``; ``EventError`` if it is
    another event type or lacks what answering needs."""
    kind = event.get("eventType") or event.get("type")
    if kind != INCOMING_CALL:
        raise EventError(f"not an IncomingCall event: {kind!r}")
    data = event.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            raise EventError("IncomingCall data is not JSON") from None
    if not isinstance(data, dict):
        raise EventError("IncomingCall event without data")
    context = data.get("incomingCallContext")
    if not isinstance(context, str) or not context:
        raise EventError("IncomingCall data has no incomingCallContext")
    return IncomingCall(
        called=identifier_value(data.get("to")),
        caller=identifier_value(data.get("from")),
        incoming_call_context=context,
        server_call_id=str(data.get("serverCallId") or ""),
        correlation_id=str(data.get("correlationId") or ""),
        caller_display_name=str(data.get("callerDisplayName") or ""),
    )


def call_key(call: IncomingCall) -> str:
    """The orchestration id of a call: stable across deliveries of its IncomingCall event."""
    basis = call.correlation_id or call.server_call_id or call.incoming_call_context
    return "call-" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:24]


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_callback_body(body: bytes | str) -> list[CallbackEvent]:
    """The events of one callback POST (a JSON array of CloudEvents, or one event); ``EventError`` if the
    body is not JSON or holds no event with a call connection id."""
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise EventError("callback body is not JSON") from None
    items = parsed if isinstance(parsed, list) else [parsed]
    events: list[CallbackEvent] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("type") or item.get("eventType") or "")
        data = item.get("data") if isinstance(item.get("data"), dict) else {}
        source = str(item.get("source") or item.get("subject") or "")
        connection = str(data.get("callConnectionId") or source.rsplit("/", 1)[-1] or "")
        if not kind or not connection:
            continue
        result = data.get("resultInformation") if isinstance(data.get("resultInformation"), dict) else {}
        events.append(
            CallbackEvent(
                name=kind.rsplit(".", 1)[-1],
                call_connection_id=connection,
                server_call_id=str(data.get("serverCallId") or ""),
                correlation_id=str(data.get("correlationId") or ""),
                operation_context=str(data.get("operationContext") or ""),
                result_code=_int_or_none(result.get("code")),
                result_sub_code=_int_or_none(result.get("subCode")),
                result_message=str(result.get("message") or ""),
                data=data,
            )
        )
    if not events:
        raise EventError("callback body holds no Call Automation event")
    return events
