"""Runs a media worker as a child process for local calls and benchmarks, and reads its call summaries.

The simulator talks to the worker only as ACS would (the media WebSocket) plus the worker's own HTTP status
endpoint; running it in its own process keeps the two sides' CPU and event loops apart, as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT_S = 120
READY_PREFIX = "media WebSocket: "


class WorkerProcess:
    """``async with WorkerProcess(...) as worker:`` gives ``worker.media_url`` and ``worker.http_base``."""

    def __init__(
        self,
        engines: str = "local",
        agents_dir: Path | None = None,
        log_level: str = "warning",
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.args = [sys.executable, "-m", "rtagent", "serve", "--port", "0", "--log-level", log_level]
        self.args += ["--engines", engines]
        if agents_dir is not None:
            self.args += ["--agents-dir", str(agents_dir)]
        self.args += extra_args or []
        self.env = env or {}
        self.proc: asyncio.subprocess.Process | None = None
        self.media_url = ""
        self.http_base = ""

    async def __aenter__(self) -> WorkerProcess:
        # A local run stops its worker when its calls are done: a short drain, not production's minutes.
        env = dict(os.environ, PYTHONUNBUFFERED="1", RTAGENT_DRAIN_S="3", **self.env)
        self.proc = await asyncio.create_subprocess_exec(*self.args, stdout=asyncio.subprocess.PIPE, env=env)
        assert self.proc.stdout is not None
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            while True:
                line = (await self.proc.stdout.readline()).decode()
                if not line:
                    code = await self.proc.wait()
                    raise RuntimeError(f"the media worker exited during start-up (exit code {code})")
                if line.startswith(READY_PREFIX):
                    url = line.removeprefix(READY_PREFIX).strip()
                    self.media_url = url.split("?", 1)[0]
                    self.http_base = "http" + self.media_url.removeprefix("ws").removesuffix("/ws/acs")
                    break
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def get(self, path: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(get_json, self.http_base + path)

    async def call_summary(self, call_id: str, wait_s: float = 10.0) -> dict[str, Any] | None:
        """The worker's summary of a call, once the worker has finished it."""
        return await call_summary(self.http_base, call_id, wait_s)


async def call_summary(http_base: str, call_id: str, wait_s: float = 10.0) -> dict[str, Any] | None:
    summary = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while loop.time() < deadline:
        summary = await asyncio.to_thread(get_json, f"{http_base}/calls/{call_id}")
        if summary is not None and summary.get("state") == "ended":
            break
        await asyncio.sleep(0.1)
    return summary


def get_json(url: str) -> dict[str, Any] | None:
    with contextlib.suppress(urllib.error.URLError, TimeoutError, ValueError):
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    return None
