"""The media worker's image recipe, read as text: what it copies, who it runs as, what it starts.

No Docker here: the Dockerfile and .dockerignore are parsed, and what they name is checked against the
repository (the files exist and reach the build), pyproject (the packages and the console script) and the
CLI's own parser (the entry command parses and starts ``serve``).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rtagent import cli

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "media_worker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PORT = 8080
COMPILERS = ("gcc", "g++", "clang", "build-essential", "cmake")


@dataclass
class Stage:
    base: str
    name: str = ""
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages of instructions ``(KEYWORD, arguments)``: comments dropped, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            base, _, name = re.sub(r"--platform=\S+\s+", "", args).partition(" AS ")
            stages.append(Stage(base.strip(), name.strip()))
        elif keyword == "ARG" and not stages:
            continue  # a global ARG before the first FROM
        else:
            assert stages, f"{keyword} before any FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


def exec_form(args: str) -> list[str]:
    """A JSON-array (exec form) ENTRYPOINT/CMD/HEALTHCHECK CMD; shell form is not used for these."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(a, str) for a in value), args
    return value


def copy_sources(args: str) -> list[str]:
    """The context paths a ``COPY [--flags] SRC... DEST`` reads (empty for ``--from=`` copies)."""
    words = shlex.split(args)
    if any(w.startswith("--from=") for w in words):
        return []
    paths = [w for w in words if not w.startswith("--")]
    return [p.removeprefix("./").rstrip("/") for p in paths[:-1]]


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go ``filepath.Match`` plus ``**``) as a regex over slash-separated paths."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):  # "**/" also matches no folder at all
                out = out[:-2] + "(?:.*/)?"
                i += 1
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]  # Go's classes: [abc], [a-z], [^abc]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def ignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        rules.append((negated, _pattern_regex(pattern)))
    return rules


def excluded(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negated, regex in rules:
        if any(regex.fullmatch(c) for c in candidates):
            result = not negated
    return result


STAGES = parse_dockerfile(DOCKERFILE.read_text())
FINAL = STAGES[-1]
RULES = ignore_rules(DOCKERIGNORE.read_text())


def entry_argv() -> list[str]:
    argv = exec_form(FINAL.last("ENTRYPOINT"))
    cmd = FINAL.all("CMD")
    return argv + (exec_form(cmd[-1]) if cmd else [])


# --- stages ------------------------------------------------------------------------------------------------


def test_the_image_is_built_in_two_stages_on_python_3_11_slim():
    assert len(STAGES) == 2
    assert all(s.base.startswith("python:3.11-slim") for s in STAGES)
    build = STAGES[0]
    assert build.name, "the builder stage is named, for COPY --from"
    assert FINAL.all("COPY") == [f"--from={build.name} /opt/venv /opt/venv"], "the final stage takes the venv"
    assert any(v.startswith("PATH=/opt/venv/bin:") for v in FINAL.all("ENV")), "the venv's rtagent is found"


def test_the_final_stage_installs_no_compiler():
    runs = " ".join(FINAL.all("RUN"))
    assert not [c for c in COMPILERS if c in runs]
    assert "--no-install-recommends" in runs


def test_the_final_stage_has_the_speech_sdk_system_libraries():
    runs = " ".join(FINAL.all("RUN"))
    for package in ("libasound2", "libssl3", "ca-certificates"):
        assert re.search(rf"\b{re.escape(package)}\b", runs), package


def test_the_final_stage_runs_as_a_numeric_non_root_user():
    user = FINAL.last("USER").split(":")[0]
    assert user not in ("root", "0")
    assert user.isdigit(), "numeric, so that a runAsNonRoot check can verify it"


def test_the_worker_port_is_exposed_and_health_checked_without_curl():
    assert str(PORT) in FINAL.last("EXPOSE").split()
    options, _, command = FINAL.last("HEALTHCHECK").partition("CMD ")
    argv = exec_form(command)
    assert "--start-period=" in options, "the engines load before the worker listens"
    assert argv[0] == "python" and not {"curl", "wget"} & set(argv)
    assert f"http://127.0.0.1:{PORT}/healthz" in argv[-1]


def test_the_process_gets_sigterm_and_writes_logs_unbuffered():
    assert FINAL.last("STOPSIGNAL") == "SIGTERM"
    env = " ".join(FINAL.all("ENV"))
    assert re.search(r"\bPYTHONUNBUFFERED=1\b", env)


# --- the entry command -------------------------------------------------------------------------------------


def test_the_entry_command_is_a_declared_console_script_in_exec_form():
    argv = entry_argv()
    assert argv[0] in PYPROJECT["project"]["scripts"]
    assert PYPROJECT["project"]["scripts"][argv[0]] == "rtagent.cli:main"


def test_the_entry_command_parses_as_rtagent_serve_on_all_interfaces(monkeypatch: pytest.MonkeyPatch):
    seen: list[argparse.Namespace] = []

    def fake_serve(args: argparse.Namespace) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(cli, "_serve", fake_serve)
    assert cli.main(entry_argv()[1:]) == 0
    assert len(seen) == 1
    args = seen[0]
    assert args.command == "serve"
    assert (args.host, args.port) == ("0.0.0.0", PORT)


# --- the build context -------------------------------------------------------------------------------------


def copied_paths() -> list[str]:
    return [src for stage in STAGES for args in stage.all("COPY") for src in copy_sources(args)]


def test_every_package_pyproject_installs_is_copied():
    copied = set(copied_paths())
    packages = [
        p.rstrip("*").rstrip(".") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    assert packages and set(packages) <= copied
    assert "pyproject.toml" in copied


def test_what_the_dockerfile_copies_exists_and_is_not_excluded_from_the_context():
    for src in copied_paths():
        path = ROOT / src
        assert path.exists(), f"COPY {src}: not in the build context"
        assert not excluded(src, RULES), f"COPY {src}: excluded by .dockerignore"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        wanted = [f for f in files if "__pycache__" not in f.parts and f.suffix != ".pyc"]
        assert wanted, f"COPY {src}: nothing to copy"
        for f in wanted:
            rel = f.relative_to(ROOT).as_posix()
            if rel != DOCKERFILE.relative_to(ROOT).as_posix():
                assert not excluded(rel, RULES), f"{rel} is excluded by .dockerignore"


def test_the_package_data_reaches_the_build():
    for package, patterns in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        for pattern in patterns:
            matches = list((ROOT / package).glob(pattern))
            assert matches, f"{package}/{pattern} matches nothing"
            for m in matches:
                assert not excluded(m.relative_to(ROOT).as_posix(), RULES), m


def test_the_context_leaves_out_the_venv_the_git_folder_tests_and_caches():
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/test_server.py",
        ".env",
        "media_worker/__pycache__/x",
    ):
        assert excluded(path, RULES), path


def test_the_extra_installs_of_the_makefile_are_in_the_image_too():
    """silero-vad without its torch dependency, and piper-tts as its own program, as ``make setup`` does."""
    makefile = (ROOT / "Makefile").read_text()
    extras = re.findall(r"pip install --quiet (--no-deps )?'([^']+)'", makefile)
    assert extras
    runs = " ".join(args for stage in STAGES for args in stage.all("RUN"))
    for no_deps, spec in extras:
        assert f"pip install {no_deps}'{spec}'" in runs, spec


def test_the_offline_engines_left_out_by_the_build_arg_are_dependencies_and_not_the_vad():
    """``OFFLINE_ENGINES=0`` drops these from pyproject's list; the VAD runs in every mode, so it stays."""
    arg = next(a for a in STAGES[0].all("ARG") if a.startswith("OFFLINE_PACKAGES="))
    offline = set(shlex.split(arg.removeprefix("OFFLINE_PACKAGES="))[0].split())
    names = {re.split(r"[^A-Za-z0-9._-]", d, maxsplit=1)[0] for d in PYPROJECT["project"]["dependencies"]}
    assert offline and offline <= names
    always = {"webrtcvad-wheels", "onnxruntime", "numpy", "soxr", "azure-cognitiveservices-speech"}
    assert not offline & always


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*", "agents/fnol.yaml", True),
        ("**/__pycache__", "media_worker/pipeline/__pycache__/x.pyc", True),
        ("**/__pycache__", "__pycache__/x.pyc", True),
        ("**/*.py[cod]", "rtagent/cli.pyc", True),
        ("media_worker/Dockerfile", "media_worker/server.py", False),
    ],
)
def test_the_dockerignore_matcher_follows_docker_rules(pattern: str, path: str, matches: bool):
    assert excluded(path, ignore_rules(pattern)) is matches
