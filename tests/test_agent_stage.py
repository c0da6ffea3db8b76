"""The agent stage with the real pacer behind it: a reply the agent abandons never blocks the next one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from agents.dialog import Outcome
from media_worker.frames import EngineFailed, Interrupt, PausePlayback, UserTurn
from media_worker.pipeline.agent import AgentStage
from media_worker.pipeline.pacer import Pacer, PacerStage, Ticker
from media_worker.pipeline.stage import Pipeline
from tests.fakes import EchoDialog, WordTts

FB = 640  # 20 ms at 16 kHz


class StalledDialog(EchoDialog):
    """Says the first clause of a reply, then waits (a slow model) before the rest."""

    def __init__(self) -> None:
        super().__init__(max_call_s=30)
        self.gate = asyncio.Event()

    async def reply(self, caller_text: str) -> AsyncIterator[str]:
        yield "Let me check that."
        await self.gate.wait()
        yield "It is all fine."


async def wait_for(condition, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the pacer's output list has no event to wait on
            await asyncio.sleep(0.01)


async def run_stage(supersede) -> tuple[list[Outcome], list[bytes], WordTts]:
    ticker = Ticker()
    outcomes: list[Outcome] = []
    sent: list[bytes] = []
    loop = asyncio.get_running_loop()
    tts = WordTts()
    dialog = StalledDialog()
    agent = AgentStage(dialog, tts, 16000, None, outcomes.append)
    pacer = PacerStage(
        Pacer(FB, 100), ticker, sent.append, lambda: None, lambda: 0, lambda: loop.time() * 1000
    )
    pipeline = Pipeline([agent, pacer])
    try:
        agent.process(UserTurn("is my policy active", 0, 0))
        await wait_for(lambda: sent, 3)  # the first clause is playing, the rest is not made yet
        supersede(agent)
        await wait_for(lambda: outcomes, 5)
    finally:
        await pipeline.aclose()
        await ticker.close()
    return outcomes, sent, tts


async def test_the_time_limit_cuts_a_reply_in_the_making_and_the_goodbye_is_played():
    outcomes, _, tts = await run_stage(lambda agent: agent.time_up())
    assert tts.spoken[-1] == "We've reached the time limit. Goodbye."
    assert outcomes[-1].action == "hang_up"


async def test_the_time_limit_goodbye_plays_even_when_playback_was_paused_for_the_caller():
    def paused_then_time_up(agent: AgentStage) -> None:
        agent.process(PausePlayback(0))  # a caller onset, not yet confirmed
        agent.time_up()
        agent.process(PausePlayback(0))  # the caller talks over the goodbye: it goes on
        agent.process(Interrupt(0))

    outcomes, _, tts = await run_stage(paused_then_time_up)
    assert tts.spoken[-1] == "We've reached the time limit. Goodbye."
    assert outcomes[-1].action == "hang_up"


async def test_a_failed_recognizer_makes_the_agent_say_so_and_hand_the_call_over():
    outcomes, _, tts = await run_stage(lambda agent: agent.process(EngineFailed("stt", "cancelled (401)")))
    assert "trouble hearing you" in tts.spoken[-1]
    assert outcomes[-1].action in ("escalate", "hang_up")
    assert outcomes[-1].reason == "speech recognition failed"
