"""Stopping the media worker: draining (no new calls, live ones finish), then 1001 for what is left.

In-process with the fake engines over real WebSockets on loopback, then once through a real ``rtagent serve``
process stopped with SIGTERM.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from media_worker.server import ENDED_BY_SHUTDOWN, MediaServer, serve_forever
from tests.fakes import FakeRuntime, speech_frame

META = json.dumps(
    {"kind": "AudioMetadata", "audioMetadata": {"encoding": "PCM", "sampleRate": 16000, "channels": 1}}
)
GOODBYE_LEVEL = 4000  # the fake STT hears "goodbye": the echo agent says goodbye and hangs up
RTAGENT = Path(sys.executable).parent / "rtagent"


def audio(level: int = 0) -> str:
    pcm = speech_frame(level) if level else bytes(640)
    data = base64.b64encode(pcm).decode()
    return json.dumps({"kind": "AudioData", "audioData": {"data": data, "silent": not level}})


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


class Caller:
    """One call over a real WebSocket: 20 ms of caller audio every 20 ms, everything received kept."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self.level = 0
        self._audio = asyncio.Event()
        self._tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._receive())]

    async def _send(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(META)
            while True:
                await self.ws.send(audio(self.level))
                await asyncio.sleep(0.02)

    async def _receive(self) -> None:
        async for message in self.ws:  # ends when the worker closes the call (1000 or 1001)
            self.received.append(json.loads(message))
            if self.received[-1].get("Kind") == "AudioData":
                self._audio.set()

    async def heard_audio(self, timeout_s: float = 5.0) -> None:
        await asyncio.wait_for(self._audio.wait(), timeout_s)

    async def say(self, level: int, ms: int) -> None:
        self.level = level
        await asyncio.sleep(ms / 1000)
        self.level = 0

    async def ended(self, timeout_s: float = 10.0) -> int | None:
        """Wait until the worker has closed the call; its close code."""
        await asyncio.wait_for(self._tasks[1], timeout_s)
        self._tasks[0].cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return self.ws.close_code


def media_url(stdout: str) -> str:
    """The worker's media WebSocket from its start-up line ``media WebSocket: ws://HOST:PORT/ws/acs?...``."""
    line = next(x for x in stdout.splitlines() if x.startswith("media WebSocket: "))
    return line.removeprefix("media WebSocket: ").strip().split("?", 1)[0]


async def started() -> MediaServer:
    server = MediaServer(FakeRuntime(), port=0)  # type: ignore[arg-type]
    await server.start()
    return server


async def refused_status(url: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url):
            pass
    return refused.value.response.status_code


async def test_a_draining_worker_refuses_new_calls_and_lets_the_live_one_finish():
    server = await started()
    http_base = f"http://127.0.0.1:{server.port}"
    try:
        async with connect(f"{server.url}?agent=echo&call=live-1") as ws:
            caller = Caller(ws)
            await caller.heard_audio()  # the greeting plays
            server.begin_drain()

            status, ready = await asyncio.to_thread(get, f"{http_base}/readyz")
            assert (status, ready["ready"], ready["draining"]) == (503, False, True)
            status, health = await asyncio.to_thread(get, f"{http_base}/healthz")
            assert (status, health["calls"]) == (200, 1), "alive, and still serving its call"
            assert await refused_status(f"{server.url}?agent=echo&call=new-1") == 503
            assert "new-1" not in server.sessions

            await caller.say(GOODBYE_LEVEL, 600)  # the live call goes on: it is heard and answered
            assert await server.drain(timeout_s=10) is True
            assert await caller.ended() == 1000
        assert server.sessions == {}
        assert server.finished["live-1"]["ended_by"] == "agent_hangup"
        assert "Goodbye." in server.runtime.tts.spoken  # type: ignore[attr-defined]
    finally:
        await server.close()


async def test_a_call_that_outlasts_the_drain_is_closed_with_going_away():
    server = await started()
    try:
        async with connect(f"{server.url}?agent=echo&call=long-1") as ws:
            caller = Caller(ws)
            await caller.heard_audio()
            assert await server.drain(timeout_s=0.3) is False
            assert list(server.sessions) == ["long-1"], "the call is still live after the drain"
            await server.close()
            assert await caller.ended() == 1001
        assert server.finished["long-1"]["ended_by"] == ENDED_BY_SHUTDOWN
    finally:
        await server.close()


async def test_a_cut_ends_the_drain_wait_at_once():
    server = await started()
    try:
        async with connect(f"{server.url}?agent=echo&call=cut-1") as ws:
            caller = Caller(ws)
            await caller.heard_audio()
            cut = asyncio.Event()
            asyncio.get_running_loop().call_later(0.1, cut.set)
            assert await asyncio.wait_for(server.drain(timeout_s=60, cut=cut), 5) is False
            await server.close()
            assert await caller.ended() == 1001
    finally:
        await server.close()


async def test_a_worker_without_calls_drains_at_once():
    server = await started()
    try:
        assert await asyncio.wait_for(server.drain(timeout_s=60), 1) is True
        assert server.draining
    finally:
        await server.close()


async def test_sigterm_drains_then_closes_the_calls_left_and_serve_forever_returns(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
):
    caplog.set_level(logging.INFO, logger="media_worker.server")
    runtime = FakeRuntime()
    ready = asyncio.Event()
    worker = asyncio.create_task(serve_forever(runtime, "127.0.0.1", 0, ready, drain_s=0.3))  # type: ignore[arg-type]
    await asyncio.wait_for(ready.wait(), 5)
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "serve_forever handles SIGTERM"
    url = media_url(capsys.readouterr().out)
    async with connect(f"{url}?agent=echo&call=sig-1") as ws:
        caller = Caller(ws)
        await caller.heard_audio()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(worker, 10)  # returns (no exception): the process would exit 0
        assert await caller.ended() == 1001
    messages = [r.getMessage() for r in caplog.records]
    for expected in (
        "SIGTERM",
        "draining",
        "drain timed out",
        "closing the live calls (1)",
        "media worker stopped",
    ):
        assert any(expected in m for m in messages), expected
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "the handler is removed on the way out"


# --- a real process -----------------------------------------------------------------------------------------


async def test_rtagent_serve_drains_on_sigterm_and_exits_0():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTAGENT_") or k == "RTAGENT_DATA_DIR"}
    proc = await asyncio.create_subprocess_exec(
        str(RTAGENT),
        *("serve", "--engines", "simulated", "--port", "0"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env | {"PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr = asyncio.create_task(proc.stderr.read())  # read all along: a full pipe would block the worker
    try:
        async with asyncio.timeout(60):
            line = ""
            while not line.startswith("media WebSocket: "):
                line = (await proc.stdout.readline()).decode()
                assert line, "the worker exited during start-up"
        url = media_url(line)
        http_base = "http" + url.removeprefix("ws").removesuffix("/ws/acs")

        async with connect(f"{url}?agent=fnol&call=proc-1") as ws:
            caller = Caller(ws)
            await caller.heard_audio(timeout_s=10)
            proc.send_signal(signal.SIGTERM)
            for _ in range(100):  # the signal is handled a moment later
                if (await asyncio.to_thread(get, f"{http_base}/readyz"))[0] == 503:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("/readyz never said 503 after SIGTERM")
            assert (await asyncio.to_thread(get, f"{http_base}/healthz"))[0] == 200
            assert await refused_status(f"{url}?agent=fnol&call=proc-2") == 503
            assert proc.returncode is None, "the live call keeps the worker up"
        # The caller hung up: the last live call is over, so the drain is done and the worker exits.
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        log = (await stderr).decode()
        for expected in ("SIGTERM", "draining: new calls are refused (live calls: 1)", "drained", "stopped"):
            assert expected in log, expected
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        stderr.cancel()
