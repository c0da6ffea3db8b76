"""``rtagent doctor``: for each engine and store, which implementation is configured and whether it answers.

Every check runs the real thing with a short timeout: the offline engines decode and speak a moment of audio,
the Azure ones reach the service, the model answers a one-token request per deployment, the store answers a
read. A check that cannot even be set up (a missing variable) fails at once with the settings' own message,
which names the variable. Exit status: 0 when everything answers, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from rtagent import settings as cfg

Status = Literal["ok", "fail", "skip"]
CHECK_TIMEOUT_S = 20.0
"""Per check: the offline engines load their models on the first call (a few seconds on a laptop)."""


@dataclass(slots=True)
class Check:
    part: str
    """``stt``, ``tts``, ``dialog``, ``store``, ``agents``, ``control plane``."""
    implementation: str
    status: Status
    detail: str
    ms: float = 0.0


Probe = Callable[[], Awaitable[str]]


async def _run(part: str, implementation: str, probe: Probe, timeout_s: float = CHECK_TIMEOUT_S) -> Check:
    t0 = time.perf_counter()
    try:
        detail = await asyncio.wait_for(probe(), timeout_s)
        status: Status = "ok"
    except TimeoutError:
        detail, status = f"no answer within {timeout_s:.0f} s", "fail"
    except Exception as exc:  # every failure is reported, in the engine's own words
        detail, status = f"{type(exc).__name__}: {exc}".replace("\n", " "), "fail"
    return Check(part, implementation, status, detail, round((time.perf_counter() - t0) * 1000, 1))


def _setup_failed(part: str, implementation: str, exc: Exception) -> Check:
    return Check(part, implementation, "fail", str(exc))


# --- probes ----------------------------------------------------------------------------------------------

HALF_SECOND = bytes(16000)  # 0.5 s of 16 kHz PCM16 silence


async def _probe_stt(speech: cfg.SpeechSettings) -> str:
    if speech.stt == "azure":
        from media_worker.engines.azure_stt import AzureStt

        stt = AzureStt(speech)
        where = speech.endpoint or f"region {speech.region}"
    else:
        from media_worker.engines.whisper_stt import WhisperStt

        stt, where = WhisperStt(), "whisper tiny.en, on this machine"
    await stt.start()
    try:
        result = await stt.transcribe(HALF_SECOND)
    finally:
        await stt.close()
    return f"{where}: decoded 0.5 s of audio in {result.decode_ms:.0f} ms"


async def _probe_tts(speech: cfg.SpeechSettings) -> str:
    if speech.tts == "azure":
        from media_worker.engines.azure_tts import AzureTts

        tts = AzureTts(speech)
        where = speech.endpoint or f"region {speech.region}"
    else:
        from media_worker.engines.piper_tts import PiperTts

        tts, where = PiperTts(pool_size=1), "piper (child process), on this machine"
    await tts.start()
    t0 = time.perf_counter()
    try:
        async for chunk in tts.synthesize("Hello.", 16000):
            if chunk:
                break
        else:
            raise RuntimeError("no audio came back")
    finally:
        await tts.close()
    return f"{where}: first audio in {(time.perf_counter() - t0) * 1000:.0f} ms"


async def _probe_llm(llm: cfg.LlmSettings) -> str:
    from agents.llm import make_client
    from agents.router import load_router

    router = load_router(llm.router_file, llm.deployments)
    client = make_client(llm)
    names = list(router.deployments)
    where = llm.base_url or llm.endpoint
    answered = []
    try:
        for name in names:
            try:
                stream = await client.chat.completions.create(  # streamed, as the agents use it
                    model=name, messages=[{"role": "user", "content": "Say OK."}], max_tokens=1, stream=True
                )
                async for _ in stream:
                    pass
            except Exception as exc:
                raise RuntimeError(f"{where}, deployment {name}: {type(exc).__name__}: {exc}") from exc
            answered.append(name)
    finally:
        await client.close()
    return f"{where}: {len(answered)} deployment(s) answered ({', '.join(answered)})"


async def _probe_local_dialog(agents_dir: Path | None) -> str:
    """Open the offline form engine on every agent and have it greet, as a call would."""
    from agents.engines import engine_builder
    from agents.spec import list_agents, load_agent
    from agents.tools import default_registry

    build = engine_builder("local", default_registry())
    names = list_agents(agents_dir)
    for name in names:
        if not build(load_agent(name, agents_dir)).greeting().strip():
            raise RuntimeError(f"agent {name} has nothing to say")
    return f"offline form engine: a dialog opens and greets for each of {len(names)} agent(s)"


async def _probe_store(store_settings: cfg.StoreSettings) -> str:
    from rtagent.state import open_store

    store = open_store(store_settings)
    try:
        return await store.ping()
    finally:
        await store.close()


async def _probe_agents(agents_dir: Path | None) -> str:
    from agents.spec import list_agents, load_agent
    from functions.routing import load_routing

    names = list_agents(agents_dir)
    for name in names:
        load_agent(name, agents_dir)
    load_routing(None)
    return f"{len(names)} agent(s) and the routing table load: {', '.join(names)}"


# --- the checks ---------------------------------------------------------------------------------------------


async def run_checks(env: dict[str, str] | None = None) -> list[Check]:
    """Every check, in order: settings that do not parse are reported without probing that part."""
    checks: list[Check] = []
    worker = cfg.WorkerSettings.from_env(env)
    checks.append(await _run("agents", "YAML", lambda: _probe_agents(worker.agents_dir)))

    try:
        speech = cfg.SpeechSettings.from_env(env)
    except cfg.SettingsError as exc:
        checks += [_setup_failed("stt", "?", exc), _setup_failed("tts", "?", exc)]
    else:
        checks.append(await _run("stt", speech.stt, lambda: _probe_stt(speech)))
        checks.append(await _run("tts", speech.tts, lambda: _probe_tts(speech)))

    try:
        kind = cfg.dialog_kind(env)
        llm = cfg.LlmSettings.from_env(env) if kind == "llm" else None
    except cfg.SettingsError as exc:
        checks.append(_setup_failed("dialog", "?", exc))
    else:
        if llm is not None:
            checks.append(await _run("dialog", "llm", lambda: _probe_llm(llm)))
        else:
            checks.append(await _run("dialog", "local", lambda: _probe_local_dialog(worker.agents_dir)))

    try:
        store = cfg.StoreSettings.from_env(env)
    except cfg.SettingsError as exc:
        checks.append(_setup_failed("store", "?", exc))
    else:
        checks.append(await _run("store", store.kind, lambda: _probe_store(store)))

    try:
        control = cfg.ControlSettings.from_env(env)
    except cfg.SettingsError as exc:
        checks.append(
            Check("control plane", "-", "skip", f"not configured here ({exc}); the local stack sets its own")
        )
    else:
        where = control.acs_endpoint or "ACS connection string"
        checks.append(
            Check("control plane", "azure", "ok", f"settings parse: {where}; media {control.media_url}")
        )
    return checks


def format_checks(checks: list[Check]) -> str:
    width = max(len(c.part) for c in checks)
    impl = max(len(c.implementation) for c in checks)
    lines = []
    for c in checks:
        mark = {"ok": "ok  ", "fail": "FAIL", "skip": "skip"}[c.status]
        lines.append(f"{mark}  {c.part:<{width}}  {c.implementation:<{impl}}  {c.detail}")
    failed = [c.part for c in checks if c.status == "fail"]
    lines.append(f"\n{'all parts answer' if not failed else 'not answering: ' + ', '.join(failed)}")
    return "\n".join(lines)


def as_json(checks: list[Check]) -> list[dict[str, object]]:
    return [asdict(c) for c in checks]
