"""The rules of a call's life (``functions.lifecycle``), event by event, in every phase, without Azure."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import re
from types import SimpleNamespace

import pytest

from functions import lifecycle as lc

DESK = lc.TransferTarget("pstn", "+18005550199")
CFG = lc.LifecycleConfig(
    max_call_s=600, transfer_timeout_s=30, hangup_grace_s=10, default_transfer_target=DESK
)
RECORD = {"policy_number": "PA44712", "caller_name": "Maria Lopez", "injuries": True}


def begin(cfg: lc.LifecycleConfig = CFG) -> lc.CallState:
    state, commands = lc.start("cc-1", "fnol", "+14255550123", "+18005550100", cfg)
    assert commands == [lc.StartTimer("max_duration", cfg.max_call_s)]
    return state


def run(
    events: list[lc.Event], state: lc.CallState | None = None, cfg: lc.LifecycleConfig = CFG
) -> tuple[lc.CallState, list[lc.Command]]:
    state = state or begin(cfg)
    out: list[lc.Command] = []
    for event in events:
        state, commands = lc.step(state, event, cfg)
        out += commands
    return state, out


def escalate(t: float, target: str = "", reason: str = "caller asked") -> lc.EscalationRequested:
    return lc.EscalationRequested(
        t, reason, dict(RECORD), target, "fnol: caller asked; policy_number=PA44712"
    )


def real(commands: list[lc.Command]) -> list[lc.Command]:
    """The commands that do something (not ``Log``)."""
    return [c for c in commands if not isinstance(c, lc.Log)]


def phases(state: lc.CallState) -> list[str]:
    return [state.history[0].from_state] + [h.to_state for h in state.history] if state.history else []


UP = [lc.CallConnected(1.0), lc.MediaStreamingStarted(2.0)]

# Reachable states, each by a realistic path: the exhaustive test starts from every one of them.
PATHS: dict[str, list[lc.Event]] = {
    "ringing": [],
    "ringing_escalation_waiting": [escalate(0.5)],
    "ringing_media_ended": [lc.MediaSessionEnded(0.5, "caller_hangup")],
    "connected": [lc.CallConnected(1.0)],
    "connected_media_ended": [*UP, lc.MediaSessionEnded(50, "transfer")],
    "connected_goodbye_playing": [lc.CallConnected(1.0), lc.MaxDurationReached(600)],
    "connected_apology_playing": [
        *UP,
        escalate(50),
        lc.MediaSessionEnded(51, "transfer"),
        lc.CallTransferFailed(60, 486, 0, "Busy Here", "transfer-1"),
    ],
    "conversing": UP,
    "conversing_after_failed_transfer": [*UP, escalate(50), lc.TransferTimedOut(80)],
    "conversing_saying_goodbye": [*UP, lc.MaxDurationReached(600)],
    "escalating": [*UP, escalate(50)],
    "escalating_second_attempt": [*UP, escalate(50), lc.TransferTimedOut(80), escalate(90)],
    "escalating_media_ended": [*UP, escalate(50), lc.MediaSessionEnded(51, "transfer")],
    "escalating_overdue": [*UP, escalate(590), lc.MaxDurationReached(600)],
    "transferred": [*UP, escalate(50), lc.CallTransferAccepted(60, "transfer-1")],
    "ended": [*UP, lc.CallDisconnected(100)],
    "failed": [lc.AnswerFailed(0.5, "bad context")],
}
STATES = {name: run(events)[0] for name, events in PATHS.items()}

T = 700.0
EVENTS: list[lc.Event] = [
    lc.CallConnected(T),
    lc.CallDisconnected(T),
    lc.MediaStreamingStarted(T),
    lc.MediaStreamingStopped(T),
    lc.MediaStreamingFailed(T, "socket closed"),
    lc.CallTransferAccepted(T, "transfer-1"),
    lc.CallTransferAccepted(T, ""),
    lc.CallTransferAccepted(T, "not-ours"),
    lc.CallTransferFailed(T, 486, 0, "Busy Here", "transfer-1"),
    lc.CallTransferFailed(T, 408, 0, "Timeout", ""),
    lc.PlayCompleted(T),
    lc.PlayFailed(T, "8535: bad text"),
    lc.AnswerFailed(T, "expired"),
    lc.OtherCallEvent(T, "ParticipantsUpdated"),
    lc.MediaSessionStarted(T),
    escalate(T),
    escalate(T, "sip:desk@contoso.example.com"),
    lc.MediaSessionEnded(T, "agent_hangup"),
    lc.MediaSessionEnded(T, "caller_hangup"),
    lc.MediaSessionEnded(T, "transfer"),
    lc.MediaSessionEnded(T, "worker_crashed"),
    lc.MaxDurationReached(T),
    lc.TransferTimedOut(T),
    lc.HangupGraceElapsed(T),
]

VARIANTS: dict[type, list[lc.Event]] = {cls: [e for e in EVENTS if type(e) is cls] for cls in lc.EVENT_TYPES}

ALLOWED: dict[str, set[str]] = {
    "ringing": {"ringing", "connected", "conversing", "escalating", "ended", "failed"},
    "connected": {"connected", "conversing", "escalating", "transferred", "ended", "failed"},
    "conversing": {"conversing", "connected", "escalating", "transferred", "ended", "failed"},
    "escalating": {"escalating", "conversing", "connected", "transferred", "ended"},
    "transferred": {"transferred"},
    "ended": {"ended"},
    "failed": {"failed"},
}


def check_invariants(s: lc.CallState) -> None:
    """What must hold after every step, whatever the path."""
    assert s.phase in lc.PHASES
    assert s.media in ("none", "streaming", "ended")
    if s.is_terminal:
        assert s.timers == {} and s.persisted and s.closing == "" and not s.playing and s.ended_t is not None
        assert not s.escalation_pending
        assert all(a.outcome != "pending" for a in s.transfers)
        return
    assert not s.persisted and s.ended_t is None
    assert ("transfer" in s.timers) == (s.phase == "escalating")
    assert ("hangup_grace" in s.timers) == bool(s.closing), "closing always runs the hang-up grace timer"
    assert ("max_duration" in s.timers) == (not s.max_duration_reached)
    assert sum(a.outcome == "pending" for a in s.transfers) == (s.phase == "escalating")
    if s.phase == "escalating":
        assert s.closing == ""
    if s.phase == "conversing":
        assert s.media == "streaming"
    if s.playing:
        assert s.closing in ("max_duration", "transfer_failed") and s.media != "streaming"
    if s.media == "ended" and s.phase != "escalating":
        assert s.closing, "nobody talks to the caller: the call must be on its way out"


def test_the_reachable_states_cover_every_phase_and_every_event_kind_is_exercised():
    assert {s.phase for s in STATES.values()} == set(lc.PHASES)
    assert {type(e) for e in EVENTS} == set(lc.EVENT_TYPES)
    for state in STATES.values():
        check_invariants(state)


@pytest.mark.parametrize(
    ("name", "kind"), list(itertools.product(STATES, lc.EVENT_TYPES)), ids=lambda x: getattr(x, "__name__", x)
)
def test_every_event_in_every_state_keeps_the_call_consistent(name, kind):
    assert VARIANTS[kind]
    for event in VARIANTS[kind]:
        try:
            check_step(STATES[name], event)
        except AssertionError as exc:
            exc.add_note(f"in state {name}: {event!r}")
            raise


def check_step(state: lc.CallState, event: lc.Event) -> None:
    before = state.to_dict()
    new, commands = lc.step(state, event, CFG)
    assert state.to_dict() == before, "step must not mutate its input"
    assert new is not state
    assert new.phase in ALLOWED[state.phase]
    assert len(new.history) == len(state.history) + 1
    event_name = event.name if isinstance(event, lc.OtherCallEvent) else type(event).__name__
    assert new.history[-1] == (T, event_name, state.phase, new.phase)
    assert all(isinstance(c, lc.COMMAND_TYPES) for c in commands)
    assert not any(isinstance(c, lc.Log) and "internal error" in c.message for c in commands)
    json.dumps(new.to_dict())
    json.dumps([lc.command_to_dict(c) for c in commands])
    check_invariants(new)
    persists = [c for c in commands if isinstance(c, lc.PersistCallRecord)]
    if state.is_terminal:
        assert len(commands) == 1 and isinstance(commands[0], lc.Log)
        assert {**new.to_dict(), "history": []} == {**before, "history": []}
    else:
        assert len(persists) == (1 if new.is_terminal else 0)
        if new.is_terminal:
            assert persists == [lc.PersistCallRecord(new.phase, new.end_reason)]
            assert commands[-1] == persists[0], "the record is persisted after everything else"
    if isinstance(event, lc.OtherCallEvent):
        assert len(commands) == 1 and isinstance(commands[0], lc.Log) and new.phase == state.phase
    if lc.PlayMessage in {type(c) for c in commands}:
        assert new.media != "streaming", "ACS cannot play into a bidirectional media stream"


# The phase after each event of ``EVENTS`` (columns, in order) from each state of ``STATES`` (rows).
# R ringing, C connected, V conversing, E escalating, T transferred, D ended, F failed.
# Columns: connected, disconnected, streaming started/stopped/failed, transfer accepted (ours, no context,
# not ours), transfer failed (ours, no context), play completed/failed, answer failed, other, session started,
# escalation (default, sip), session ended (agent, caller, transfer, crash), max duration, transfer timeout,
# hang-up grace.
PHASE_TABLE = """
    ringing                           C D V R F R R R R R R R F R V R R D R R F F R R
    ringing_escalation_waiting        E D E R F R R R R R R R F R E R R D R R F F R R
    ringing_media_ended               C D R R R R R R R R R R F R R R R D R R R F R D
    connected                         C D V C F C C C C C C C C C V E E D C C F C C C
    connected_media_ended             C D C C C C C C C C C C C C C E E D C C C C C D
    connected_goodbye_playing         C D C C F C C C C C D D C C C C C D C C F C C D
    connected_apology_playing         C D C C C C C C C C D D C C C C C D C C C C C D
    conversing                        V D V C F V V V V V V V V V V E E D C C F V V V
    conversing_after_failed_transfer  V D V C F T T V V V V V V V V E E D C C F V V V
    conversing_saying_goodbye         V D V D F V V V V V V V V V V V V D D D F V V D
    escalating                        E D E E E T T E V V E E E E E E E E E E E E V E
    escalating_second_attempt         E D E E E T T E E V E E E E E E E E E E E E V E
    escalating_media_ended            E D E E E T T E C C E E E E E E E E E E E E C E
    escalating_overdue                E D E E E T T E V V E E E E E E E E E E E E V E
    transferred                       T T T T T T T T T T T T T T T T T T T T T T T T
    ended                             D D D D D D D D D D D D D D D D D D D D D D D D
    failed                            F F F F F F F F F F F F F F F F F F F F F F F F
"""
LETTERS = {"R": "ringing", "C": "connected", "V": "conversing", "E": "escalating"}
LETTERS |= {"T": "transferred", "D": "ended", "F": "failed"}


def test_each_state_and_event_pair_leads_to_the_documented_phase():
    rows = [line.split() for line in PHASE_TABLE.strip().splitlines()]
    assert [r[0] for r in rows] == list(STATES)
    for name, *expected in rows:
        got = [lc.step(STATES[name], e, CFG)[0].phase for e in EVENTS]
        assert got == [LETTERS[x] for x in expected], name


# --- the happy path ---------------------------------------------------------------------------------------


def test_a_call_goes_from_ringing_to_transferred():
    state = begin()
    assert state.phase == "ringing" and state.timers == {"max_duration": 600}
    state, out = lc.step(state, lc.CallConnected(0.8), CFG)
    assert (state.phase, out) == ("connected", [])
    assert state.connected_t == 0.8
    state, out = lc.step(state, lc.MediaStreamingStarted(1.0), CFG)
    assert (state.phase, out) == ("conversing", [])
    state, out = lc.step(state, escalate(42.0), CFG)
    assert state.phase == "escalating"
    assert [type(c) for c in out] == [lc.TransferCall, lc.StartTimer]
    transfer = out[0]
    assert (transfer.target_kind, transfer.target, transfer.operation_context) == (
        "pstn",
        "+18005550199",
        "transfer-1",
    )
    assert transfer.sip_headers["X-MS-Custom-Call-Id"] == "cc-1"
    assert transfer.sip_headers["X-MS-Custom-Reason"] == "caller asked"
    assert out[1] == lc.StartTimer("transfer", 30)
    assert state.timers == {"max_duration": 600, "transfer": 72.0}
    state, out = lc.step(state, lc.CallTransferAccepted(50.0, "transfer-1"), CFG)
    assert state.phase == "transferred" and state.end_reason == "transferred" and state.ended_t == 50.0
    assert out == [
        lc.NotifyMediaWorker("transfer_accepted", "The call was transferred to +18005550199."),
        lc.CancelTimer("max_duration"),
        lc.CancelTimer("transfer"),
        lc.PersistCallRecord("transferred", "transferred"),
    ]
    assert state.transfers[0].outcome == "accepted"
    assert phases(state) == ["ringing", "connected", "conversing", "escalating", "transferred"]
    assert [h.event for h in state.history] == [
        "CallConnected",
        "MediaStreamingStarted",
        "EscalationRequested",
        "CallTransferAccepted",
    ]
    # ACS then drops our leg: absorbed, nothing persisted twice.
    state, out = run([lc.CallDisconnected(50.2), lc.MediaStreamingStopped(50.3)], state)
    assert state.phase == "transferred" and real(out) == []


def test_the_caller_hanging_up_ends_the_call_and_cancels_the_timers():
    state, out = run([*UP, lc.CallDisconnected(30)])
    assert state.phase == "ended" and state.end_reason == "caller_hangup"
    assert real(out) == [lc.CancelTimer("max_duration"), lc.PersistCallRecord("ended", "caller_hangup")]


def test_the_caller_hanging_up_during_a_transfer_ends_the_call():
    state, out = run([*UP, escalate(40), lc.CallDisconnected(45)])
    assert state.phase == "ended" and state.end_reason == "disconnected_during_transfer"
    assert real(out)[-3:] == [
        lc.CancelTimer("max_duration"),
        lc.CancelTimer("transfer"),
        lc.PersistCallRecord("ended", "disconnected_during_transfer"),
    ]
    assert state.transfers[0].outcome == "failed"


# --- transfers that fail ----------------------------------------------------------------------------------


def test_a_failed_transfer_returns_to_the_conversation_and_tells_the_agent():
    state, _ = run([*UP, escalate(40)])
    state, out = lc.step(state, lc.CallTransferFailed(48, 486, 0, "Busy Here", "transfer-1"), CFG)
    assert state.phase == "conversing"
    assert out == [
        lc.CancelTimer("transfer"),
        lc.NotifyMediaWorker("transfer_failed", "The transfer to +18005550199 failed (486/0 Busy Here)."),
    ]
    assert state.timers == {"max_duration": 600}
    assert (state.transfers[0].outcome, state.transfers[0].detail) == ("failed", "486/0 Busy Here")


def test_an_unanswered_transfer_times_out_back_to_the_conversation():
    state, _ = run([*UP, escalate(40)])
    assert state.timers["transfer"] == 70
    state, out = lc.step(state, lc.TransferTimedOut(70), CFG)
    assert state.phase == "conversing"
    assert out == [
        lc.NotifyMediaWorker(
            "transfer_failed", "The transfer to +18005550199 was not answered within 30 seconds."
        )
    ], "the timer fired: nothing to cancel"
    assert state.transfers[0].outcome == "timed_out" and "transfer" not in state.timers


def test_a_transfer_accepted_after_its_timeout_still_wins():
    state, out = run([*UP, escalate(40), lc.TransferTimedOut(70), lc.CallTransferAccepted(72, "transfer-1")])
    assert state.phase == "transferred"
    assert state.transfers[0].outcome == "accepted" and "after the timeout" in state.transfers[0].detail
    assert out.count(lc.PersistCallRecord("transferred", "transferred")) == 1


def test_a_late_failure_of_a_timed_out_attempt_does_not_touch_the_next_one():
    state, _ = run([*UP, escalate(40), lc.TransferTimedOut(70), escalate(80)])
    assert state.phase == "escalating" and state.transfers[-1].operation_context == "transfer-2"
    state, out = lc.step(state, lc.CallTransferFailed(85, 487, 0, "Terminated", "transfer-1"), CFG)
    assert state.phase == "escalating" and real(out) == []
    assert state.transfers[1].outcome == "pending"
    state, out = lc.step(state, lc.CallTransferAccepted(86, "someone-else"), CFG)
    assert state.phase == "escalating" and real(out) == []
    state, _ = lc.step(state, lc.CallTransferAccepted(90, "transfer-2"), CFG)
    assert state.phase == "transferred"


def test_no_transfer_target_at_all_tells_the_agent_and_the_call_goes_on():
    cfg = dataclasses.replace(CFG, default_transfer_target=None)
    state, _ = run(UP, cfg=cfg)
    state, out = lc.step(state, escalate(40), cfg)
    assert state.phase == "conversing"
    assert out == [lc.NotifyMediaWorker("transfer_failed", "There is no one to transfer the call to.")]
    assert (
        state.transfers == [] and state.escalation is not None and state.escalation.reason == "caller asked"
    )


def test_the_requested_target_wins_over_the_agent_default():
    _, out = run([*UP, escalate(40, "sip:intake@contoso-law.example.com")])
    (transfer,) = [c for c in out if isinstance(c, lc.TransferCall)]
    assert (transfer.target_kind, transfer.target) == ("sip", "sip:intake@contoso-law.example.com")
    _, out = run([*UP, escalate(40, "tel:+18005550177")])
    (transfer,) = [c for c in out if isinstance(c, lc.TransferCall)]
    assert (transfer.target_kind, transfer.target) == ("pstn", "+18005550177")


def test_a_malformed_target_falls_back_to_the_default_and_says_so():
    _, out = run([*UP, escalate(40, "call Bob")])
    (transfer,) = [c for c in out if isinstance(c, lc.TransferCall)]
    assert transfer.target == "+18005550199"
    assert any(isinstance(c, lc.Log) and "call Bob" in c.message for c in out)


def test_after_two_failed_transfers_further_requests_fail_at_once():
    state, _ = run(
        [
            *UP,
            escalate(40),
            lc.CallTransferFailed(45, 486, 0, "Busy", "transfer-1"),
            escalate(50),
            lc.TransferTimedOut(80),
        ]
    )
    assert state.phase == "conversing" and state.failed_transfers == 2
    state, out = lc.step(state, escalate(90), CFG)
    assert state.phase == "conversing"
    assert out == [
        lc.NotifyMediaWorker("transfer_failed", "Transfers failed 2 times; not trying again on this call.")
    ]
    cfg = dataclasses.replace(CFG, max_transfer_attempts=3)
    state, out = run(
        [*UP, escalate(40), lc.TransferTimedOut(70), escalate(80), lc.TransferTimedOut(110)], cfg=cfg
    )
    state, out = lc.step(state, escalate(120), cfg)
    assert state.phase == "escalating" and out[0].operation_context == "transfer-3"


def test_a_second_escalation_while_transferring_is_ignored():
    state, _ = run([*UP, escalate(40)])
    new, out = lc.step(state, escalate(41, "sip:other@example.com"), CFG)
    assert new.phase == "escalating" and len(out) == 1 and isinstance(out[0], lc.Log)
    assert new.escalation == state.escalation and len(new.transfers) == 1


def test_a_failed_transfer_after_the_worker_left_is_apologised_for_by_acs_then_hung_up():
    state, out = run([*UP, escalate(40), lc.MediaSessionEnded(41, "transfer")])
    assert state.phase == "escalating" and state.media == "ended"
    state, out = lc.step(state, lc.CallTransferFailed(50, 480, 0, "Unavailable", "transfer-1"), CFG)
    assert state.phase == "connected" and state.closing == "transfer_failed" and state.playing
    assert [type(c) for c in out] == [lc.CancelTimer, lc.NotifyMediaWorker, lc.PlayMessage, lc.StartTimer]
    assert out[2] == lc.PlayMessage(CFG.transfer_failed_say)
    state, out = lc.step(state, lc.PlayCompleted(58), CFG)
    assert state.phase == "ended" and state.end_reason == "transfer_failed"
    assert out == [
        lc.CancelTimer("hangup_grace"),
        lc.CancelTimer("max_duration"),
        lc.HangUp(for_everyone=True),
        lc.PersistCallRecord("ended", "transfer_failed"),
    ]


def test_an_escalation_after_the_worker_left_for_a_transfer_cancels_the_grace_timer():
    state, out = run([*UP, lc.MediaSessionEnded(40, "transfer")])
    assert state.phase == "connected" and state.closing == "media_ended"
    assert real(out) == [lc.StartTimer("hangup_grace", 10)]
    state, out = lc.step(state, escalate(40.1), CFG)
    assert state.phase == "escalating" and state.closing == ""
    assert [type(c) for c in out] == [lc.CancelTimer, lc.TransferCall, lc.StartTimer]


def test_a_worker_that_left_without_escalating_is_hung_up_after_the_grace():
    state, _ = run([*UP, lc.MediaStreamingStopped(40)])
    state, out = lc.step(state, lc.HangupGraceElapsed(50), CFG)
    assert state.phase == "ended" and state.end_reason == "media_ended"
    assert out == [
        lc.CancelTimer("max_duration"),
        lc.HangUp(True),
        lc.PersistCallRecord("ended", "media_ended"),
    ]


def test_an_escalation_racing_ahead_of_call_connected_waits_for_it():
    state, out = run([escalate(0.4)])
    assert state.phase == "ringing" and state.escalation_pending and real(out) == []
    state, out = lc.step(state, lc.CallConnected(0.5), CFG)
    assert state.phase == "escalating" and not state.escalation_pending
    assert [type(c) for c in out] == [lc.TransferCall, lc.StartTimer]


def test_media_starting_before_call_connected_implies_the_connection():
    state, out = run([lc.MediaSessionStarted(0.7)])
    assert state.phase == "conversing" and state.connected_t == 0.7 and out == []
    state, out = lc.step(state, lc.CallConnected(0.9), CFG)
    assert state.phase == "conversing" and len(out) == 1 and isinstance(out[0], lc.Log)


# --- the time limit ---------------------------------------------------------------------------------------


def test_max_duration_while_conversing_lets_the_agent_say_goodbye_then_hangs_up():
    state, out = run([*UP, lc.MaxDurationReached(600)])
    assert state.phase == "conversing" and state.closing == "max_duration"
    assert out == [
        lc.NotifyMediaWorker("max_duration", CFG.max_call_goodbye),
        lc.StartTimer("hangup_grace", 10),
    ]
    assert not any(isinstance(c, lc.PlayMessage) for c in out)
    done, out = lc.step(state, lc.HangupGraceElapsed(610), CFG)
    assert done.phase == "ended" and done.end_reason == "max_duration"
    assert out == [lc.HangUp(for_everyone=True), lc.PersistCallRecord("ended", "max_duration")]
    # The worker usually finishes first: its hang-up ends the call, still for the time limit.
    done, out = lc.step(state, lc.MediaSessionEnded(604, "agent_hangup"), CFG)
    assert done.end_reason == "max_duration"
    assert out == [
        lc.CancelTimer("hangup_grace"),
        lc.HangUp(True),
        lc.PersistCallRecord("ended", "max_duration"),
    ]


def test_max_duration_without_media_plays_the_goodbye_and_hangs_up_when_it_is_over():
    state, out = run([lc.CallConnected(1), lc.MaxDurationReached(600)])
    assert out == [lc.PlayMessage(CFG.max_call_goodbye), lc.StartTimer("hangup_grace", 10)]
    state, out = lc.step(state, lc.PlayFailed(601, "8535"), CFG)
    assert state.phase == "ended" and state.end_reason == "max_duration"
    assert real(out) == [
        lc.CancelTimer("hangup_grace"),
        lc.HangUp(True),
        lc.PersistCallRecord("ended", "max_duration"),
    ]


def test_max_duration_while_nobody_listens_restarts_the_grace_for_the_goodbye():
    state, _ = run([*UP, lc.MediaSessionEnded(500, "caller_hangup")])
    state, out = lc.step(state, lc.MaxDurationReached(600), CFG)
    assert state.closing == "max_duration" and state.playing
    assert out == [
        lc.PlayMessage(CFG.max_call_goodbye),
        lc.CancelTimer("hangup_grace"),
        lc.StartTimer("hangup_grace", 10),
    ]


def test_max_duration_before_the_call_connected_fails_it():
    state, out = run([lc.MaxDurationReached(600)])
    assert state.phase == "failed" and state.end_reason == "never_connected"
    assert out == [lc.HangUp(True), lc.PersistCallRecord("failed", "never_connected")]


def test_max_duration_during_a_transfer_lets_it_finish_but_a_failure_then_ends_the_call():
    state, _ = run([*UP, escalate(590)])
    state, out = lc.step(state, lc.MaxDurationReached(600), CFG)
    assert state.phase == "escalating" and state.max_duration_reached
    assert real(out) == [] and "transfer goes on" in out[0].message
    accepted, _ = lc.step(state, lc.CallTransferAccepted(605, "transfer-1"), CFG)
    assert accepted.phase == "transferred"
    state, out = lc.step(state, lc.TransferTimedOut(620), CFG)
    assert state.phase == "conversing" and state.closing == "max_duration"
    assert [(type(c), getattr(c, "kind", None)) for c in out] == [
        (lc.NotifyMediaWorker, "transfer_failed"),
        (lc.NotifyMediaWorker, "max_duration"),
        (lc.StartTimer, None),
    ]


def test_no_transfer_once_the_call_is_saying_goodbye():
    state, _ = run([*UP, lc.MaxDurationReached(600)])
    state, out = lc.step(state, escalate(601), CFG)
    assert state.phase == "conversing" and state.transfers == []
    assert out == [
        lc.NotifyMediaWorker("transfer_failed", "The call is ending; it cannot be transferred now.")
    ]


# --- failures and hang-ups --------------------------------------------------------------------------------


def test_answer_failed_fails_the_call_without_hanging_up():
    state, out = run([lc.AnswerFailed(0.3, "5001: expired context")])
    assert state.phase == "failed" and state.end_reason == "answer_failed: 5001: expired context"
    assert out == [lc.CancelTimer("max_duration"), lc.PersistCallRecord("failed", state.end_reason)]


def test_media_streaming_failed_hangs_up_so_the_caller_does_not_sit_in_silence():
    state, out = run([*UP, lc.MediaStreamingFailed(3, "8581: transport")])
    assert state.phase == "failed" and state.end_reason == "media_failed: 8581: transport"
    assert out == [
        lc.CancelTimer("max_duration"),
        lc.HangUp(True),
        lc.PersistCallRecord("failed", state.end_reason),
    ]


def test_media_streaming_failed_during_a_transfer_does_not_cut_it():
    state, out = run([*UP, escalate(40), lc.MediaStreamingFailed(41, "gone")])
    assert state.phase == "escalating" and state.media == "ended"
    assert not any(isinstance(c, lc.HangUp) for c in out)


def test_the_agent_hanging_up_hangs_up_the_call():
    state, out = run([*UP, lc.MediaSessionEnded(120, "agent_hangup")])
    assert state.phase == "ended" and state.end_reason == "agent_hangup"
    assert real(out) == [
        lc.CancelTimer("max_duration"),
        lc.HangUp(True),
        lc.PersistCallRecord("ended", "agent_hangup"),
    ]


def test_the_caller_hanging_up_at_the_worker_waits_for_call_disconnected():
    state, out = run([*UP, lc.MediaSessionEnded(120, "caller_hangup")])
    assert state.phase == "connected" and not any(
        isinstance(c, lc.HangUp | lc.PersistCallRecord) for c in out
    )
    state, out = lc.step(state, lc.CallDisconnected(120.2), CFG)
    assert state.phase == "ended" and state.end_reason == "caller_hangup"
    assert out == [
        lc.CancelTimer("hangup_grace"),
        lc.CancelTimer("max_duration"),
        lc.PersistCallRecord("ended", "caller_hangup"),
    ]


def test_a_worker_ending_for_an_unknown_reason_fails_the_call():
    state, out = run([*UP, lc.MediaSessionEnded(30, "crashed")])
    assert state.phase == "failed" and state.end_reason == "media_session_crashed"
    assert lc.HangUp(True) in out


# --- duplicates, stale and unknown events -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "duplicate"),
    [
        ([lc.CallConnected(1)], lc.CallConnected(1.1)),
        (UP, lc.MediaStreamingStarted(2.1)),
        (UP, lc.MediaSessionStarted(2.2)),
        (UP, lc.CallConnected(2.3)),
        ([*UP, lc.MediaStreamingStopped(9)], lc.MediaSessionEnded(9.1, "caller_hangup")),
        ([*UP, lc.MediaStreamingStopped(9)], lc.MediaStreamingStarted(9.2)),
        ([*UP, escalate(40), lc.TransferTimedOut(70)], lc.TransferTimedOut(70.1)),
        (
            [*UP, escalate(40), lc.CallTransferFailed(45, 486, 0, "Busy", "transfer-1")],
            lc.TransferTimedOut(70),
        ),
        ([*UP, lc.MaxDurationReached(600)], lc.MaxDurationReached(600.1)),
        (UP, lc.HangupGraceElapsed(30)),
        (UP, lc.PlayCompleted(30)),
        ([lc.AnswerFailed(1)], lc.AnswerFailed(1.1)),
    ],
)
def test_duplicate_and_stale_events_change_nothing(path, duplicate):
    state, _ = run(path)
    new, out = lc.step(state, duplicate, CFG)
    assert len(out) == 1 and isinstance(out[0], lc.Log) and "ignored" in out[0].message
    assert {**new.to_dict(), "history": []} == {**state.to_dict(), "history": []}
    assert new.history[-1].from_state == new.history[-1].to_state == state.phase


def test_other_call_events_are_recorded_by_name_and_ignored():
    state, out = run([*UP, lc.OtherCallEvent(5, "ParticipantsUpdated")])
    assert state.history[-1] == (5, "ParticipantsUpdated", "conversing", "conversing")
    assert real(out) == []


def test_step_never_raises_on_garbage():
    state = STATES["conversing"]
    for junk in [
        object(),
        None,
        "CallConnected",
        lc.CallConnected(t="soon"),
        lc.EscalationRequested(1, record=None),
    ]:
        new, out = lc.step(state, junk, CFG)  # type: ignore[arg-type]
        assert new.phase in ("conversing", "escalating")
        assert len(new.history) == len(state.history) + 1
        assert out


def test_history_is_capped_but_transitions_are_always_kept():
    cfg = dataclasses.replace(CFG, max_history=3)
    state, _ = run(
        [lc.CallConnected(1), *[lc.OtherCallEvent(2 + i, "PlayStarted") for i in range(5)]], cfg=cfg
    )
    assert len(state.history) == 3 and state.history_dropped == 3
    state, _ = run([lc.MediaStreamingStarted(10)], state, cfg=cfg)
    assert len(state.history) == 4 and state.history[-1].to_state == "conversing"


# --- persist exactly once, whatever the path --------------------------------------------------------------


def _random_event(rng: random.Random, t: float, state: lc.CallState) -> lc.Event:
    """A plausible next event: due timers usually fire first; rare events (failures) are rare; and now and
    then an event that makes no sense here, or a timer that is not due (the rules must cope with both)."""
    due = sorted((at, name) for name, at in state.timers.items() if at <= t)
    if due and rng.random() < 0.8:
        return lc.timer_event(due[0][1], t)
    ctx = rng.choice(["", "transfer-1", "transfer-2", "transfer-3", "other"])
    weighted = [
        (6, lambda: lc.CallConnected(t)),
        (5, lambda: lc.MediaStreamingStarted(t)),
        (3, lambda: lc.MediaSessionStarted(t)),
        (2, lambda: lc.MediaStreamingStopped(t)),
        (0.3, lambda: lc.MediaStreamingFailed(t, "x")),
        (3, lambda: lc.CallTransferAccepted(t, ctx)),
        (4, lambda: lc.CallTransferFailed(t, 486, 0, "Busy", ctx)),
        (1, lambda: lc.PlayCompleted(t)),
        (1, lambda: lc.PlayFailed(t)),
        (0.3, lambda: lc.AnswerFailed(t)),
        (2, lambda: lc.OtherCallEvent(t, "PlayStarted")),
        (5, lambda: escalate(t, rng.choice(["", "sip:desk@example.com", "tel:+18005550177", "bogus"]))),
        (
            2,
            lambda: lc.MediaSessionEnded(
                t, rng.choice(["agent_hangup", "caller_hangup", "transfer", "crash"])
            ),
        ),
        (0.5, lambda: lc.MaxDurationReached(t)),
        (1, lambda: lc.TransferTimedOut(t)),
        (1, lambda: lc.HangupGraceElapsed(t)),
        (0.5, lambda: lc.CallDisconnected(t)),
    ]
    (make,) = rng.choices([m for _, m in weighted], weights=[w for w, _ in weighted])
    return make()


@pytest.mark.parametrize("seed", range(3))
def test_random_calls_persist_exactly_once_and_keep_timers_in_step_with_the_driver(seed):
    rng = random.Random(seed)
    for _ in range(80):
        cfg = dataclasses.replace(
            CFG,
            default_transfer_target=rng.choice([DESK, None]),
            max_transfer_attempts=rng.choice([1, 2, 3]),
            max_call_s=rng.choice([120, 300]),
        )
        state, commands = lc.start("cc-r", "fnol", "+1", "+2", cfg)
        running = {c.name for c in commands if isinstance(c, lc.StartTimer)}
        persisted = 0
        t = 0.0
        for _ in range(rng.randint(1, 30)):
            t += rng.uniform(0.1, 15)
            event = _random_event(rng, t, state)
            timer = next((n for n, cls in lc.TIMER_EVENTS.items() if type(event) is cls), None)
            if timer in running:
                running.discard(timer)  # it fired
            was_terminal = state.is_terminal
            state, out = lc.step(state, event, cfg)
            for c in out:
                if isinstance(c, lc.StartTimer):
                    assert c.name not in running, "a running timer is cancelled before it is restarted"
                    running.add(c.name)
                elif isinstance(c, lc.CancelTimer):
                    running.discard(c.name)
            assert running == set(state.timers), (event, out)
            n = sum(isinstance(c, lc.PersistCallRecord) for c in out)
            assert n == (1 if state.is_terminal and not was_terminal else 0), (event, out)
            persisted += n
            check_invariants(state)
        state, out = lc.step(state, lc.CallDisconnected(t + 1), cfg)
        persisted += sum(isinstance(c, lc.PersistCallRecord) for c in out)
        assert (
            state.is_terminal
            and persisted == 1
            and state.timers == {}
            and running - {c.name for c in out if isinstance(c, lc.CancelTimer)} == set()
        )
        assert state.to_dict() == lc.CallState.from_dict(json.loads(json.dumps(state.to_dict()))).to_dict()


# --- serialisation ----------------------------------------------------------------------------------------


def test_every_state_survives_a_json_round_trip_and_steps_the_same():
    for state in STATES.values():
        restored = lc.CallState.from_dict(json.loads(json.dumps(state.to_dict())))
        assert restored == state
        for event in EVENTS:
            assert lc.step(restored, event, CFG) == lc.step(state, event, CFG)


def test_events_round_trip_through_json():
    for event in EVENTS:
        d = json.loads(json.dumps(lc.event_to_dict(event)))
        assert d["type"] == type(event).__name__
        assert lc.event_from_dict(d) == event


def test_unknown_event_types_decode_as_other_events():
    assert lc.event_from_dict({"type": "HoldAudioStarted", "t": 3}) == lc.OtherCallEvent(
        3.0, "HoldAudioStarted"
    )
    with pytest.raises(ValueError):
        lc.event_from_dict({"type": "CallConnected"})


def test_commands_round_trip_through_json():
    commands = [
        lc.StartTimer("transfer", 30),
        lc.CancelTimer("transfer"),
        lc.TransferCall("sip", "sip:a@b.example", {"X-MS-Custom-Reason": "vip"}, "transfer-1"),
        lc.NotifyMediaWorker("transfer_failed", "busy"),
        lc.PlayMessage("Goodbye."),
        lc.HangUp(True),
        lc.PersistCallRecord("ended", "caller_hangup"),
        lc.Log("x"),
    ]
    assert {type(c) for c in commands} == set(lc.COMMAND_TYPES)
    for c in commands:
        assert lc.command_from_dict(json.loads(json.dumps(lc.command_to_dict(c)))) == c
    with pytest.raises(ValueError):
        lc.command_from_dict({"type": "Answer"})


def test_config_round_trips_and_rejects_what_acs_would_not_forward():
    assert lc.LifecycleConfig.from_dict(json.loads(json.dumps(CFG.to_dict()))) == CFG
    for bad in (
        {"sip_header_prefix": "X-Custom-"},
        {"sip_header_prefix": "X-MS-Custom- "},
        {"max_call_s": 0},
        {"transfer_timeout_s": -1},
        {"max_transfer_attempts": 0},
    ):
        with pytest.raises(ValueError):
            lc.LifecycleConfig(**bad)


def test_timer_and_callback_events_map_to_lifecycle_events():
    assert lc.timer_event("max_duration", 600) == lc.MaxDurationReached(600)
    assert lc.timer_event("transfer", 70) == lc.TransferTimedOut(70)
    assert lc.timer_event("hangup_grace", 9) == lc.HangupGraceElapsed(9)
    assert isinstance(lc.timer_event("nope", 1), lc.OtherCallEvent)
    cb = SimpleNamespace(
        name="CallTransferFailed",
        operation_context="transfer-2",
        result_code=486,
        result_sub_code=0,
        result_message="Busy Here",
    )
    assert lc.event_from_callback(cb, 5) == lc.CallTransferFailed(5, 486, 0, "Busy Here", "transfer-2")
    cb = SimpleNamespace(name="Microsoft.Communication.CallTransferAccepted", operation_context="transfer-1")
    assert lc.event_from_callback(cb, 6) == lc.CallTransferAccepted(6, "transfer-1")
    cb = SimpleNamespace(name="MediaStreamingFailed", result_code=8581, result_message="transport")
    assert lc.event_from_callback(cb, 7) == lc.MediaStreamingFailed(7, "8581: transport")
    assert lc.event_from_callback(SimpleNamespace(name="CallConnected"), 1) == lc.CallConnected(1)
    assert lc.event_from_callback(SimpleNamespace(name="PlayStarted"), 2) == lc.OtherCallEvent(
        2, "PlayStarted"
    )


# --- transfer targets and SIP headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tel:+18005550199", DESK),
        ("+18005550199", DESK),
        ("TEL:+18005550199", DESK),
        ("sip:desk@contoso.example.com", lc.TransferTarget("sip", "sip:desk@contoso.example.com")),
        ("sips:desk@contoso.example.com", lc.TransferTarget("sip", "sips:desk@contoso.example.com")),
        ("tel:18005550199", None),
        ("tel:+0123", None),
        ("sip:", None),
        ("", None),
        ("desk", None),
    ],
)
def test_transfer_targets_parse(text, expected):
    assert lc.TransferTarget.parse(text) == expected


def test_the_agent_yaml_transfer_becomes_the_default_target():
    spec = SimpleNamespace(type="pstn", number="+18005550199", uri=None)
    assert lc.TransferTarget.from_spec(spec) == DESK
    spec = SimpleNamespace(type="sip", number=None, uri="sip:intake@contoso-law.example.com")
    assert lc.TransferTarget.from_spec(spec).uri == "sip:intake@contoso-law.example.com"
    assert lc.TransferTarget.from_spec(SimpleNamespace(type="pstn", number="sip:x@y", uri=None)) is None
    assert lc.TransferTarget.from_spec(None) is None
    assert DESK.uri == "tel:+18005550199"


def test_header_values_are_printable_ascii_on_one_line():
    assert lc.sanitize_header_value("Zoë Ñúñez") == "Zoe Nunez"
    assert lc.sanitize_header_value("東京 office") == "?? office"
    assert lc.sanitize_header_value("a\r\nX-Injected: 1\tb\x00c") == "a X-Injected: 1 b c"
    assert lc.sanitize_header_value("ends…") == "ends..."
    assert lc.sanitize_header_value(True) == "yes"
    assert lc.sanitize_header_value(["a", "b"]) == "a, b"
    long = lc.sanitize_header_value("x" * 1000, 256)
    assert len(long) == 256 and long.endswith("...")
    for text in ["ü" * 300, "\u200b\u202e evil", "é\n" * 200]:
        out = lc.sanitize_header_value(text, 256)
        assert len(out) <= 256 and all(" " <= ch <= "~" for ch in out)


def test_header_names_carry_the_acs_prefix_and_fit_its_limit():
    assert lc.header_name("policy_number") == "X-MS-Custom-Policy-Number"
    assert lc.header_name("VIN") == "X-MS-Custom-VIN"
    assert lc.header_name("año de compra") == "X-MS-Custom-Ano-De-Compra"
    assert lc.header_name("ÿ" * 3) == "X-MS-Custom-Yyy"
    assert lc.header_name("日本") == ""
    long = lc.header_name("a_very_long_field_name_that_goes_on_and_on_and_on_forever_and_ever")
    assert len(long) <= 64 and long.startswith("X-MS-Custom-") and not long.endswith("-")


def test_transfer_headers_hold_the_summary_reason_agent_and_record_within_acs_limits():
    record = {
        "caller_name": "José\nO'Brien",
        "policy_number": "PA44712",
        "vehicle": {"make": "Kia"},
        "notes": "x" * 500,
        "empty": None,
    }
    event = lc.EscalationRequested(5, "injury\r\nreported", record, "", "")
    state, out = run([*UP, event])
    (transfer,) = [c for c in out if isinstance(c, lc.TransferCall)]
    headers = transfer.sip_headers
    assert list(headers) == [
        "X-MS-Custom-Call-Id",
        "X-MS-Custom-Reason",
        "X-MS-Custom-Summary",
        "X-MS-Custom-Agent",
        "X-MS-Custom-Caller-Name",
    ], "at most five: ACS forwards no more"
    assert headers["X-MS-Custom-Reason"] == "injury reported"
    assert headers["X-MS-Custom-Caller-Name"] == "Jose O'Brien"
    assert headers["X-MS-Custom-Summary"].startswith("fnol: injury reported; caller_name=Jose O'Brien")
    assert len(headers["X-MS-Custom-Summary"]) <= 256
    for name, value in headers.items():
        assert re.fullmatch(r"X-MS-Custom-[A-Za-z0-9-]+", name) and len(name) <= 64
        assert value and len(value) <= 256 and all(" " <= ch <= "~" for ch in value)
    cfg = dataclasses.replace(
        CFG, max_sip_headers=8, record_header_fields=("policy_number", "vehicle", "notes")
    )
    headers = lc.sip_headers("cc-1", "fnol", state.escalation, cfg)
    assert headers["X-MS-Custom-Policy-Number"] == "PA44712"
    assert "X-MS-Custom-Vehicle" not in headers and len(headers["X-MS-Custom-Notes"]) == 256
    assert "X-MS-Custom-Caller-Name" not in headers
