"""STT stage: decodes each utterance the moment the caller falls silent.

Input: ``SpeechEnded`` (with the utterance audio). Output: ``Transcript(final=True)`` tagged with the speech
end it covers, so the turn manager can tell a fresh result from a stale one. Every other frame passes through.

Decoding starts at the beginning of the silence, not at the end of the endpoint window, so recognition and
endpointing overlap. If the caller resumes, a later ``SpeechEnded`` brings the longer utterance and the older
decode is abandoned. The decode runs in the engine's thread; this stage only awaits it in one task at a time.
When the dialog says the plain decode misses what it asked for (``retry_hint``), the same audio is decoded
once more with the dialog's prompt, and the second text is kept only if it answers. A failing engine
produces an empty transcript and a logged error: the call goes on (the agent asks again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from media_worker.engines.base import SpeechToText
from media_worker.frames import EndCall, Frame, SpeechEnded, Transcript
from media_worker.pipeline.stage import Stage

log = logging.getLogger(__name__)


class SttStage(Stage):
    def __init__(self, engine: SpeechToText, retry_hint: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self._engine = engine
        self._retry_hint = retry_hint or (lambda text: None)
        self._task: asyncio.Task[None] | None = None
        self.errors: list[str] = []

    def process(self, frame: Frame) -> None:
        if isinstance(frame, SpeechEnded):
            self.push(frame)
            if self._task is not None and not self._task.done():
                self._task.cancel()
            self._task = asyncio.get_running_loop().create_task(self._decode(frame))
            return
        if isinstance(frame, EndCall) and self._task is not None:
            self._task.cancel()
        self.push(frame)

    async def _decode(self, ended: SpeechEnded) -> None:
        try:
            result = await self._engine.transcribe(ended.utterance)
            text, decode_ms = result.text, result.decode_ms
            hint = self._retry_hint(text)
            if hint is not None:
                # The dialog expected something the plain decode missed: one more pass, biased toward it.
                second = await self._engine.transcribe(ended.utterance, hint)
                decode_ms += second.decode_ms
                if second.text and self._retry_hint(second.text) is None:
                    text = second.text
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
