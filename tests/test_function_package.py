"""The Functions app's package: what function_app.py imports is installed by requirements.txt (the host's
remote build) and shipped (not left out by .funcignore)."""

from __future__ import annotations

import importlib.metadata as md
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Every module the host loads: the app, and the modules its functions import when they run.
PROBE = """
import json, sys
before = set(sys.modules)  # what the interpreter loaded on its own (site hooks), not the app
import function_app
import functions.acs, functions.callback_auth, functions.orchestrator, functions.routing
import rtagent.state.cosmos, rtagent.state.sqlite
new = {name: getattr(m, "__file__", None) for name, m in list(sys.modules.items()) if name not in before}
print(json.dumps(new))
"""


def imported_files() -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return {k: v for k, v in json.loads(out.stdout.splitlines()[-1]).items() if v}


def distribution_of_file() -> dict[Path, str]:
    owner: dict[Path, str] = {}
    for dist in md.distributions():
        for f in dist.files or []:
            owner[Path(str(dist.locate_file(f))).resolve()] = dist.metadata["Name"].lower()
    return owner


def requirement_closure(names: list[str]) -> set[str]:
    """The distributions ``names`` install, with their own dependencies (as installed here)."""
    seen: set[str] = set()
    todo = [n.lower() for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for req in requires:
            if "extra ==" in req and 'extra == "crypto"' not in req:
                continue  # only the extras requirements.txt asks for
            todo.append(re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0].lower())
    return {n.replace("_", "-") for n in seen}


def requirements() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [
        re.split(r"[\s<>=!~\[]", ln, maxsplit=1)[0] for ln in lines if ln.strip() and not ln.startswith("#")
    ]


def test_everything_the_function_app_imports_is_in_requirements_txt():
    owner = distribution_of_file()
    needed: dict[str, str] = {}
    for module, file in imported_files().items():
        dist = owner.get(Path(file).resolve())
        if dist is not None and dist != "rtagent":
            needed.setdefault(dist.replace("_", "-"), module)
    covered = requirement_closure(requirements())
    missing = {d: m for d, m in needed.items() if d not in covered}
    assert not missing, f"imported by the Functions app but not installed by requirements.txt: {missing}"
    assert "azure-cognitiveservices-speech" not in needed and "faster-whisper" not in needed, (
        "the control plane must not pull in the media engines"
    )


def test_funcignore_leaves_in_every_module_the_app_imports():
    ignored = [
        ln.strip().rstrip("/")
        for ln in (ROOT / ".funcignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    files = [Path(f).resolve() for f in imported_files().values()]
    ours = [f for f in files if f.is_relative_to(ROOT) and not f.is_relative_to(ROOT / ".venv")]
    assert ours, "function_app's own modules were not found"
    for path in ours:
        rel = path.relative_to(ROOT).as_posix()
        for pattern in ignored:
            assert not (rel == pattern or rel.startswith(pattern + "/")), f"{rel} is left out by {pattern}"
    for needed in ("function_app.py", "host.json", "requirements.txt"):
        assert needed not in ignored and (ROOT / needed).exists()
