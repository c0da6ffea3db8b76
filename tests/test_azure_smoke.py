"""Smoke tests against the real Azure services: they run when the environment names them, and are skipped
otherwise (no service can be reached offline). The code path is the one production uses: the same
settings module, the same engines and store, no test doubles.

    AZURE_SPEECH_REGION + AZURE_SPEECH_KEY (or AZURE_SPEECH_RESOURCE_ID)   Azure AI Speech
    AZURE_OPENAI_ENDPOINT (+ AZURE_OPENAI_API_KEY or Entra ID)              Azure OpenAI
    AZURE_COSMOS_ENDPOINT (+ AZURE_COSMOS_KEY or Entra ID)                  Cosmos DB (with its containers)

With Speech and OpenAI set, the fnol scenario also runs end to end through the local stack with
RTAGENT_STT/TTS=azure and RTAGENT_DIALOG_ENGINE=llm: the same script the offline tests play.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from rtagent.settings import LlmSettings, SpeechSettings, StoreSettings

ROOT = Path(__file__).resolve().parent.parent
SPEECH = bool(
    (os.environ.get("AZURE_SPEECH_REGION") or os.environ.get("AZURE_SPEECH_ENDPOINT"))
    and (os.environ.get("AZURE_SPEECH_KEY") or os.environ.get("AZURE_SPEECH_RESOURCE_ID"))
)
OPENAI = bool(os.environ.get("AZURE_OPENAI_ENDPOINT") or os.environ.get("RTAGENT_LLM_BASE_URL"))
COSMOS = bool(os.environ.get("AZURE_COSMOS_ENDPOINT"))

needs_speech = pytest.mark.skipif(not SPEECH, reason="Azure AI Speech is not configured (AZURE_SPEECH_*)")
needs_openai = pytest.mark.skipif(not OPENAI, reason="Azure OpenAI is not configured (AZURE_OPENAI_*)")
needs_cosmos = pytest.mark.skipif(not COSMOS, reason="Cosmos DB is not configured (AZURE_COSMOS_ENDPOINT)")


def azure_speech() -> SpeechSettings:
    return SpeechSettings.from_env({**os.environ, "RTAGENT_STT": "azure", "RTAGENT_TTS": "azure"})


@needs_speech
async def test_azure_speech_speaks_and_hears_a_policy_number():
    from media_worker.engines.azure_stt import AzureStt
    from media_worker.engines.azure_tts import AzureTts
    from media_worker.engines.base import Voice

    settings = azure_speech()
    tts, stt = AzureTts(settings), AzureStt(settings)
    await tts.start()
    await stt.start()
    try:
        pcm = b"".join(
            [c async for c in tts.synthesize("My policy number is P A 4 4 7 1 2.", 16000, Voice())]
        )
        assert len(pcm) > 16000, "at least half a second of audio"
        heard = await stt.transcribe(pcm)
    finally:
        await stt.close()
        await tts.close()
    digits = "".join(ch for ch in heard.text if ch.isdigit())
    assert "44712" in digits, heard.text


@needs_openai
async def test_azure_openai_answers_every_deployment_the_router_may_use():
    from rtagent.doctor import _probe_llm

    detail = await _probe_llm(LlmSettings.from_env())
    assert "deployment(s) answered" in detail


@needs_cosmos
async def test_cosmos_db_keeps_a_call_and_a_caller_memory():
    from rtagent.state import CallState, PastCall, open_store

    store = open_store(StoreSettings.from_env({**os.environ, "RTAGENT_STORE": "cosmos"}))
    call_id = f"smoke-{uuid.uuid4().hex[:12]}"
    number = "+1555" + str(uuid.uuid4().int)[:7]
    try:
        await store.ping()
        await store.save_call_state(CallState(call_id, "fnol", number, "+18005550101", "ended"))
        await store.remember_caller(number, PastCall(call_id, "fnol", "2026-11-25T17:00:00Z", {"x": 1}))
        view = await store.get_call(call_id)
        memory = await store.caller_memory(number)
    finally:
        await store.close()
    assert view is not None and view.state is not None and view.state.agent == "fnol"
    assert [c.call_id for c in memory.calls] == [call_id]


@needs_speech
@needs_openai
def test_the_fnol_scenario_runs_on_the_azure_engines_with_no_code_change(tmp_path: Path):
    env = {
        **os.environ,
        "RTAGENT_STT": "azure",
        "RTAGENT_TTS": "azure",
        "RTAGENT_DIALOG_ENGINE": "llm",
        "RTAGENT_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "rtagent.cli", "call", "--script", "tests/scenarios/fnol.yaml", "--check"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
