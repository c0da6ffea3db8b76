"""Turn-taking rules for one call, as a pure state machine: events in, commands out.

No audio, no I/O, no clock of its own: every event carries its call-clock time (``t_ms``), so the rules are
tested exhaustively in microseconds and the pipeline stage around them only does I/O.

Modes:
- ``listening``: nobody speaks; waiting for the caller.
- ``caller_speaking``: the VAD hears the caller.
- ``caller_paused``: the caller stopped; the endpoint window runs while STT decodes.
- ``thinking``: the turn is over; the agent is preparing its reply.
- ``agent_speaking``: the reply is playing.

The endpoint rule: a turn ends once the caller has been silent for ``endpoint_ms`` (``complete_endpoint_ms``
when the dialog says the transcript already answers its question) *and* the transcript of the speech that
ended is in (decoding starts as soon as the silence begins, so the two overlap). If the caller
resumes inside the window (a confirmed onset) the pending transcript is dropped; the next speech end brings a
new one covering the whole utterance, since the listener keeps the audio from the turn's first onset.

Barge-in: an onset while the agent speaks pauses playback at once (``Pause``); a confirmed onset
interrupts the reply (``BargeIn``); a rejected one (noise) resumes it (``Resume``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["listening", "caller_speaking", "caller_paused", "thinking", "agent_speaking"]


@dataclass(frozen=True, slots=True)
class TurnConfig:
    endpoint_ms: int = 400
    """Silence after speech that ends the caller's turn."""
    complete_endpoint_ms: int = 160
    """Shorter window when the transcript is already a complete answer to what the agent asked."""
    reprompt_ms: int = 8000
    """Silence after the agent finished before the agent prompts again (an empty caller turn)."""


# --- events -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    t_ms: int


@dataclass(frozen=True, slots=True)
class Onset:
    t_ms: int


@dataclass(frozen=True, slots=True)
class Confirmed:
    t_ms: int


@dataclass(frozen=True, slots=True)
class Rejected:
    t_ms: int


@dataclass(frozen=True, slots=True)
class SpeechEnd:
    t_ms: int


@dataclass(frozen=True, slots=True)
class TranscriptIn:
    text: str
    end_ms: int
    """The speech end this transcript covers (``SpeechEnd.t_ms``)."""
    complete: bool = False
    """The dialog says the text fully answers its question: the shorter window applies."""


@dataclass(frozen=True, slots=True)
class DtmfIn:
    digit: str
    t_ms: int


@dataclass(frozen=True, slots=True)
class ReplyStarted:
    """The agent started a reply (it may be silent for a moment while audio is prepared)."""

    t_ms: int


@dataclass(frozen=True, slots=True)
class PlaybackDone:
    """The caller heard the whole reply."""

    t_ms: int


Event = Tick | Onset | Confirmed | Rejected | SpeechEnd | TranscriptIn | DtmfIn | ReplyStarted | PlaybackDone


# --- commands ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pause:
    """Stop playback now (StopAudio), keep the position: the onset may still be noise."""

    t_ms: int


@dataclass(frozen=True, slots=True)
class Resume:
    """Resume the paused reply from what the caller heard."""

    t_ms: int


@dataclass(frozen=True, slots=True)
class BargeIn:
    """The caller took the floor: cancel the reply and everything in flight for it."""

    t_ms: int


@dataclass(frozen=True, slots=True)
class EndTurn:
    """The caller's turn is over: answer ``text`` (empty text = the caller said nothing, reprompt)."""

    text: str
    end_ms: int
    """Call-clock end of the caller's speech (or of the silence, for a reprompt)."""
    endpoint_ms: int
    """Call-clock time the turn was declared over."""


@dataclass(frozen=True, slots=True)
class Digits:
    """The caller pressed keys: answer them as a turn."""

    digits: str
    t_ms: int


Command = Pause | Resume | BargeIn | EndTurn | Digits


@dataclass(slots=True)
class TurnState:
    mode: Mode = "listening"
    paused: bool = False
    """Agent playback is paused for an unconfirmed onset."""
    speech_end_ms: int | None = None
    """When the caller's last speech ended (while ``caller_paused``)."""
    transcript: str | None = None
    """Transcript of the utterance that ended at ``speech_end_ms``, once STT delivered it."""
    complete: bool = False
    """That transcript is a complete answer."""
    idle_since_ms: int = 0
    """When the floor became free (agent done); for reprompts."""


def step(state: TurnState, event: Event, config: TurnConfig) -> list[Command]:
    """Apply ``event`` to ``state`` (mutated in place) and return the commands to carry out."""
    match event:
        case Tick(t_ms=t):
            return _tick(state, t, config)
        case Onset(t_ms=t):
            if state.mode == "agent_speaking":
                state.paused = True
                return [Pause(t)]
            if state.mode in ("listening", "caller_paused"):
                # From caller_paused the pending end and transcript are kept until the onset is confirmed,
                # so that a noise onset inside the endpoint window does not lose the caller's turn.
                state.mode = "caller_speaking"
            return []
        case Confirmed(t_ms=t):
            if state.mode in ("agent_speaking", "thinking"):
                state.mode = "caller_speaking"
                state.paused = False
                _reset_turn(state)
                return [BargeIn(t)]
            if state.mode == "caller_speaking":
                # The caller resumed: the next speech end re-decodes the whole utterance.
                _reset_turn(state)
            return []
        case Rejected(t_ms=t):
            if state.mode == "agent_speaking" and state.paused:
                state.paused = False
                return [Resume(t)]
            if state.mode == "caller_speaking":
                if state.speech_end_ms is None:
                    state.mode = "listening"
                    state.idle_since_ms = t
                else:
                    state.mode = "caller_paused"
            return []
        case SpeechEnd(t_ms=t):
            if state.mode == "caller_speaking":
                state.mode = "caller_paused"
                state.speech_end_ms = t
                state.transcript = None
            return []
        case TranscriptIn(text=text, end_ms=end, complete=complete):
            if state.mode in ("caller_paused", "caller_speaking") and state.speech_end_ms == end:
                state.transcript = text.strip()
                state.complete = complete
            return []
        case DtmfIn(digit=d, t_ms=t):
            if state.mode in ("agent_speaking", "thinking"):
                commands: list[Command] = [BargeIn(t)]
            else:
                commands = []
            state.mode = "thinking"
            state.paused = False
            _reset_turn(state)
            return [*commands, Digits(d, t)]
        case ReplyStarted():
            # From listening too: the agent may speak unprompted (a failed transfer, the time limit).
            if state.mode in ("thinking", "listening"):
                state.mode = "agent_speaking"
            return []
        case PlaybackDone(t_ms=t):
            if state.mode in ("agent_speaking", "thinking"):
                state.mode = "listening"
                state.paused = False
                state.idle_since_ms = t
            return []
    raise TypeError(f"not a turn event: {event!r}")


def _tick(state: TurnState, t: int, config: TurnConfig) -> list[Command]:
    if state.mode == "caller_paused" and state.speech_end_ms is not None:
        window = config.complete_endpoint_ms if state.complete else config.endpoint_ms
        if state.transcript is not None and t - state.speech_end_ms >= window:
            text = state.transcript
            end = state.speech_end_ms
            _reset_turn(state)
            if not text:
                # Noise or a cough that STT heard as nothing: not a turn; keep listening.
                state.mode = "listening"
                state.idle_since_ms = t
                return []
            state.mode = "thinking"
            return [EndTurn(text, end, t)]
        return []
    if state.mode == "listening" and t - state.idle_since_ms >= config.reprompt_ms:
        state.mode = "thinking"
        return [EndTurn("", t, t)]
    return []


def _reset_turn(state: TurnState) -> None:
    state.speech_end_ms = None
    state.transcript = None
    state.complete = False
