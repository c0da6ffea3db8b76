"""espeak-ng text-to-speech through its command line (GPL-3.0, so it only ever runs as a child process).

Each request runs ``espeak-ng --stdout --stdin -b 1 ...`` with the text on stdin and reads a WAV (22.05 kHz,
PCM16) from stdout as it is produced; the samples are resampled with soxr and yielded in fixed-size chunks.
Robotic but very fast (first audio ~10-40 ms): a fallback voice and a test-fixture generator. Needs the
Debian package ``espeak-ng`` (``apt-get install espeak-ng``).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator

from .base import EngineError, TextToSpeech, Voice
from .resample import PcmChunker, StreamResampler, chunk_bytes_for, parse_wav_header

__all__ = ["EspeakTts"]

_READ_BYTES = 8192


class EspeakTts(TextToSpeech):
    """espeak-ng, one child process per request.

    Constructor:
        ``voice``: espeak voice used when ``Voice.name`` is "default" (default "en-us"); any other
        ``Voice.name`` is passed to ``-v`` as is (e.g. "en-us+f3").
        ``words_per_minute``: speed at ``Voice.rate`` 1.0 (espeak's default 175); ``-s`` = wpm * rate.
        ``chunk_ms``: size of the yielded chunks (last one shorter).
        ``executable``: the espeak-ng binary (looked up on PATH).

    ``Voice.pitch`` maps to espeak's own pitch (``-p`` = 50 * pitch, clamped to 0..99), which, unlike
    piper's resampling, does not change the speed.
    """

    name = "espeak"
    voice_key = "espeak"

    def __init__(
        self,
        *,
        voice: str = "en-us",
        words_per_minute: int = 175,
        chunk_ms: int = 160,
        executable: str = "espeak-ng",
    ) -> None:
        self.default_voice = voice
        self.words_per_minute = words_per_minute
        self.chunk_ms = chunk_ms
        self.executable = executable
        self._path: str | None = None

    async def start(self) -> None:
        """Check that espeak-ng is installed and runs; if not, ``EngineError`` tells how to install it."""
        path = shutil.which(self.executable)
        if path is None:
            raise EngineError(
                f"{self.executable} is not installed: install it with `apt-get install espeak-ng` "
                "(Debian/Ubuntu) to use the espeak TTS engine"
            )
        proc = await asyncio.create_subprocess_exec(
            path, "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _out, err = await proc.communicate()
        if proc.returncode != 0:
            raise EngineError(f"{path} --version failed: {err.decode(errors='replace').strip()}")
        self._path = path

    def _args(self, voice: Voice) -> list[str]:
        assert self._path is not None
        name = self.default_voice if voice.name in ("", "default") else voice.name
        wpm = round(self.words_per_minute * min(3.0, max(0.3, voice.rate or 1.0)))
        pitch = round(min(99.0, max(0.0, 50.0 * (voice.pitch or 1.0))))
        return [self._path, "--stdout", "--stdin", "-b", "1", "-v", name, "-s", str(wpm), "-p", str(pitch)]

    async def synthesize(
        self, text: str, sample_rate_hz: int, voice: Voice | None = None
    ) -> AsyncIterator[bytes]:
        """Yield PCM16 mono chunks of ``text`` at ``sample_rate_hz`` while espeak-ng produces them.

        Text without a letter or digit yields nothing. Runs espeak-ng as a child process (nothing blocks the
        event loop). Cancellation / ``aclose()``: the child is killed and reaped. Raises ``EngineError`` if
        espeak-ng fails or is missing.
        """
        if not any(ch.isalnum() for ch in text):
            return
        if self._path is None:
            await self.start()
        line = " ".join(text.split())
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._args(voice or Voice()),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise EngineError(f"cannot run espeak-ng: {exc}") from exc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stderr_task = asyncio.create_task(proc.stderr.read())
        try:
            proc.stdin.write(line.encode("utf-8"))
            with contextlib.suppress(OSError):
                await proc.stdin.drain()
            proc.stdin.close()
            chunker = PcmChunker(chunk_bytes_for(sample_rate_hz, self.chunk_ms))
            header = b""
            resampler: StreamResampler | None = None
            while True:
                data = await proc.stdout.read(_READ_BYTES)
                if resampler is None:
                    header += data
                    try:
                        fmt = parse_wav_header(header)
                    except ValueError as exc:
                        raise EngineError(f"espeak-ng wrote no WAV: {exc}") from exc
                    if fmt is None:
                        if not data:
                            break
                        continue
                    if fmt.channels != 1:
                        raise EngineError(f"espeak-ng wrote {fmt.channels} channels")
                    resampler = StreamResampler(fmt.rate_hz, sample_rate_hz)
                    data = header[fmt.data_offset :]
                    header = b""
                last = not data
                for chunk in chunker.push(resampler.process(data, last=last)):
                    yield chunk
                if last:
                    break
            tail = chunker.flush()
            rc = await proc.wait()
            err = await stderr_task
            if rc != 0:
                raise EngineError(f"espeak-ng exited with {rc}: {err.decode(errors='replace').strip()[:300]}")
            if resampler is None:
                raise EngineError("espeak-ng wrote no audio")
            if tail:
                yield tail
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proc.wait(), 2)
            if not stderr_task.done():
                stderr_task.cancel()
