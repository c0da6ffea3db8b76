"""The small interfaces every speech engine implements, local or Azure.

Stages depend only on these. An engine module implements one of them for one engine and nothing else.
Audio crossing these interfaces is PCM16 little-endian mono.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
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


class SpeechToText(ABC):
    """Turns one caller utterance into text.

    ``transcribe`` must not block the event loop: CPU-bound engines run in a worker thread.
    Raises ``EngineError`` when the engine fails; the caller stage keeps the call alive.
    """

    name: str = "stt"

    @abstractmethod
    async def transcribe(self, pcm: bytes, prompt: str | None = None) -> SttResult:
        """Transcribe ``pcm`` (16 kHz). ``prompt`` may bias the recognizer toward expected words."""

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


class TextToSpeech(ABC):
    """Turns text into PCM16 audio chunks at the requested rate.

    ``synthesize`` is an async generator: the first chunk is yielded as soon as the engine has it. Closing the
    generator (or cancelling the task iterating it) abandons the synthesis; engines must tolerate that at any
    point. Heavy work runs outside the event loop (a thread or a child process).
    """

    name: str = "tts"

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
