"""Which engine runs an agent is configuration: the same caller script, agent and worker code run on the
offline form engine or on the LLM engine (here against the local OpenAI-compatible server the tests start)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from agents.engines import dialog_kind_from_env, engine_builder
from agents.form import FormEngine
from agents.llm import LlmEngine
from agents.spec import load_agent
from agents.tools import default_registry
from media_worker.runtime import WorkerConfig, WorkerRuntime
from rtagent.local.report import check_expect
from rtagent.local.script import parse_script
from rtagent.local.text_call import run_text_call
from tests.openai_server import FakeOpenAI, text, tool_calls

AGENT = """\
name: callback
greeting: "Hi, this is the callback line."
instructions: "Take the caller's name and number."
record:
  caller_name: {type: string, description: "The caller's name.", ask: "What's your name?"}
  callback_number: {type: phone, description: "A number to call back.", ask: "What's your number?"}
on_complete: {say: "Thanks {caller_name}, we'll call you at {callback_number}. Goodbye."}
"""

SCRIPT = {
    "agent": "callback",
    "turns": [
        {"when": "name", "say": "It's Dana Reyes."},
        {"when": "number", "say": "Four two five, five five five, zero one two three."},
    ],
    "expect": {"record": {"caller_name": "Dana Reyes", "callback_number": "+14255550123"}},
}


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "callback.yaml").write_text(textwrap.dedent(AGENT), encoding="utf-8")
    return folder


def test_the_engine_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RTAGENT_DIALOG_ENGINE", raising=False)
    assert dialog_kind_from_env() == "local"
    monkeypatch.setenv("RTAGENT_DIALOG_ENGINE", "llm")
    assert dialog_kind_from_env() == "llm"
    monkeypatch.setenv("RTAGENT_DIALOG_ENGINE", "gpt")
    with pytest.raises(ValueError, match="RTAGENT_DIALOG_ENGINE must be one of local, llm, got 'gpt'"):
        dialog_kind_from_env()


def test_the_worker_builds_the_configured_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = load_agent("fnol")
    local = WorkerRuntime(WorkerConfig(data_dir=tmp_path))
    assert isinstance(local.build_engine(spec), FormEngine)
    monkeypatch.setenv("RTAGENT_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("RTAGENT_LLM_API_KEY", "test-key")
    llm = WorkerRuntime(WorkerConfig(dialog="llm", data_dir=tmp_path))
    engine = llm.build_engine(spec)
    assert isinstance(engine, LlmEngine)
    assert llm.build_engine(spec).client is engine.client  # one client per worker


def test_llm_without_an_endpoint_is_a_plain_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AZURE_OPENAI_ENDPOINT",
        "RTAGENT_LLM_BASE_URL",
        "AZURE_OPENAI_API_KEY",
        "RTAGENT_LLM_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(Exception, match=r"AZURE_OPENAI_ENDPOINT|RTAGENT_LLM_BASE_URL"):
        engine_builder("llm", default_registry())


async def test_one_script_runs_on_both_engines(
    agents_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = parse_script(yaml.safe_dump(SCRIPT), tmp_path)
    local = await run_text_call(script, "callback", agents_dir=agents_dir, data_dir=tmp_path, dialog="local")
    assert check_expect(local, script.expect) == []

    with FakeOpenAI() as server:
        server.push(tool_calls(("update_record", {"caller_name": "Dana Reyes"})))
        server.push(text("Thanks, Dana. What's your number?"))
        server.push(tool_calls(("update_record", {"callback_number": "+1 425 555 0123"})))
        monkeypatch.setenv("RTAGENT_LLM_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("RTAGENT_LLM_API_KEY", "test-key")
        report = await run_text_call(
            script, "callback", agents_dir=agents_dir, data_dir=tmp_path, dialog="llm"
        )
    assert check_expect(report, script.expect) == [], report.transcript
    assert report.ended_by == "agent_hangup"
    assert report.usage and all(u["deployment"] for u in report.usage)
    said = " ".join(e.text for e in report.transcript if e.role == "agent")
    assert "we'll call you at" in said


class _NoTts:
    voice_key = "piper"

    def prepare(self, texts: object, rate: int, voice: object) -> None:
        return None


def test_an_edited_agent_takes_effect_on_the_next_call(agents_dir: Path, tmp_path: Path) -> None:
    runtime = WorkerRuntime(WorkerConfig(agents_dir=agents_dir, data_dir=tmp_path))
    runtime._tts = _NoTts()  # type: ignore[assignment]  # no synthesis needed to open dialogs
    first, _, _ = runtime.new_dialog("callback")
    assert first.greeting().startswith("Hi, this is the callback line.")
    path = agents_dir / "callback.yaml"
    path.write_text(path.read_text().replace("Hi, this is the callback line.", "Hello from callbacks."))
    second, _, _ = runtime.new_dialog("callback")
    assert second.greeting().startswith("Hello from callbacks.")
    assert first.greeting().startswith("Hi, this is the callback line.")  # a call in progress keeps its own
    path.write_text(path.read_text().replace("type: phone", "type: fone"))
    problem = runtime.check_agent("callback")
    assert problem is not None and "callback.yaml: record.callback_number.type" in problem
