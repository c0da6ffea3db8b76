"""``rtagent doctor``: each part's implementation and whether it answers, with plain messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rtagent.doctor import format_checks, run_checks
from tests.openai_server import FakeOpenAI, text

NOWHERE = {
    "RTAGENT_STT": "azure",
    "RTAGENT_TTS": "azure",
    "AZURE_SPEECH_KEY": "bogus",
    "AZURE_SPEECH_ENDPOINT": "ws://127.0.0.1:9/speech",
}


def by_part(checks):
    return {c.part: c for c in checks}


async def test_unreachable_azure_engines_fail_fast_with_the_reason(tmp_path: Path):
    checks = by_part(await run_checks({**NOWHERE, "RTAGENT_DATA_DIR": str(tmp_path)}))
    for part in ("stt", "tts"):
        assert checks[part].status == "fail" and checks[part].implementation == "azure"
        assert "Connection" in checks[part].detail, checks[part].detail
        assert checks[part].ms < 10_000
    assert checks["store"].status == "ok" and str(tmp_path) in checks["store"].detail
    assert checks["dialog"].status == "ok" and checks["dialog"].implementation == "local"
    assert checks["control plane"].status == "skip"


async def test_settings_that_cannot_work_are_reported_by_name_without_probing(tmp_path: Path):
    env = {"RTAGENT_STT": "azure", "RTAGENT_STORE": "cosmos", "RTAGENT_DIALOG_ENGINE": "gpt"}
    checks = by_part(await run_checks({**env, "RTAGENT_DATA_DIR": str(tmp_path)}))
    assert checks["stt"].status == "fail" and "AZURE_SPEECH_KEY" in checks["stt"].detail
    assert checks["store"].status == "fail" and "AZURE_COSMOS_ENDPOINT" in checks["store"].detail
    assert (
        checks["dialog"].status == "fail"
        and "RTAGENT_DIALOG_ENGINE must be one of" in checks["dialog"].detail
    )
    assert "not answering: stt, tts, dialog, store" in format_checks(list(checks.values()))


async def test_the_llm_check_asks_every_available_deployment(tmp_path: Path):
    with FakeOpenAI() as server:
        server.push(text("OK"))
        server.push(text("OK"))
        env = {
            **NOWHERE,
            "RTAGENT_DATA_DIR": str(tmp_path),
            "RTAGENT_DIALOG_ENGINE": "llm",
            "AZURE_OPENAI_ENDPOINT": server.url,
            "AZURE_OPENAI_API_KEY": "k",
            "RTAGENT_LLM_DEPLOYMENTS": "gpt-4o-mini,gpt-4.1-mini",
        }
        checks = by_part(await run_checks(env))
        paths = sorted(r.path for r in server.requests)
    assert checks["dialog"].status == "ok", checks["dialog"].detail
    assert "2 deployment(s) answered" in checks["dialog"].detail
    assert paths == [
        "/openai/deployments/gpt-4.1-mini/chat/completions",
        "/openai/deployments/gpt-4o-mini/chat/completions",
    ]


def test_the_command_exits_1_and_prints_json_when_a_part_does_not_answer(tmp_path: Path):
    env = {**NOWHERE, "RTAGENT_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "rtagent.cli", "doctor", "--json"],
        env=env, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    parts = {c["part"]: c["status"] for c in json.loads(done.stdout)}
    assert parts["stt"] == parts["tts"] == "fail" and parts["store"] == "ok"


@pytest.mark.engines
async def test_the_local_configuration_answers_everywhere(tmp_path: Path):
    checks = await run_checks({"RTAGENT_DATA_DIR": str(tmp_path)})
    assert [(c.part, c.implementation, c.status) for c in checks] == [
        ("agents", "YAML", "ok"),
        ("stt", "local", "ok"),
        ("tts", "local", "ok"),
        ("dialog", "local", "ok"),
        ("store", "sqlite", "ok"),
        ("control plane", "-", "skip"),
    ]
