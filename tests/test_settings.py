"""The one settings module: every variable the code reads is listed there, documented in .env.sample, and
read through it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rtagent.settings import ENVIRONMENT, Env, SettingsError, StoreSettings, WorkerSettings

ROOT = Path(__file__).resolve().parent.parent
CODE = ["agents", "functions", "media_worker", "rtagent", "bench", "function_app.py"]


def python_files() -> list[Path]:
    out: list[Path] = []
    for name in CODE:
        path = ROOT / name
        out += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return out


def test_env_sample_documents_exactly_the_variables_the_code_reads():
    sample = (ROOT / ".env.sample").read_text()
    documented = re.findall(r"^# ([A-Z][A-Z0-9_]+)=", sample, re.M)
    assert len(documented) == len(set(documented)), "a variable is documented twice"
    assert sorted(documented) == sorted(v.name for v in ENVIRONMENT)


def test_no_module_reads_the_environment_except_the_settings_module():
    readers = re.compile(r"os\.environ(\.get|\[)|os\.getenv|environ\.get\(")
    offenders = [
        str(path.relative_to(ROOT))
        for path in python_files()
        if path.name != "settings.py" and readers.search(path.read_text())
    ]
    assert offenders == []


def test_every_variable_named_in_the_code_is_listed():
    listed = {v.name for v in ENVIRONMENT}
    named: set[str] = set()
    for path in python_files():
        named |= set(re.findall(r'"((?:RTAGENT|AZURE|ACS)_[A-Z0-9_]+)"', path.read_text()))
    assert named - listed == set()


def test_an_unlisted_variable_cannot_be_read_by_mistake():
    with pytest.raises(KeyError, match=r"RTAGENT_TYPO is not in rtagent\.settings\.ENVIRONMENT"):
        Env({}).get("RTAGENT_TYPO")


def test_readers_name_the_variable_and_what_it_should_be():
    with pytest.raises(SettingsError, match="RTAGENT_STORE must be one of sqlite, cosmos, got 'mongo'"):
        StoreSettings.from_env({"RTAGENT_STORE": "mongo"})
    with pytest.raises(SettingsError, match="RTAGENT_STORE=cosmos needs AZURE_COSMOS_ENDPOINT"):
        StoreSettings.from_env({"RTAGENT_STORE": "cosmos"})
    with pytest.raises(SettingsError, match="RTAGENT_DRAIN_S must be a positive number of seconds"):
        WorkerSettings.from_env({"RTAGENT_DRAIN_S": "soon"})
    assert StoreSettings.from_env({}).kind == "sqlite"
    assert WorkerSettings.from_env({"RTAGENT_MEDIA_SECRET": "s"}).media_secret == b"s"
