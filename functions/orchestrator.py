"""The Durable orchestration of one call: a thin loop around ``functions.lifecycle``.

It waits for the next external event (a Call Automation callback or a media-worker report, both raised
as ``CALL_EVENT`` with a lifecycle event as JSON) or the next of its timers, feeds it to ``lifecycle.step``,
and carries out the commands: timers with ``context.create_timer``, ACS requests and the final record as
activities, notices for the media worker in the custom status (the worker asks for them: the escalation
endpoint reads the transfer's outcome there). Replay-safe: time comes from ``context.current_utc_datetime``,
nothing here reads the environment or the network, and logging is skipped while replaying.

The activities are plain functions over the process's ``ControlPlane``, registered in ``functions.app``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from functions import lifecycle as lc
from rtagent.state import CallState as StoredCallState

log = logging.getLogger(__name__)

ORCHESTRATOR = "call_orchestrator"
ANSWERED_EVENT = "answered"
"""Raised once by the function that answered: ``{"call_connection_id": ...}`` (empty, with ``error``, if
the answer failed). The orchestration starts before the answer so a duplicate delivery finds it."""
CALL_EVENT = "call_event"
ACTIVITY_TRANSFER = "transfer_call"
ACTIVITY_HANG_UP = "hang_up_call"
ACTIVITY_PLAY = "play_message"
ACTIVITY_PERSIST = "persist_call_record"


def call_status(state: lc.CallState, notices: list[dict[str, Any]]) -> dict[str, Any]:
    """The custom status the media endpoint reads: phase, the latest transfer and the worker's notices."""
    last = state.transfers[-1] if state.transfers else None
    return {
        "phase": state.phase,
        "transfer": None if last is None else {"outcome": last.outcome, "detail": last.detail},
        "transfers": len(state.transfers),
        "notices": notices[-5:],
        "notice_count": len(notices),
    }


def call_orchestrator(context: Any) -> Any:
    """One call, from answer to the end; returns the final ``CallState`` as JSON."""
    inp = dict(context.get_input())
    config = lc.LifecycleConfig.from_dict(inp["config"])
    answered = yield context.wait_for_external_event(ANSWERED_EVENT)
    answered = answered if isinstance(answered, dict) else json.loads(answered or "{}")
    inp["call_connection_id"] = str(answered.get("call_connection_id", ""))
    t0 = context.current_utc_datetime
    state, commands = lc.start(
        inp["call_connection_id"],
        inp["agent"],
        inp["caller"],
        inp["called"],
        config,
        answered_at=t0.isoformat(),
    )
    if not inp["call_connection_id"]:
        state, commands = lc.step(state, lc.AnswerFailed(0.0, str(answered.get("error", ""))), config)
    timers: dict[str, Any] = {}
    notices: list[dict[str, Any]] = []
    event_task: Any = None

    def now_s() -> float:
        return (context.current_utc_datetime - t0).total_seconds()

    while True:
        follow_up: list[lc.Event] = []
        for cmd in commands:
            match cmd:
                case lc.StartTimer(name=name, seconds=seconds):
                    old = timers.pop(name, None)
                    if old is not None and not old.is_completed:
                        old.cancel()
                    timers[name] = context.create_timer(
                        context.current_utc_datetime + timedelta(seconds=seconds)
                    )
                case lc.CancelTimer(name=name):
                    old = timers.pop(name, None)
                    if old is not None and not old.is_completed:
                        old.cancel()
                case lc.TransferCall():
                    result = yield context.call_activity(
                        ACTIVITY_TRANSFER, {"call": inp, "command": lc.command_to_dict(cmd)}
                    )
                    if not result.get("ok"):  # ACS refused at once: no callback will come
                        follow_up.append(
                            lc.CallTransferFailed(
                                now_s(), 0, 0, str(result.get("error")), cmd.operation_context
                            )
                        )
                case lc.HangUp():
                    yield context.call_activity(
                        ACTIVITY_HANG_UP, {"call": inp, "command": lc.command_to_dict(cmd)}
                    )
                case lc.PlayMessage():
                    result = yield context.call_activity(
                        ACTIVITY_PLAY, {"call": inp, "command": lc.command_to_dict(cmd)}
                    )
                    if not result.get("ok"):
                        follow_up.append(lc.PlayFailed(now_s(), str(result.get("error"))))
                case lc.PersistCallRecord():
                    yield context.call_activity(
                        ACTIVITY_PERSIST,
                        {"call": inp, "command": lc.command_to_dict(cmd), "state": state.to_dict()},
                    )
                case lc.NotifyMediaWorker(kind=kind, message=message):
                    notices.append({"kind": kind, "message": message, "t": now_s()})
                case lc.Log(message=message):
                    if not context.is_replaying:
                        log.info("call %s: %s", inp["call_key"], message)
        context.set_custom_status(call_status(state, notices))
        if follow_up:
            state, commands = lc.step(state, follow_up[0], config)
            continue
        if state.is_terminal:
            return state.to_dict()
        if event_task is None:
            event_task = context.wait_for_external_event(CALL_EVENT)
        winner = yield context.task_any([event_task, *timers.values()])
        t = now_s()
        if winner is event_task:
            event_task = None
            payload = winner.result if isinstance(winner.result, dict) else json.loads(winner.result or "{}")
            event = lc.event_from_dict({**payload, "t": t})
        else:
            name = next(n for n, task in timers.items() if task is winner)
            del timers[name]
            event = lc.timer_event(name, t)
        state, commands = lc.step(state, event, config)


# --- activities: the I/O, over the process's control plane -------------------------------------------------


def transfer_call(payload: dict[str, Any]) -> dict[str, Any]:
    from functions.acs import CallControlError
    from functions.config import control_plane

    call, cmd = payload["call"], lc.command_from_dict(payload["command"])
    assert isinstance(cmd, lc.TransferCall)
    try:
        control_plane().calls.transfer(
            call["call_connection_id"], cmd.target_kind, cmd.target, cmd.sip_headers, cmd.operation_context
        )
    except CallControlError as exc:
        log.warning("call %s: transfer to %s refused: %s", call["call_key"], cmd.target, exc)
        return {"ok": False, "error": str(exc)}
    log.info("call %s: transfer to %s requested", call["call_key"], cmd.target)
    return {"ok": True}


def hang_up_call(payload: dict[str, Any]) -> dict[str, Any]:
    from functions.acs import CallControlError
    from functions.config import control_plane

    call, cmd = payload["call"], lc.command_from_dict(payload["command"])
    assert isinstance(cmd, lc.HangUp)
    try:
        control_plane().calls.hang_up(call["call_connection_id"], cmd.for_everyone)
    except CallControlError as exc:
        log.warning("call %s: hang up failed: %s", call["call_key"], exc)
        return {"ok": False, "error": str(exc)}
    return {"ok": True}


def play_message(payload: dict[str, Any]) -> dict[str, Any]:
    """ACS plays text only with Azure AI services attached; without them this reports failure, and the
    lifecycle hangs up after its grace instead."""
    from functions.acs import CallControlError
    from functions.config import control_plane

    call, cmd = payload["call"], lc.command_from_dict(payload["command"])
    assert isinstance(cmd, lc.PlayMessage)
    try:
        control_plane().calls.play_text(call["call_connection_id"], cmd.text)
    except CallControlError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True}


async def persist_call_record(payload: dict[str, Any]) -> dict[str, Any]:
    """Write the call's final record (state history, agent, numbers, transfers) to the state store. The
    write is idempotent (a replayed or retried activity stores the same record once)."""
    from functions.config import control_plane

    call = payload["call"]
    cmd = lc.command_from_dict(payload["command"])
    assert isinstance(cmd, lc.PersistCallRecord)
    state = lc.CallState.from_dict(payload["state"])
    await control_plane().store.save_call_state(stored_call_state(call["call_key"], state))
    log.info("call %s: %s (%s), record kept", call["call_key"], cmd.outcome, cmd.end_reason)
    return {"ok": True}


def stored_call_state(call_key: str, state: lc.CallState) -> StoredCallState:
    """The lifecycle's state as the store keeps it: each change of state with its event and wall time."""
    start = _parse_time(state.answered_at)

    def at(t: float | None) -> str | None:
        return (start + timedelta(seconds=t)).isoformat() if start is not None and t is not None else None

    history = [
        {"state": to, "event": event, "from": before, "at": at(t)}
        for t, event, before, to in state.history
        if before != to
    ]
    escalation = None
    if state.escalation is not None:
        e = state.escalation
        escalation = {"reason": e.reason, "target": e.target, "summary": e.summary, "at": at(e.requested_t)}
    return StoredCallState(
        call_id=call_key,
        agent=state.agent or None,
        caller=state.caller or None,
        called=state.called or None,
        state=state.phase,
        history=history,
        started_at=state.answered_at or None,
        ended_at=at(state.ended_t),
        ended_by=state.end_reason or None,
        transfers=[dataclasses.asdict(a) for a in state.transfers],
        escalation=escalation,
    )


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
