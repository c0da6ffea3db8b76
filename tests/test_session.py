"""A call session end to end with fake engines: ordering, barge-in, history cuts, robustness.

These run in real time (the pacer follows the wall clock), a few seconds each; what they assert is order and
content, never speed: figures live in ``rtagent bench``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from media_worker.escalation import EscalationRequest, EscalationResult
from media_worker.session import CallSession
from tests.fakes import FakeRuntime, FakeSocket, speech_frame

GREETING = "Hello caller, thanks for calling the echo line today."


def metadata(rate: int = 16000) -> str:
    return json.dumps(
        {
            "kind": "AudioMetadata",
            "audioMetadata": {"subscriptionId": "s", "encoding": "PCM", "sampleRate": rate, "channels": 1},
        }
    )


def audio(pcm: bytes, silent: bool = False) -> str:
    data = base64.b64encode(pcm).decode()
    return json.dumps({"kind": "AudioData", "audioData": {"data": data, "silent": silent}})


def kinds(sent: list[str]) -> list[str]:
    return [json.loads(m)["Kind"] for m in sent]


class Caller:
    """Feeds one 20 ms frame per 20 ms of wall time, like ACS."""

    def __init__(self, ws: FakeSocket, rate: int = 16000) -> None:
        self.ws = ws
        self.fb = rate // 50 * 2
        self.sent_frames = 0

    async def frames(self, n: int, level: int = 0) -> None:
        for _ in range(n):
            pcm = speech_frame(level, self.fb) if level else bytes(self.fb)
            self.ws.inbound.put_nowait(audio(pcm, silent=not level))
            self.sent_frames += 1
            await asyncio.sleep(0.02)

    async def until(self, condition, limit_frames: int = 500) -> None:
        for _ in range(limit_frames):
            if condition():
                return
            await self.frames(1)
        raise AssertionError("condition not reached")


async def start(
    rate: int = 16000, escalations: Any = None, max_call_s: float | None = None, caller: str = ""
) -> tuple[FakeRuntime, FakeSocket, asyncio.Task]:
    runtime = FakeRuntime(max_call_s=max_call_s)
    if escalations is not None:
        runtime.escalations = escalations
    runtime.histories["+14255550123"] = "Earlier calls from this number, newest first:\n- 2026-11-20, echo"
    ws = FakeSocket()
    session = CallSession("call-1", "echo", runtime, **runtime.session_options(), caller=caller)
    ws.inbound.put_nowait(metadata(rate))
    task = asyncio.create_task(session.run(ws))
    return runtime, ws, task


async def finish(ws: FakeSocket, task: asyncio.Task, runtime: FakeRuntime):
    await ws.close()
    summary = await asyncio.wait_for(task, 5)
    await runtime.close()
    return summary


async def test_greeting_plays_at_real_time_pace_and_finishes():
    runtime, ws, task = await start()
    caller = Caller(ws)
    await caller.frames(10)
    assert "AudioData" in kinds(ws.sent), "the greeting starts without waiting for the caller"
    early = len(ws.sent)
    assert early <= 5 + 10 + 2, "never more than the lead ahead of real time"
    await caller.frames(60)
    summary = await finish(ws, task, runtime)
    greeting_frames = len(GREETING.split()) * 5  # 100 ms a word
    assert kinds(ws.sent).count("AudioData") == greeting_frames
    assert "StopAudio" not in kinds(ws.sent)
    assert summary.turns[0]["agent_text"] == GREETING and not summary.turns[0]["interrupted"]


async def test_barge_in_sends_stop_audio_at_onset_and_cuts_history_to_what_was_heard():
    runtime, ws, task = await start()
    caller = Caller(ws)
    await caller.until(lambda: "AudioData" in kinds(ws.sent))
    await caller.frames(15)  # the caller hears 300 ms of the greeting
    sent_before = len(ws.sent)
    speaking = asyncio.create_task(caller.frames(20, level=3000))
    await caller_wait(lambda: "StopAudio" in kinds(ws.sent))
    stop_at = kinds(ws.sent).index("StopAudio")
    assert stop_at >= sent_before
    await speaking
    await caller.frames(40)
    summary = await finish(ws, task, runtime)

    dialog = runtime.dialogs[0]
    greeting = dialog.state.history[0]
    assert greeting.interrupted
    words = greeting.text.split()
    # 300 ms heard at 100 ms a word (plus the two onset frames): about three words, never the whole line.
    assert 2 <= len(words) <= 5, greeting.text
    assert GREETING.startswith(greeting.text)
    assert summary.turns[0]["interrupted"] and summary.turns[0]["agent_text"] == greeting.text
    # The caller's words became the next turn, and the agent answered them.
    assert dialog.heard == ["wait a second"]
    assert kinds(ws.sent)[stop_at + 1 :].count("AudioData") > 0


async def caller_wait(condition, timeout_s: float = 3.0) -> None:
    """Poll a condition on what the session sent (the fake socket has no event to wait on)."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def test_stop_audio_is_sent_within_a_few_frames_of_onset():
    runtime, ws, task = await start()
    caller = Caller(ws)
    await caller.until(lambda: "AudioData" in kinds(ws.sent))
    await caller.frames(10)
    speech_frames = 0
    while "StopAudio" not in kinds(ws.sent) and speech_frames < 10:
        await caller.frames(1, level=3000)
        speech_frames += 1
    # webrtc-style onset needs two speech frames: StopAudio goes out on the second, not later.
    assert speech_frames == 2
    await finish(ws, task, runtime)


async def test_a_caller_turn_is_answered_after_the_greeting():
    runtime, ws, task = await start()
    caller = Caller(ws)
    await caller.frames(70)  # greeting is 900 ms
    await caller.frames(30, level=2000)
    before = kinds(ws.sent).count("AudioData")
    await caller.frames(60)
    summary = await finish(ws, task, runtime)
    assert runtime.dialogs[0].heard == ["my policy number is PA44712"]
    assert kinds(ws.sent).count("AudioData") > before
    turn = summary.turns[1]
    assert turn["caller_text"] == "my policy number is PA44712"
    assert turn["agent_text"] == "You said my policy number is PA44712. Anything else?"
    assert turn["hops"]["endpointing"] >= 300
    assert "StopAudio" not in kinds(ws.sent)


async def test_agent_hang_up_closes_the_socket_after_the_last_word():
    runtime, ws, task = await start()
    caller = Caller(ws)
    await caller.frames(70)
    await caller.frames(20, level=4000)
    await caller.until(lambda: ws.closed is not None, limit_frames=200)
    summary = await asyncio.wait_for(task, 5)
    await runtime.close()
    assert ws.closed == (1000, "agent_hangup")
    assert summary.ended_by == "agent_hangup"
    assert runtime.tts.spoken[-1] == "Goodbye."


async def test_escalation_is_requested_with_the_record_after_the_transfer_line():
    runtime, ws, task = await start()
    caller = Caller(ws)
    await caller.frames(70)
    await caller.frames(20, level=5000)
    await caller.until(lambda: ws.closed is not None, limit_frames=200)
    summary = await asyncio.wait_for(task, 5)
    await runtime.close()
    assert ws.closed == (1000, "transfer")
    assert runtime.tts.spoken[-1] == "Transferring you now."
    [request] = runtime.escalations.requests
    assert request.reason == "caller asked for a human"
    assert request.target == "tel:+18005550199"
    assert request.record == {"reason": "a human please"}
    assert request.agent == "echo"
    assert "caller asked for a human" in request.summary
    assert summary.escalated and summary.escalation_target == "tel:+18005550199"


class _NobodyAnswers:
    def __init__(self) -> None:
        self.requests: list[EscalationRequest] = []

    async def escalate(self, request: EscalationRequest) -> EscalationResult:
        self.requests.append(request)
        return EscalationResult("failed", "transfer target busy")

    async def session_ended(self, call_id: str, ended_by: str) -> None:
        return None


async def test_a_transfer_that_reaches_nobody_lets_the_agent_carry_on():
    runtime, ws, task = await start(escalations=_NobodyAnswers())
    caller = Caller(ws)
    await caller.frames(70)
    await caller.frames(20, level=5000)
    await caller.until(lambda: "I'm sorry, I couldn't connect you" in " ".join(runtime.tts.spoken), 300)
    assert ws.closed is None  # the call goes on
    await caller.frames(20, level=4000)  # "goodbye"
    await caller.until(lambda: ws.closed is not None, limit_frames=300)
    summary = await asyncio.wait_for(task, 5)
    await runtime.close()
    assert summary.escalated and summary.transfer == "failed"
    assert "transfer failed: transfer target busy" in summary.errors
    assert ws.closed == (1000, "agent_hangup")


async def test_at_the_time_limit_the_agent_says_goodbye_and_hangs_up():
    runtime, ws, task = await start(max_call_s=1.0)
    caller = Caller(ws)
    await caller.until(lambda: ws.closed is not None, limit_frames=400)
    summary = await asyncio.wait_for(task, 5)
    await runtime.close()
    assert runtime.tts.spoken[-1] == "We've reached the time limit. Goodbye."
    assert summary.ended_by == "agent_hangup"
    assert runtime.dialogs[0].state.outcome.reason == "max call length"


async def test_the_call_is_stored_before_its_end_is_reported_and_the_caller_history_is_offered():
    runtime, ws, task = await start(caller="+14255550123")
    caller = Caller(ws)
    await caller.frames(30)
    assert runtime.dialogs[0].state.caller_history.endswith("- 2026-11-20, echo")
    await finish(ws, task, runtime)
    assert runtime.kept == [("call-1", "+14255550123", "nothing")], "stored before the end was reported"
    assert runtime.escalations.ended == [("call-1", "caller_hangup")]


async def test_an_unknown_caller_gets_no_history():
    runtime, ws, task = await start()
    await Caller(ws).frames(20)
    assert runtime.dialogs[0].state.caller_history == ""
    await finish(ws, task, runtime)


@pytest.mark.parametrize("rate", [16000, 24000])
async def test_outbound_frames_are_20_ms_at_the_call_rate(rate):
    runtime, ws, task = await start(rate)
    caller = Caller(ws, rate)
    await caller.frames(20)
    await finish(ws, task, runtime)
    frames = [json.loads(m)["AudioData"]["Data"] for m in ws.sent if json.loads(m)["Kind"] == "AudioData"]
    assert frames and all(len(base64.b64decode(f)) == rate // 50 * 2 for f in frames)


async def test_malformed_messages_are_skipped_and_the_call_goes_on():
    runtime = FakeRuntime()
    ws = FakeSocket()
    session = CallSession("call-2", "echo", runtime, **runtime.session_options())
    task = asyncio.create_task(session.run(ws))
    for bad in ["not json", "[1,2]", '{"kind": 5}', '{"kind":"AudioData"}', b"\xff\xfe", "x" * 100_000]:
        ws.inbound.put_nowait(bad)
    ws.inbound.put_nowait(json.dumps({"kind": "SomethingNew", "somethingNew": {}}))
    caller = Caller(ws)
    await caller.frames(1)  # audio before AudioMetadata: taken as 16 kHz
    ws.inbound.put_nowait(metadata())
    await caller.frames(20)
    summary = await finish(ws, task, runtime)
    assert summary.protocol_errors == 6
    assert any("not JSON" in e or "JSON" in e for e in summary.errors)
    assert "AudioData" in kinds(ws.sent), "the greeting still plays"


def test_speech_detector_rests_in_long_silence_and_wakes_for_speech():
    from media_worker.pipeline.vad import VadConfig, VadStage
    from tests.fakes import LevelVadStream

    class CountingStream(LevelVadStream):
        calls = 0
        resets = 0

        def speech_probability(self, frame: bytes) -> float:
            CountingStream.calls += 1
            return super().speech_probability(frame)

        def reset(self) -> None:
            CountingStream.resets += 1

    from media_worker.frames import AudioIn, SpeechConfirmed

    out = []
    vad = VadStage(LevelVadStream(), CountingStream(), VadConfig(idle_after_ms=200))
    vad.push = out.append  # type: ignore[method-assign]
    t = 0
    for _ in range(100):  # 2 s of silence: the speech detector runs only for the first 200 ms
        vad.process(AudioIn(bytes(640), t))
        t += 20
    assert CountingStream.calls == 10
    for _ in range(5):
        vad.process(AudioIn(speech_frame(2000), t))
        t += 20
    assert CountingStream.resets == 1
    assert any(isinstance(f, SpeechConfirmed) for f in out), "speech after a rest is still confirmed"
