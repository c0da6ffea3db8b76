"""Places one simulated call: a worker (started unless a URL is given), the caller's engines, the call."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

from media_worker.engines.base import SpeechToText, TextToSpeech
from rtagent.local.caller import SimulatedCall
from rtagent.local.report import CallReport
from rtagent.local.script import CallerScript, load_script
from rtagent.local.worker_process import WorkerProcess, call_summary


class CallerEngines:
    """The caller's own voice and ears (a second piper voice and whisper), loaded once for many calls."""

    def __init__(self) -> None:
        from media_worker.engines.piper_tts import PiperTts
        from media_worker.engines.whisper_stt import WhisperStt

        # Deterministic synthesis (no noise) so that a script sounds the same on every run.
        self.voice: TextToSpeech = PiperTts(pool_size=1, noise_scale=0.0, noise_w_scale=0.0)
        self.ears: SpeechToText = WhisperStt()

    async def start(self) -> None:
        await asyncio.gather(self.voice.start(), self.ears.start())

    async def close(self) -> None:
        await asyncio.gather(self.voice.close(), self.ears.close())


async def place_call(
    script: CallerScript,
    agent: str,
    media_url: str,
    http_base: str,
    engines: CallerEngines,
    rate: int = 16000,
    wav: Path | None = None,
    out: TextIO | None = None,
) -> CallReport:
    """One call against a running worker."""

    async def summary(call_id: str) -> dict | None:
        return await call_summary(http_base, call_id)

    call = SimulatedCall(
        f"{media_url}?agent={agent}",
        script,
        engines.voice,
        engines.ears,
        rate,
        out=out,
        fetch_summary=summary,
    )
    report = await call.run()
    if wav is not None:
        await asyncio.to_thread(call.write_wav, wav)
        report.wav = str(wav)
    return report


async def run_call(
    script: CallerScript,
    agent: str,
    url: str | None = None,
    rate: int = 16000,
    wav: Path | None = None,
    endpoint_ms: int | None = None,
    log_level: str = "warning",
    dialog: str | None = None,
    through_control_plane: bool = False,
) -> CallReport:
    """Start what is needed (worker, caller engines; with ``through_control_plane`` also the simulated
    ACS edge and the local functions host), place the call, stop everything."""
    engines = CallerEngines()
    if through_control_plane:
        from rtagent.local.stack import LocalStack

        print("starting the ACS edge, the functions, the media worker and the caller…", file=sys.stderr)
        async with LocalStack(log_level=log_level, dialog=dialog) as local:
            await engines.start()
            try:
                print(f"calling {script.called} through the control plane\n", file=sys.stderr, flush=True)
                return await local.place(script, engines, rate, wav)
            finally:
                await engines.close()
    print("starting the media worker and the caller's voice…", file=sys.stderr, flush=True)
    async with contextlib.AsyncExitStack() as stack:
        if url is None:
            extra = ["--endpoint-ms", str(endpoint_ms)] if endpoint_ms else []
            extra += ["--dialog", dialog] if dialog else []
            worker = await stack.enter_async_context(WorkerProcess(log_level=log_level, extra_args=extra))
            await engines.start()
            media_url, http_base = worker.media_url, worker.http_base
        else:
            await engines.start()
            media_url = url.split("?", 1)[0]
            http_base = "http" + media_url.removeprefix("ws").removesuffix("/ws/acs")
        stack.push_async_callback(engines.close)
        print(f"calling agent {agent!r} at {media_url}\n", file=sys.stderr, flush=True)
        return await place_call(script, agent, media_url, http_base, engines, rate, wav)
    raise AssertionError("unreachable")


async def call_each(
    paths: list[Path], dialog: str | None = None, through_control_plane: bool = False
) -> AsyncIterator[tuple[Path, CallerScript, CallReport]]:
    """One call per script, in order, over one stack started here (a media worker, and with
    ``through_control_plane`` the simulated ACS edge and the local functions too) and one set of caller
    engines: yields each script with its report as soon as the call ends. A call that could not be placed
    (refused, not routed) gives a report with ``ended_by="error"`` and the reason in ``errors``."""
    from rtagent.local.stack import LocalStack

    engines = CallerEngines()
    async with contextlib.AsyncExitStack() as stack:
        if through_control_plane:
            local = await stack.enter_async_context(LocalStack(dialog=dialog))
        else:
            extra = ["--dialog", dialog] if dialog else []
            worker = await stack.enter_async_context(WorkerProcess(extra_args=extra))
        await engines.start()
        stack.push_async_callback(engines.close)
        for path in paths:
            script = load_script(path)
            agent = script.resolved_agent()
            try:
                if through_control_plane:
                    report = await local.place(script, engines, out=io.StringIO())
                else:
                    report = await place_call(
                        script, agent, worker.media_url, worker.http_base, engines, out=io.StringIO()
                    )
            except Exception as exc:  # one call that cannot be placed does not stop the others
                report = CallReport(
                    call_id="", agent=agent, ended_by="error", duration_ms=0, errors=[f"call failed: {exc}"]
                )
            yield path, script, report
