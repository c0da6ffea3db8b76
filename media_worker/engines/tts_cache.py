"""A phrase cache in front of any ``TextToSpeech``: fixed prompts (greetings, confirmations) play at once.

Only the complete PCM of a phrase is cached, keyed by (text, sample rate, voice), in an LRU bounded by bytes.
Phrases get in by ``prepare()`` (warmed in the background) or, with ``cache_all=True``, by being synthesized
completely once. Everything else streams straight through from the inner engine.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable

from .base import TextToSpeech, Voice
from .resample import chunk_bytes, chunk_bytes_for

__all__ = ["CachedTts"]

_LOG = logging.getLogger(__name__)

_Key = tuple[str, int, Voice]


class CachedTts(TextToSpeech):
    """Wraps ``inner`` with a bytes-bounded LRU of complete phrases.

    Constructor:
        ``inner``: the engine to wrap (its ``start``/``close`` are forwarded).
        ``max_bytes``: cache budget (default 32 MiB: ~17 min of 16 kHz audio); least recently used phrases
        are evicted past it, and a phrase larger than the budget is never stored.
        ``chunk_ms``: chunk size for cache hits (match the inner engine's, default 160 ms).
        ``cache_all``: also store every phrase the inner engine synthesizes completely (an abandoned
        synthesis is never stored).

    Keys are ``(text, sample_rate_hz, voice)`` with ``voice`` defaulting to ``Voice()``: the same words at
    another rate or in another voice are another entry. ``hits`` / ``misses`` count lookups.
    """

    def __init__(
        self,
        inner: TextToSpeech,
        *,
        max_bytes: int = 32 * 1024 * 1024,
        chunk_ms: int = 160,
        cache_all: bool = False,
    ) -> None:
        self.inner = inner
        self.name = f"cached-{inner.name}"
        self.voice_key = inner.voice_key
        self.max_bytes = max_bytes
        self.chunk_ms = chunk_ms
        self.cache_all = cache_all
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[_Key, bytes] = OrderedDict()
        self._bytes = 0
        self._pending: dict[_Key, asyncio.Future[bytes | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    @staticmethod
    def key(text: str, sample_rate_hz: int, voice: Voice | None = None) -> _Key:
        return (text, sample_rate_hz, voice or Voice())

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        """Cancel background warming, then close the inner engine."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.inner.close()

    # -- cache -----------------------------------------------------------------------------------------

    def _store(self, key: _Key, pcm: bytes) -> None:
        if len(pcm) > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        self._entries[key] = pcm
        self._bytes += len(pcm)
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted)

    def _lookup(self, key: _Key) -> bytes | None:
        pcm = self._entries.get(key)
        if pcm is not None:
            self._entries.move_to_end(key)
        return pcm

    async def _synthesize_all(self, key: _Key) -> bytes:
        text, rate, voice = key
        parts = [chunk async for chunk in self.inner.synthesize(text, rate, voice)]
        return b"".join(parts)

    # -- public API ------------------------------------------------------------------------------------

    def has(self, phrases: Iterable[str], sample_rate_hz: int, voice: Voice | None = None) -> bool:
        """True if every one of ``phrases`` is cached (and there is at least one)."""
        keys = [self.key(p, sample_rate_hz, voice) for p in phrases]
        return bool(keys) and all(k in self._entries for k in keys)

    def prepare(
        self, phrases: Iterable[str], sample_rate_hz: int, voice: Voice | None = None
    ) -> asyncio.Task[None]:
        """Warm the cache with ``phrases`` in a background task (one phrase at a time, in order).

        Returns the task: await it to know the phrases are ready, or ignore it. Phrases already cached or
        being warmed are skipped; a phrase whose synthesis fails is logged and skipped. ``close()`` cancels
        it.
        """
        keys = [self.key(p, sample_rate_hz, voice) for p in phrases]
        task = asyncio.create_task(self._warm(keys), name="tts-cache-prepare")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _warm(self, keys: list[_Key]) -> None:
        loop = asyncio.get_running_loop()
        for key in keys:
            if key in self._entries or key in self._pending:
                continue
            fut: asyncio.Future[bytes | None] = loop.create_future()
            self._pending[key] = fut
            pcm: bytes | None = None
            try:
                pcm = await self._synthesize_all(key)
                self._store(key, pcm)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _LOG.warning("tts cache: cannot prepare %r: %s", key[0][:60], exc)
            finally:
                self._pending.pop(key, None)
                if not fut.done():
                    fut.set_result(pcm)

    async def synthesize(
        self, text: str, sample_rate_hz: int, voice: Voice | None = None
    ) -> AsyncIterator[bytes]:
        """Yield PCM16 mono chunks of ``text`` at ``sample_rate_hz``.

        Hit: the cached phrase is yielded at once in ``chunk_ms`` chunks, without touching the inner engine.
        A phrase ``prepare`` is synthesizing right now is awaited rather than synthesized twice. Miss: the
        inner engine's chunks stream through unchanged (stored at the end only with ``cache_all``).
        Cancellation / ``aclose()``: closes the inner generator, which handles its own cleanup; a pending
        ``prepare`` is not affected.
        """
        key = self.key(text, sample_rate_hz, voice)
        pcm = self._lookup(key)
        if pcm is None and key in self._pending:
            pcm = await asyncio.shield(self._pending[key])
        if pcm is not None:
            self.hits += 1
            for chunk in chunk_bytes(pcm, chunk_bytes_for(sample_rate_hz, self.chunk_ms)):
                yield chunk
            return
        self.misses += 1
        parts: list[bytes] | None = [] if self.cache_all else None
        agen = self.inner.synthesize(text, sample_rate_hz, voice)
        try:
            async for chunk in agen:
                if parts is not None:
                    parts.append(chunk)
                yield chunk
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                await aclose()
        if parts is not None:
            self._store(key, b"".join(parts))
