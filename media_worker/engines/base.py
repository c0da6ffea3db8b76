"""The small interfaces every speech engine implements, local or Azure.

Stages depend only on these. An engine module implements one of them for one engine and nothing else.
Audio crossing these interfaces is PCM16 little-endian mono.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

ENGINE_RATE_HZ = 16000
"""Rate at which VAD and STT engines take caller audio (the pipeline resamples 24 kHz calls once)."""

FRAME_MS = 20
FRAME_SAMPLES = ENGINE_RATE_HZ * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2


class VadStream(ABC):
    """Per-call voice activity state: feed 20 ms frames at 16 kHz in order.

    Cheap enough to call inline on the event loop for every frame (microseconds), never blocks.
    """

    @abstractmethod
    def speech_probability(self, frame: bytes) -> float:
        """Return the probability (0..1) that this frame is speech, given all frames before it."""

    @abstractmethod
    def reset(self) -> None:
        """Forget the state (start of a new call segment)."""


class VoiceActivityDetector(ABC):
    """Factory of per-call ``VadStream`` objects; loads its model once per process."""

    name: str = "vad"

    @abstractmethod
    def stream(self) -> VadStream:
        """A fresh per-call detector."""


@dataclass(slots=True)
class SttResult:
    text: str
    decode_ms: float
    """Wall time of the decode (ms)."""


class SttStream(ABC):
    """One call's continuous recognizer (engines that listen to the whole call, not to utterances).

    Audio goes in with ``write``, in call order, from one place (the STT stage); recognized phrases come back
    on the event loop. ``transcript`` answers for one utterance the VAD found: the text of the phrases
    inside it, once the recognizer has settled on them. A failed session calls ``on_failure`` once, and
    ``transcript`` then raises ``EngineError``.
    """

    on_partial: Callable[[str, int], None] | None = None
    """Called on the event loop with (text so far, its end in stream ms) while a phrase is recognized."""
    on_failure: Callable[[str], None] | None = None
    """Called once on the event loop with a readable reason when the recognition session fails."""

    @abstractmethod
    def start(self) -> None:
        """Start recognizing (returns at once; audio written before the connection is up is kept)."""

    @abstractmethod
    def write(self, pcm: bytes) -> None:
        """Append caller audio (PCM16 at the stream's rate). Never blocks."""

    @abstractmethod
    async def transcript(self, start_ms: int, end_ms: int) -> SttResult:
        """The text spoken between ``start_ms`` and ``end_ms`` (ms of audio written), when settled."""

    @abstractmethod
    async def close(self) -> None:
        """End the audio and stop recognizing."""


class SpeechToText(ABC):
    """Turns one caller utterance into text.

    ``transcribe`` must not block the event loop: CPU-bound engines run in a worker thread.
    Raises ``EngineError`` when the engine fails; the caller stage keeps the call alive.
    Engines that recognize a continuous stream (Azure AI Speech) also return one from ``open_stream``.
    """

    name: str = "stt"

    @abstractmethod
    async def transcribe(self, pcm: bytes, prompt: str | None = None) -> SttResult:
        """Transcribe ``pcm`` (16 kHz). ``prompt`` may bias the recognizer toward expected words."""

    def open_stream(self, sample_rate_hz: int) -> SttStream | None:
        """A continuous recognizer for one call, or None for an engine that decodes utterances."""
        return None

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Load models / open connections before the first call (optional)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (optional)."""


@dataclass(frozen=True, slots=True)
class Voice:
    """Which voice to speak with; engines ignore what they do not support."""

    name: str = "default"
    rate: float = 1.0
    """Speaking rate multiplier (1.0 = the voice's natural pace)."""
    pitch: float = 1.0
    """Pitch multiplier (1.0 = natural)."""
    style: str | None = None
    """A speaking style, for engines that have them (Azure neural voices: ``customerservice``, ...)."""


class TextToSpeech(ABC):
    """Turns text into PCM16 audio chunks at the requested rate.

    ``synthesize`` is an async generator: the first chunk is yielded as soon as the engine has it. Closing the
    generator (or cancelling the task iterating it) abandons the synthesis; engines must tolerate that at any
    point. Heavy work runs outside the event loop (a thread or a child process).
    """

    name: str = "tts"
    voice_key: str = ""
    """Which entry of an agent's ``voice:`` map this engine takes (``piper``, ``azure``)."""

    @abstractmethod
    def synthesize(self, text: str, sample_rate_hz: int, voice: Voice | None = None) -> AsyncIterator[bytes]:
        """Yield PCM16 mono chunks of ``text`` spoken at ``sample_rate_hz``."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Start child processes / load models before the first call (optional)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop child processes (optional)."""


class EngineError(RuntimeError):
    """An engine failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
