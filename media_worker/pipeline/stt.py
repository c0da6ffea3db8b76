"""STT stage: decodes each utterance the moment the caller falls silent.

Input: ``SpeechEnded`` (with the utterance audio), and every ``AudioIn``. Output: ``Transcript(final=True)``
tagged with the speech end it covers, so the turn manager can tell a fresh result from a stale one; with a
streaming engine also ``Transcript(final=False)`` partials. Every other frame passes through.

Two kinds of engine sit behind it, and the stage hides which:
- an utterance engine (whisper) decodes the audio that comes with ``SpeechEnded``, in its own thread;
- a streaming engine (Azure AI Speech) hears the whole call: its stream is opened when the stage starts
  (before the call's first audio frame), every ``AudioIn`` is written to it here, in order, and on
  ``SpeechEnded`` the stage asks it for the text of that utterance's window.

Decoding starts at the beginning of the silence, not at the end of the endpoint window, so recognition and
endpointing overlap. If the caller resumes, a later ``SpeechEnded`` brings the longer utterance and the older
decode is abandoned. When the dialog says the plain decode misses what it asked for (``retry_hint``), an
utterance engine decodes the same audio once more with the dialog's prompt, and the second text is kept only
if it answers. A failing decode produces an empty transcript and a logged error: the call goes on (the agent
asks again). A streaming session that fails for good sends ``EngineFailed`` on, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from media_worker.engines.base import ENGINE_RATE_HZ, SpeechToText, SttResult, SttStream
from media_worker.frames import AudioIn, EndCall, EngineFailed, Frame, SpeechEnded, Transcript
from media_worker.pipeline.stage import Stage

log = logging.getLogger(__name__)

_BYTES_PER_MS = ENGINE_RATE_HZ * 2 // 1000


class SttStage(Stage):
    def __init__(self, engine: SpeechToText, retry_hint: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self._engine = engine
        self._retry_hint = retry_hint or (lambda text: None)
        self._task: asyncio.Task[None] | None = None
        self._stream: SttStream | None = None
        self._t0_ms: int | None = None
        """Call time of the first frame written to the stream (the stream's zero)."""
        self.errors: list[str] = []

    def start(self) -> None:
        """Open the engine's stream, if it has one, so it is listening before the first frame arrives."""
        stream = self._engine.open_stream(ENGINE_RATE_HZ)
        if stream is None:
            return
        stream.on_partial = self._partial
        stream.on_failure = self._failed
        stream.start()
        self._stream = stream

    def process(self, frame: Frame) -> None:
        if isinstance(frame, AudioIn):
            if self._stream is not None:
                if self._t0_ms is None:
                    self._t0_ms = frame.t_ms
                self._stream.write(frame.pcm)
            self.push(frame)
            return
        if isinstance(frame, SpeechEnded):
            self.push(frame)
            if self._task is not None and not self._task.done():
                self._task.cancel()
            self._task = asyncio.get_running_loop().create_task(self._decode(frame))
            return
        if isinstance(frame, EndCall) and self._task is not None:
            self._task.cancel()
        self.push(frame)

    def _partial(self, text: str, end_ms: int) -> None:
        self.push(Transcript(text, False, end_ms + (self._t0_ms or 0)))

    def _failed(self, reason: str) -> None:
        self.errors.append(f"stt: {reason}")
        self.push(EngineFailed("stt", reason))

    async def _recognize(self, ended: SpeechEnded) -> SttResult:
        if self._stream is not None:
            end = ended.t_ms - (self._t0_ms or 0)
            return await self._stream.transcript(end - len(ended.utterance) // _BYTES_PER_MS, end)
        result = await self._engine.transcribe(ended.utterance)
        hint = self._retry_hint(result.text)
        if hint is not None:
            # The dialog expected something the plain decode missed: one more pass, biased toward it.
            second = await self._engine.transcribe(ended.utterance, hint)
            if second.text and self._retry_hint(second.text) is None:
                return SttResult(second.text, result.decode_ms + second.decode_ms)
            return SttResult(result.text, result.decode_ms + second.decode_ms)
        return result

    async def _decode(self, ended: SpeechEnded) -> None:
        try:
            result = await self._recognize(ended)
            text, decode_ms = result.text, result.decode_ms
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the call must survive an engine failure
            log.error("speech recognition failed: %s", exc)
            self.errors.append(f"stt: {exc}")
            text, decode_ms = "", 0.0
        self.push(Transcript(text, True, ended.t_ms, decode_ms))

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._stream is not None:
            await self._stream.close()
