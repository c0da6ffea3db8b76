"""The turn-taking rules, event by event, without audio or a clock."""

from __future__ import annotations

import itertools

import pytest

from media_worker import turn_policy as tp

CFG = tp.TurnConfig(endpoint_ms=400, reprompt_ms=8000)


def run(events: list[tp.Event], state: tp.TurnState | None = None) -> tuple[tp.TurnState, list[tp.Command]]:
    state = state or tp.TurnState()
    out: list[tp.Command] = []
    for event in events:
        out += tp.step(state, event, CFG)
    return state, out


def test_turn_ends_after_the_endpoint_window_once_the_transcript_is_in():
    state, out = run(
        [
            tp.Onset(1000),
            tp.Confirmed(1060),
            tp.SpeechEnd(2000),
            tp.TranscriptIn("hello", 2000),
            tp.Tick(2380),
        ]
    )
    assert out == []
    assert state.mode == "caller_paused"
    out = tp.step(state, tp.Tick(2400), CFG)
    assert out == [tp.EndTurn("hello", 2000, 2400)]
    assert state.mode == "thinking"


def test_a_slow_transcript_ends_the_turn_when_it_arrives():
    state, out = run([tp.Onset(0), tp.Confirmed(60), tp.SpeechEnd(1000), tp.Tick(1400), tp.Tick(1600)])
    assert out == []
    tp.step(state, tp.TranscriptIn("late", 1000), CFG)
    assert tp.step(state, tp.Tick(1620), CFG) == [tp.EndTurn("late", 1000, 1620)]


def test_a_stale_transcript_for_an_earlier_speech_end_is_ignored():
    state, out = run(
        [
            tp.Onset(0),
            tp.Confirmed(60),
            tp.SpeechEnd(1000),
            tp.Onset(1200),
            tp.Confirmed(1260),
            tp.TranscriptIn("first half", 1000),
            tp.SpeechEnd(2000),
            tp.Tick(2500),
        ]
    )
    assert out == []
    tp.step(state, tp.TranscriptIn("first half and the rest", 2000), CFG)
    assert tp.step(state, tp.Tick(2520), CFG) == [tp.EndTurn("first half and the rest", 2000, 2520)]


def test_a_noise_onset_inside_the_endpoint_window_does_not_lose_the_turn():
    state, _ = run([tp.Onset(0), tp.Confirmed(60), tp.SpeechEnd(1000), tp.TranscriptIn("yes", 1000)])
    _, out = run([tp.Onset(1100), tp.Rejected(1400), tp.Tick(1420)], state)
    assert out == [tp.EndTurn("yes", 1000, 1420)]


def test_an_empty_transcript_is_not_a_turn():
    state, out = run(
        [tp.Onset(0), tp.Confirmed(60), tp.SpeechEnd(500), tp.TranscriptIn("  ", 500), tp.Tick(900)]
    )
    assert out == []
    assert state.mode == "listening"


def test_onset_while_the_agent_speaks_pauses_then_confirmation_barges_in():
    state = tp.TurnState(mode="agent_speaking")
    assert tp.step(state, tp.Onset(5000), CFG) == [tp.Pause(5000)]
    assert state.paused
    assert tp.step(state, tp.Confirmed(5060), CFG) == [tp.BargeIn(5060)]
    assert state.mode == "caller_speaking" and not state.paused


def test_a_rejected_onset_resumes_the_agent():
    state = tp.TurnState(mode="agent_speaking")
    tp.step(state, tp.Onset(5000), CFG)
    assert tp.step(state, tp.Rejected(5300), CFG) == [tp.Resume(5300)]
    assert state.mode == "agent_speaking" and not state.paused


def test_speech_while_the_agent_prepares_its_reply_cancels_it():
    state = tp.TurnState(mode="thinking")
    assert tp.step(state, tp.Onset(100), CFG) == []
    assert tp.step(state, tp.Confirmed(160), CFG) == [tp.BargeIn(160)]
    assert state.mode == "caller_speaking"


def test_the_floor_returns_to_the_caller_when_playback_is_done():
    state = tp.TurnState(mode="thinking")
    tp.step(state, tp.ReplyStarted(100), CFG)
    assert state.mode == "agent_speaking"
    tp.step(state, tp.PlaybackDone(3000), CFG)
    assert state.mode == "listening" and state.idle_since_ms == 3000


def test_an_unprompted_reply_gives_the_agent_the_floor_so_the_caller_can_barge_in():
    state = tp.TurnState(mode="listening")
    tp.step(state, tp.ReplyStarted(100), CFG)  # a failed transfer's apology, the time-limit goodbye
    assert state.mode == "agent_speaking"
    assert tp.step(state, tp.Onset(300), CFG) == [tp.Pause(300)]
    # A reply starting while the caller is mid-turn does not take the caller's turn away.
    state = tp.TurnState(mode="caller_speaking")
    tp.step(state, tp.ReplyStarted(100), CFG)
    assert state.mode == "caller_speaking"


def test_long_silence_after_the_agent_reprompts_once():
    state = tp.TurnState(mode="listening", idle_since_ms=1000)
    assert tp.step(state, tp.Tick(8980), CFG) == []
    assert tp.step(state, tp.Tick(9000), CFG) == [tp.EndTurn("", 9000, 9000)]
    assert tp.step(state, tp.Tick(20000), CFG) == []  # no second reprompt until the agent spoke


def test_dtmf_is_a_turn_and_interrupts_a_speaking_agent():
    state = tp.TurnState(mode="agent_speaking")
    assert tp.step(state, tp.DtmfIn("5", 700), CFG) == [tp.BargeIn(700), tp.Digits("5", 700)]
    state = tp.TurnState(mode="listening")
    assert tp.step(state, tp.DtmfIn("#", 900), CFG) == [tp.Digits("#", 900)]


def test_a_noise_onset_from_silence_returns_to_listening():
    state, out = run([tp.Onset(100), tp.Rejected(400)])
    assert out == [] and state.mode == "listening"


EVENTS: list[tp.Event] = [
    tp.Tick(10_000),
    tp.Onset(10_000),
    tp.Confirmed(10_000),
    tp.Rejected(10_000),
    tp.SpeechEnd(10_000),
    tp.TranscriptIn("x", 10_000),
    tp.DtmfIn("1", 10_000),
    tp.ReplyStarted(10_000),
    tp.PlaybackDone(10_000),
]
MODES: list[tp.Mode] = ["listening", "caller_speaking", "caller_paused", "thinking", "agent_speaking"]


@pytest.mark.parametrize(("mode", "paused", "event"), list(itertools.product(MODES, [False, True], EVENTS)))
def test_every_state_and_event_pair_keeps_the_state_consistent(mode, paused, event):
    state = tp.TurnState(mode=mode, paused=paused and mode == "agent_speaking")
    if mode == "caller_paused":
        state.speech_end_ms = 9_000
    out = tp.step(state, event, CFG)
    assert state.mode in MODES
    assert not state.paused or state.mode == "agent_speaking", "only a speaking agent can be paused"
    if state.mode == "caller_paused":
        assert state.speech_end_ms is not None
    for command in out:
        if isinstance(command, tp.Pause | tp.Resume):
            assert mode == "agent_speaking"
        if isinstance(command, tp.EndTurn):
            assert state.mode == "thinking"
    if isinstance(event, tp.Onset) and mode == "agent_speaking" and not paused:
        assert out == [tp.Pause(10_000)]


def test_a_complete_answer_ends_the_turn_after_the_shorter_window():
    state, _ = run(
        [tp.Onset(0), tp.Confirmed(60), tp.SpeechEnd(1000), tp.TranscriptIn("yes", 1000, complete=True)]
    )
    assert tp.step(state, tp.Tick(1140), CFG) == []
    assert tp.step(state, tp.Tick(1160), CFG) == [tp.EndTurn("yes", 1000, 1160)]


def test_completeness_is_forgotten_when_the_caller_resumes():
    state, _ = run(
        [tp.Onset(0), tp.Confirmed(60), tp.SpeechEnd(1000), tp.TranscriptIn("yes", 1000, complete=True)]
    )
    run([tp.Onset(1100), tp.Confirmed(1160), tp.SpeechEnd(2000), tp.TranscriptIn("yes but", 2000)], state)
    assert tp.step(state, tp.Tick(2200), CFG) == []
    assert tp.step(state, tp.Tick(2400), CFG) == [tp.EndTurn("yes but", 2000, 2400)]
