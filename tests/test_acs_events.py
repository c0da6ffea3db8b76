"""Parsing what ACS sends the control plane: IncomingCall events and Call Automation callback bodies."""

from __future__ import annotations

import json

import pytest

from functions.events import (
    EventError,
    call_key,
    identifier_value,
    parse_callback_body,
    parse_incoming_call,
)

INCOMING = {
    "id": "e-1",
    "topic": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Communication/communicationServices/acs",
    "subject": "/caller/4:+14255550123/recipient/4:+18005550101",
    "eventType": "Microsoft.Communication.IncomingCall",
    "dataVersion": "1.0",
    "metadataVersion": "1",
    "eventTime": "2026-11-25T17:00:00.0000000Z",
    "data": {
        "to": {"kind": "phoneNumber", "rawId": "4:+18005550101", "phoneNumber": {"value": "+18005550101"}},
        "from": {"kind": "phoneNumber", "rawId": "4:+14255550123", "phoneNumber": {"value": "+14255550123"}},
        "serverCallId": "srv-1",
        "callerDisplayName": "",
        "incomingCallContext": "ctx-abc",
        "correlationId": "corr-1",
        "customContext": {"sipHeaders": {}, "voipHeaders": {}},
        "onBehalfOfCallee": None,
    },
}


def test_an_incoming_call_in_either_schema() -> None:
    call = parse_incoming_call(INCOMING)
    assert (call.called, call.caller, call.incoming_call_context) == (
        "+18005550101",
        "+14255550123",
        "ctx-abc",
    )
    cloud = {
        "type": INCOMING["eventType"],
        "source": INCOMING["topic"],
        "specversion": "1.0",
        "data": INCOMING["data"],
    }
    assert parse_incoming_call(cloud) == call
    as_text = INCOMING | {"data": json.dumps(INCOMING["data"])}
    assert parse_incoming_call(as_text) == call


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (INCOMING | {"eventType": "Microsoft.Communication.CallEnded"}, "not an IncomingCall event"),
        ({k: v for k, v in INCOMING.items() if k != "data"}, "without data"),
        (INCOMING | {"data": {"to": {}}}, "no incomingCallContext"),
        (INCOMING | {"data": "{not json"}, "not JSON"),
    ],
)
def test_what_cannot_be_answered_is_refused_with_a_reason(event: dict, message: str) -> None:
    with pytest.raises(EventError, match=message):
        parse_incoming_call(event)


def test_the_call_key_is_the_same_for_every_delivery_and_differs_between_calls() -> None:
    a = parse_incoming_call(INCOMING)
    again = parse_incoming_call(INCOMING | {"id": "e-2"})
    other = parse_incoming_call(INCOMING | {"data": INCOMING["data"] | {"correlationId": "corr-2"}})
    assert call_key(a) == call_key(again) != call_key(other)
    assert call_key(a).startswith("call-") and len(call_key(a)) == 29


@pytest.mark.parametrize(
    ("ident", "expected"),
    [
        ({"rawId": "4:+18005550101"}, "+18005550101"),
        ({"rawId": "8:acs:abc_def"}, "8:acs:abc_def"),
        ("4:+14255550123", "+14255550123"),
        (None, ""),
    ],
)
def test_identifiers(ident: object, expected: str) -> None:
    assert identifier_value(ident) == expected


def test_callback_events_are_parsed_leniently() -> None:
    body = json.dumps(
        [
            {
                "id": "1",
                "source": "calling/callConnections/cc-1",
                "type": "Microsoft.Communication.CallConnected",
                "specversion": "1.0",
                "data": {
                    "callConnectionId": "cc-1",
                    "serverCallId": "srv-1",
                    "correlationId": "corr-1",
                    "operationContext": "call-abc",
                    "resultInformation": {"code": 200, "subCode": 0, "message": "ok"},
                    "aNewField": {"x": 1},
                },
            },
            {
                "source": "calling/callConnections/cc-1",
                "type": "Microsoft.Communication.CallTransferFailed",
                "data": {"resultInformation": {"code": "500", "subCode": "7000", "message": "busy"}},
            },
            {"type": "Microsoft.Communication.SomethingNew", "data": {"callConnectionId": "cc-1"}},
            "garbage",
            {"data": {}},
        ]
    )
    connected, failed, new = parse_callback_body(body)
    assert connected.name == "CallConnected" and connected.operation_context == "call-abc"
    assert connected.result_code == 200 and connected.data["aNewField"] == {"x": 1}
    assert (failed.name, failed.call_connection_id, failed.result_code, failed.result_sub_code) == (
        "CallTransferFailed", "cc-1", 500, 7000,
    )  # fmt: skip
    assert failed.result_message == "busy"
    assert new.name == "SomethingNew"


@pytest.mark.parametrize(("body", "message"), [(b"nope", "not JSON"), (b"[]", "no Call Automation event")])
def test_a_callback_body_without_events_is_an_error(body: bytes, message: str) -> None:
    with pytest.raises(EventError, match=message):
        parse_callback_body(body)
