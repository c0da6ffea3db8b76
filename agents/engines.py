"""Which dialog engine runs an agent: configuration, not code.

``engine_builder(kind, tools)`` returns the function that makes a fresh engine for an agent spec:

* ``local`` (the default): the offline form engine, deterministic, no network;
* ``llm``: the LLM engine on the endpoint ``LlmSettings.from_env()`` describes (Azure OpenAI with a key or
  Entra ID, or any OpenAI-compatible ``RTAGENT_LLM_BASE_URL``), with the router of ``agents/router.yaml``.

The client and router are made once per builder (one per worker process) and shared by its calls.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from agents.dialog import DialogEngine
from agents.spec import AgentSpec
from agents.tools import ToolRegistry
from rtagent.settings import DIALOG_KINDS, DialogKind
from rtagent.settings import dialog_kind as dialog_kind_from_env

__all__ = ["DIALOG_KINDS", "DialogKind", "dialog_kind_from_env", "engine_builder"]


def engine_builder(
    kind: DialogKind, tools: ToolRegistry, today: date | None = None
) -> Callable[[AgentSpec], DialogEngine]:
    """A function making the ``kind`` engine for a spec, sharing ``tools`` (and, for ``llm``, one client)."""
    if kind == "local":
        from agents.form import FormEngine

        return lambda spec: FormEngine(spec, today=today, tools=tools)
    if kind != "llm":
        raise ValueError(f"unknown dialog engine {kind!r} (expected one of {', '.join(DIALOG_KINDS)})")
    from agents.llm import LlmEngine, LlmSettings, make_client
    from agents.router import load_router

    settings = LlmSettings.from_env()
    client = make_client(settings)
    router = load_router(settings.router_file, settings.deployments)

    def build(spec: AgentSpec) -> DialogEngine:
        return LlmEngine(spec, client, router, tools, today=today, turn_timeout_s=settings.turn_timeout_s)

    return build
