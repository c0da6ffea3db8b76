"""A worker whose TTS engine does not answer at start (Azure Speech unreachable) is not ready for calls; it
becomes ready by itself once the engine answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from media_worker.engines.base import ENGINE_RATE_HZ, Voice
from media_worker.engines.simulated import SimulatedTts
from media_worker.runtime import WorkerConfig, WorkerRuntime, _voice_for


class Outage:
    def __init__(self) -> None:
        self.down = True
        self.attempts = 0


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch) -> Outage:
    state = Outage()
    synthesize = SimulatedTts.synthesize

    async def flaky(
        self: SimulatedTts, text: str, sample_rate_hz: int, voice: Voice | None = None
    ) -> AsyncIterator[bytes]:
        state.attempts += 1
        if state.down:
            raise ConnectionError("speech service unreachable")
        async for chunk in synthesize(self, text, sample_rate_hz, voice):
            yield chunk

    monkeypatch.setattr(SimulatedTts, "synthesize", flaky)
    return state


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"not within {timeout_s} s")


def runtime_voice(runtime: WorkerRuntime, dialog: object) -> Voice | None:
    return _voice_for(getattr(dialog, "spec", None), runtime.tts.voice_key)


def config(tmp_path: Path) -> WorkerConfig:
    return WorkerConfig(engines="simulated", data_dir=tmp_path, warm_retry_s=0.05)


async def test_a_worker_whose_tts_does_not_answer_is_not_ready_until_it_does(
    outage: Outage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="media_worker.runtime")
    runtime = WorkerRuntime(config(tmp_path))
    try:
        await runtime.start()
        assert runtime.ready is False
        assert "no agent greeting could be synthesized" in caplog.text
        tried = outage.attempts
        await wait_until(lambda: outage.attempts > tried)  # it keeps trying
        assert runtime.ready is False

        outage.down = False
        await wait_until(lambda: runtime.ready)
        assert "the TTS engine answers: ready for calls" in caplog.text
        # the agents' fixed phrases, which failed with the greetings, are warmed too
        dialog = runtime.open_dialog("fnol")
        phrases = list(dialog.fixed_phrases())
        await wait_until(lambda: runtime.tts.has(phrases, ENGINE_RATE_HZ, runtime_voice(runtime, dialog)))
    finally:
        await runtime.close()


async def test_a_worker_whose_tts_answers_is_ready_when_started(outage: Outage, tmp_path: Path) -> None:
    outage.down = False
    runtime = WorkerRuntime(config(tmp_path))
    try:
        await runtime.start()
        assert runtime.ready is True
    finally:
        await runtime.close()


async def test_closing_a_worker_that_is_not_ready_stops_its_retries(outage: Outage, tmp_path: Path) -> None:
    runtime = WorkerRuntime(config(tmp_path))
    await runtime.start()
    await runtime.close()
    tried = outage.attempts
    await asyncio.sleep(0.2)
    assert outage.attempts == tried and runtime.ready is False
