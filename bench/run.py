"""``rtagent bench``: the figures an operator asks for first, as one JSON object on stdout.

1. Latency and barge-in: the fixed caller scripts in ``tests/scenarios`` run through the simulator
   against a worker with the offline engines, with phone-band caller audio. Per caller turn: end of caller
   speech → first agent audio; per barge-in: caller speech onset → StopAudio; per-hop figures from the worker.
2. Concurrency: one worker process with remote-style simulated STT/TTS (the CPU of a cloud engine is not the
   worker's), loaded with real-time calls in steps until the worker's outbound tick falls behind by more than
   20 ms at p99; CPU and memory per call at the last step that held.

Progress goes to stderr. Benchmarks are not tests: nothing here asserts a threshold.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from rtagent.local.report import CallReport, summarize
from rtagent.local.run import call_each
from rtagent.local.worker_process import WorkerProcess

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "tests" / "scenarios"
HOPS = ("endpointing", "stt", "agent_first_token", "tts_first_audio")
LATE_LIMIT_MS = 20.0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def run_bench(quick: bool = False, concurrency: bool = True, max_calls: int = 160) -> dict[str, Any]:
    result: dict[str, Any] = {}
    reports = await _latency_runs(repeats=1 if quick else 2)
    result.update(_latency_figures(reports))
    if concurrency:
        result["concurrency"] = await _concurrency(max_calls, step_s=6 if quick else 15)
    return result


# --- latency ----------------------------------------------------------------------------------------------


async def _latency_runs(repeats: int) -> list[CallReport]:
    scripts = sorted(SCRIPTS_DIR.glob("*.yaml"))
    reports: list[CallReport] = []
    async for path, _, report in call_each(scripts * repeats, through_control_plane=True):
        _progress(
            f"[bench] call {path.stem}: response ms {report.latency.response_ms}, barge-in ms"
            f" {report.latency.barge_in_ms}, missed {report.missed_turns}"
        )
        reports.append(report)
    return reports


def _latency_figures(reports: list[CallReport]) -> dict[str, Any]:
    response = [v for r in reports for v in r.latency.response_ms]
    barge = [v for r in reports for v in r.latency.barge_in_ms]
    hops = {h: [v for r in reports for v in r.latency.hops.get(h, [])] for h in HOPS}
    greeting = [r.latency.greeting_ms for r in reports if r.latency.greeting_ms is not None]
    caller_turns = sum(1 for r in reports for e in r.transcript if e.role == "caller")
    return {
        "engines": "offline: webrtcvad + silero (VAD), whisper tiny.en (STT), rules (agent), piper (TTS)",
        "calls": len(reports),
        "response_ms": summarize(response),
        "barge_in_ms": summarize(barge),
        "hops_ms": {h: {k: v for k, v in summarize(vals).items() if k != "n"} for h, vals in hops.items()},
        "greeting_ms": summarize(greeting),
        "caller_turns": caller_turns,
        "missed_turns": sum(r.missed_turns for r in reports),
    }


# --- concurrency ------------------------------------------------------------------------------------------


async def _concurrency(max_calls: int, step_s: float) -> dict[str, Any]:
    from media_worker.engines.piper_tts import PiperTts

    tts = PiperTts(pool_size=1)
    await tts.start()
    speech = b"".join([c async for c in tts.synthesize("Yes, that is right, thank you.", 16000)])
    await tts.close()
    steps: list[dict[str, Any]] = []
    async with WorkerProcess(engines="simulated") as worker:
        idle_rss = _rss_mb(worker.pid)
        load = _Load(worker.media_url, speech)
        n = 0
        for target in _ramp(max_calls):
            await load.grow(target - n)
            n = target
            await asyncio.sleep(2)  # let the new calls settle before measuring
            await worker.get("/stats?reset=1")
            cpu0, t0 = _cpu_s(worker.pid), time.monotonic()
            await asyncio.sleep(step_s)
            stats = await worker.get("/stats?reset=1") or {}
            cpu = (_cpu_s(worker.pid) - cpu0) / (time.monotonic() - t0)
            late = stats.get("tick_lateness_ms") or {}
            step = {
                "calls": n,
                "live_calls": stats.get("calls"),
                "tick_late_p99_ms": late.get("p99"),
                "worker_cpu_pct": round(cpu * 100, 1),
                "worker_rss_mb": round(_rss_mb(worker.pid), 1),
                "client_frames_late_p99_ms": load.late_p99(),
            }
            _progress(f"[bench] concurrency {json.dumps(step)}")
            steps.append(step)
            if not _held(step):
                break
        await load.close()
    held = [s for s in steps if _held(s)]
    best = held[-1] if held else None
    return {
        "engines": "simulated remote-style STT/TTS (asyncio waits, no model CPU); real VAD, codec, pacing",
        "max_calls_sustained": best["calls"] if best else 0,
        "limit_reached": len(held) < len(steps),
        "cpu_pct_per_call": round(best["worker_cpu_pct"] / best["calls"], 2) if best else None,
        "rss_mb_per_call": round((best["worker_rss_mb"] - idle_rss) / best["calls"], 2) if best else None,
        "worker_idle_rss_mb": round(idle_rss, 1),
        "steps": steps,
    }


def _held(step: dict[str, Any]) -> bool:
    """The calls are up (ended calls are redialled at once, so a few may be between calls) and the outbound
    tick is no later than the limit at p99."""
    live_enough = (step["live_calls"] or 0) >= 0.9 * step["calls"]
    return (step["tick_late_p99_ms"] or 0) <= LATE_LIMIT_MS and live_enough


def _ramp(max_calls: int) -> list[int]:
    steps = [5, 10, 20, 30, 40, 60, 80, 100, 120, 160, 200, 250, 300]
    return [s for s in steps if s <= max_calls] or [max_calls]


class _Load:
    """Real-time ACS-like media clients, all driven by one 20 ms loop to keep the load generator light."""

    def __init__(self, url: str, speech_16k: bytes) -> None:
        self.url = url
        fb = 640
        speech = speech_16k + bytes(-len(speech_16k) % fb)
        talk = [speech[i : i + fb] for i in range(0, len(speech), fb)]
        quiet = [bytes(fb)] * 150  # 3 s of silence after each line: the agent answers in it
        self.frames = [self._msg(f, False) for f in talk] + [self._msg(f, True) for f in quiet]
        self.clients: list[Any] = []
        self._task: asyncio.Task[None] | None = None
        self.lateness: list[float] = []

    @staticmethod
    def _msg(frame: bytes, silent: bool) -> str:
        data = base64.b64encode(frame).decode()
        return json.dumps({"kind": "AudioData", "audioData": {"data": data, "silent": silent}})

    async def grow(self, count: int) -> None:
        for _ in range(count):
            client = [None, (len(self.clients) * 37) % len(self.frames), None]
            await self._dial(client)
            self.clients.append(client)
        if self._task is None:
            self._task = asyncio.create_task(self._send_loop())

    async def _dial(self, client: list[Any]) -> None:
        ws = await connect(
            f"{self.url}?agent=fnol",
            additional_headers={"x-ms-call-connection-id": f"load-{uuid.uuid4().hex[:10]}"},
            max_size=1 << 22,
            ping_interval=None,
        )
        meta = {"encoding": "PCM", "sampleRate": 16000, "channels": 1, "length": 640}
        await ws.send(json.dumps({"kind": "AudioMetadata", "audioMetadata": meta}))
        client[0] = ws
        client[2] = asyncio.create_task(self._drain(client))

    async def _drain(self, client: list[Any]) -> None:
        """Read the agent's audio; when the agent ends the call, place a new one so the load stays at N."""
        async for _ in client[0]:
            pass
        await self._dial(client)

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            self.lateness.append((loop.time() - next_at) * 1000)
            for client in self.clients:
                ws, pos, _ = client
                try:
                    await ws.send(self.frames[pos])
                except Exception:  # a dropped client shows up as a live-call count below target
                    continue
                client[1] = (pos + 1) % len(self.frames)
            next_at += 0.02
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    def late_p99(self) -> float | None:
        values, self.lateness = sorted(self.lateness), []
        return round(values[int(0.99 * (len(values) - 1))], 2) if values else None

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
        for ws, _, drain in self.clients:
            drain.cancel()
            await ws.close()
        await asyncio.gather(*(c[2] for c in self.clients), return_exceptions=True)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
