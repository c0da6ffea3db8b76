"""The Functions app as the host sees it: its function index, the handlers called as user functions
(``build().get_user_function()``), and the orchestrator driven with the Durable SDK's own
``orchestrator_generator_wrapper`` over a scripted context."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from unittest.mock import AsyncMock, Mock

import azure.functions as func
from azure.durable_functions.models.Task import TaskBase, TimerTask
from azure.durable_functions.testing import orchestrator_generator_wrapper

import function_app
import functions.app as app_module
from functions import lifecycle as lc
from functions.orchestrator import (
    ACTIVITY_HANG_UP,
    ACTIVITY_PERSIST,
    ACTIVITY_TRANSFER,
    ANSWERED_EVENT,
    CALL_EVENT,
)

T0 = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)


def test_the_host_indexes_every_function_with_its_trigger() -> None:
    bindings = {
        f.get_function_name(): f.get_bindings_dict()["bindings"] for f in function_app.app.get_functions()
    }
    kinds = {name: {b["type"] for b in bs} for name, bs in bindings.items()}
    assert kinds["incoming_call"] >= {"eventGridTrigger", "durableClient"}
    assert kinds["incoming_call_webhook"] >= {"httpTrigger", "durableClient"}
    assert kinds["callbacks"] >= {"httpTrigger", "durableClient"}
    assert kinds["media_events"] >= {"httpTrigger", "durableClient"}
    assert kinds["call_orchestrator"] == {"orchestrationTrigger"}
    for activity in ("transfer_call", "hang_up_call", "play_message", "persist_call_record"):
        assert kinds[activity] == {"activityTrigger"}


async def test_the_webhook_answers_the_event_grid_validation_handshake() -> None:
    handler = app_module.incoming_call_webhook.build().get_user_function().__wrapped__
    body = [
        {
            "id": "v-1",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6", "validationUrl": "https://x"},
        }
    ]
    req = func.HttpRequest(
        method="POST",
        url="/api/incoming-call",
        body=json.dumps(body).encode(),
        headers={"aeg-event-type": "SubscriptionValidation"},
    )
    resp = await handler(req, client=Mock())
    assert resp.status_code == 200
    assert json.loads(resp.get_body()) == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}


async def test_an_event_grid_delivery_of_another_event_type_is_ignored_without_a_call() -> None:
    handler = app_module.incoming_call.build().get_user_function().__wrapped__
    event = func.EventGridEvent(
        id="e-9",
        data={"something": 1},
        topic="/subscriptions/s",
        subject="x",
        event_type="Microsoft.Communication.CallEnded",
        event_time=T0,
        data_version="1.0",
    )
    client = Mock(get_status=AsyncMock(), start_new=AsyncMock())
    await handler(event, client=client)
    client.start_new.assert_not_called()


# --- the orchestrator ------------------------------------------------------------------------------------


class ScriptedContext:
    """A stand-in for DurableOrchestrationContext: external events and timer firings come from ``script``
    in order (``("event", payload)`` or ``("timer", name)``); activities answer from ``activity_results``."""

    def __init__(self, script: list[tuple[str, Any]], activity_results: dict[str, list[dict]] | None = None):
        self.script = list(script)
        self.activity_results = activity_results or {}
        self.activities: list[tuple[str, dict]] = []
        self.statuses: list[dict] = []
        self.timers: dict[int, Mock] = {}
        self.is_replaying = False
        self.current_utc_datetime = T0
        config = lc.LifecycleConfig(
            max_call_s=620, default_transfer_target=lc.TransferTarget("pstn", "+18005550199")
        )
        self._input = {
            "call_key": "call-1",
            "agent": "fnol",
            "caller": "+14255550123",
            "called": "+18005550101",
            "config": config.to_dict(),
        }

    def get_input(self) -> dict:
        return self._input

    def set_custom_status(self, status: dict) -> None:
        self.statuses.append(status)

    def wait_for_external_event(self, name: str) -> Mock:
        task = Mock(spec=TaskBase)
        task.name = name
        if name == ANSWERED_EVENT:
            task.result = {"call_connection_id": "cc-1"}
        return task

    def create_timer(self, fire_at: datetime) -> Mock:
        timer = Mock(spec=TimerTask)
        timer.is_completed = False
        timer.fire_at = fire_at
        return timer

    def task_any(self, tasks: list[Mock]) -> Mock:
        kind, value = self.script.pop(0)
        if kind == "event":
            winner = tasks[0]
            assert winner.name == CALL_EVENT
            winner.result = lc.event_to_dict(value)
        else:  # a timer: ``value`` is its position among the timers running
            winner = tasks[1 + value]
        self.current_utc_datetime = T0
        return Mock(spec=TaskBase, result=winner)

    def call_activity(self, name: str, payload: dict) -> Mock:
        self.activities.append((name, payload))
        results = self.activity_results.get(name)
        return Mock(spec=TaskBase, result=results.pop(0) if results else {"ok": True})


def run(ctx: ScriptedContext) -> Any:
    orch = app_module.call_orchestrator.build().get_user_function().orchestrator_function
    *_, final = orchestrator_generator_wrapper(orch(ctx))
    return final


def test_answered_then_transferred_on_the_workers_request() -> None:
    ctx = ScriptedContext(
        [
            ("event", lc.CallConnected(0)),
            ("event", lc.MediaStreamingStarted(0)),
            ("event", lc.EscalationRequested(0, "caller asked for a human", {"policy_number": "PA44712"})),
            ("event", lc.CallTransferAccepted(0, "transfer-1")),
        ]
    )
    final = run(ctx)
    assert final["phase"] == "transferred"
    names = [name for name, _ in ctx.activities]
    assert names == [ACTIVITY_TRANSFER, ACTIVITY_PERSIST]
    transfer = lc.command_from_dict(ctx.activities[0][1]["command"])
    assert isinstance(transfer, lc.TransferCall)
    assert (transfer.target_kind, transfer.target) == ("pstn", "+18005550199")
    assert ctx.activities[0][1]["call"]["call_connection_id"] == "cc-1"
    assert ctx.statuses[-1]["phase"] == "transferred"


def test_a_transfer_acs_refuses_at_once_is_a_failed_transfer_and_the_call_goes_on() -> None:
    ctx = ScriptedContext(
        [
            ("event", lc.CallConnected(0)),
            ("event", lc.MediaStreamingStarted(0)),
            ("event", lc.EscalationRequested(0, "injuries", {})),
            ("event", lc.CallDisconnected(0)),
        ],
        {ACTIVITY_TRANSFER: [{"ok": False, "error": "ACS refused to transfer (HTTP 400)"}]},
    )
    final = run(ctx)
    assert final["phase"] == "ended"
    failed = [s for s in ctx.statuses if any(n["kind"] == "transfer_failed" for n in s["notices"])]
    assert failed and failed[0]["phase"] == "conversing"  # the worker's agent is told, the call goes on
    assert [name for name, _ in ctx.activities] == [ACTIVITY_TRANSFER, ACTIVITY_PERSIST]


def test_the_maximum_call_length_hangs_up_after_the_goodbye() -> None:
    ctx = ScriptedContext(
        [
            ("event", lc.CallConnected(0)),
            ("event", lc.MediaStreamingStarted(0)),
            ("timer", 0),  # max_duration, the only timer running
            ("timer", 0),  # then hangup_grace, the only one left
        ]
    )
    final = run(ctx)
    assert final["phase"] == "ended" and final["end_reason"] == "max_duration"
    assert any(n["kind"] == "max_duration" for s in ctx.statuses for n in s["notices"])
    assert [name for name, _ in ctx.activities] == [ACTIVITY_HANG_UP, ACTIVITY_PERSIST]
