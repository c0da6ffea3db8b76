"""Typed frames that flow between the stages of one call's pipeline.

Every frame belongs to one of three families, and the family decides how barge-in treats it:

- ``SystemFrame``: urgent control that jumps ahead and survives an interruption (``Interrupt``, ``EndCall``).
- ``DataFrame``: ordered content (audio, text); frames still queued when the caller barges in are dropped.
- ``ControlFrame``: ordered markers (turn boundaries); dropped on interruption like data.

Times are call-clock milliseconds (``t_ms``): inbound ACS frames counted × 20 ms, so every latency in the
pipeline is measured on the caller's own audio timeline, never with scattered wall clocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Frame:
    """Base of every pipeline frame."""

    __slots__ = ()


class SystemFrame(Frame):
    """Urgent: never dropped by an interruption."""

    __slots__ = ()


class DataFrame(Frame):
    """Ordered content: dropped from queues on interruption."""

    __slots__ = ()


class ControlFrame(Frame):
    """Ordered marker: dropped from queues on interruption."""

    __slots__ = ()


# --- caller side -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class AudioIn(DataFrame):
    """20 ms of caller audio, PCM16 mono at the pipeline's engine rate (16 kHz); silence is zeros."""

    pcm: bytes
    t_ms: int
    """Call-clock time of the frame's start."""


@dataclass(slots=True)
class SpeechStarted(SystemFrame):
    """The VAD heard the caller start speaking (onset, before confirmation)."""

    t_ms: int
    """Call-clock time of the first speech frame."""


@dataclass(slots=True)
class SpeechConfirmed(SystemFrame):
    """The onset was confirmed as speech (not noise or echo)."""

    t_ms: int


@dataclass(slots=True)
class SpeechRejected(SystemFrame):
    """The onset was not confirmed: it was noise; whatever paused for it may resume."""

    t_ms: int


@dataclass(slots=True)
class SpeechEnded(SystemFrame):
    """The caller stopped speaking: ``t_ms`` is the end of the last speech frame (silence began)."""

    t_ms: int
    utterance: bytes = b""
    """The caller's audio since the onset, with a little pre-roll, ready for a batch recognizer."""


@dataclass(slots=True)
class Transcript(DataFrame):
    """What the caller said, from STT."""

    text: str
    final: bool
    end_ms: int
    """Call-clock end of the speech this covers (matches ``SpeechEnded.t_ms``)."""
    decode_ms: float = 0.0
    """Wall time the recognizer took, for the per-hop figures."""


@dataclass(slots=True)
class Dtmf(DataFrame):
    """A keypad tone the caller pressed."""

    digit: str
    t_ms: int


@dataclass(slots=True)
class UserTurn(ControlFrame):
    """The caller's turn is over: the agent should answer ``text``."""

    text: str
    end_ms: int
    """Call-clock end of the caller's speech."""
    endpoint_ms: int
    """Call-clock time at which the turn manager declared the end of the turn."""
    stt_ms: float = 0.0
    """Wall time the recognizer took on the transcript that ended the turn."""


# --- agent side --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class AgentText(DataFrame):
    """A clause of the agent's reply, ready to be spoken."""

    text: str
    turn_id: int
    last: bool = False
    """True on the final clause of the reply."""


@dataclass(slots=True)
class AgentAudio(DataFrame):
    """Synthesized agent audio for (part of) one clause, PCM16 mono at the call's rate."""

    pcm: bytes
    text: str
    """The clause this audio speaks (shared by every chunk of that clause)."""
    turn_id: int
    clause_end: bool = False
    """True on the last chunk of the clause."""
    last: bool = False
    """True on the last chunk of the reply."""


@dataclass(slots=True)
class Interrupt(SystemFrame):
    """The caller barged in (or the agent dropped a reply for another): stop talking, drop queued audio."""

    t_ms: int
    """Call time of the barge-in; ``SUPERSEDED`` when the agent itself abandoned the reply."""


SUPERSEDED = -1


@dataclass(slots=True)
class Escalate(SystemFrame):
    """The agent decided to hand the call to a human."""

    reason: str
    record: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class EngineFailed(SystemFrame):
    """An engine failed for the rest of this call (a speech recognition session was cancelled)."""

    engine: str
    """``stt`` or ``tts``."""
    reason: str


@dataclass(slots=True)
class EndCall(SystemFrame):
    """The call is over (the agent hung up, the caller left, or the worker is stopping)."""

    reason: str


# --- playback control (turn manager → pacer) and playback reports (pacer → upstream) ---------------------


@dataclass(slots=True)
class PausePlayback(SystemFrame):
    """Possible barge-in: stop sending now and flush what ACS has queued (StopAudio), keep the position."""

    t_ms: int


@dataclass(slots=True)
class ResumePlayback(SystemFrame):
    """The onset was noise: resume the reply from what the caller actually heard."""

    t_ms: int


@dataclass(slots=True)
class PlaybackStarted(SystemFrame):
    """Upstream: the first audio of a reply went out to ACS."""

    turn_id: int
    t_ms: int


@dataclass(slots=True)
class PlaybackFinished(SystemFrame):
    """Upstream: the caller has heard the whole reply (last frame played out)."""

    turn_id: int
    t_ms: int


@dataclass(slots=True)
class PlaybackStopped(SystemFrame):
    """Upstream: a reply was cut by barge-in; ``heard`` is the text the caller actually heard."""

    turn_id: int
    t_ms: int
    heard: str


@dataclass(slots=True)
class AudioStopped(SystemFrame):
    """Upstream: StopAudio went out while reply ``turn_id`` played, because of the caller event at
    ``cause_ms`` (a speech onset, a confirmed barge-in, a key press; ``SUPERSEDED`` when the agent dropped its
    own reply). The session measures a barge-in's stop latency from it."""

    turn_id: int
    t_ms: int
    cause_ms: int


@dataclass(slots=True)
class UtteranceDone(SystemFrame):
    """Upstream: the caller's audio up to ``t_ms`` was consumed by a turn (or was noise); start afresh."""

    t_ms: int
