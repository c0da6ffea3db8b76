"""The LLM dialog engine: a chat model fills the agent's record through tools, streaming its reply.

``LlmEngine(spec, client, router, tools)`` runs one call against an OpenAI-compatible Chat Completions
endpoint (Azure OpenAI or any ``base_url``; ``make_client(settings)`` builds the client). Per caller turn:

* the system prompt is the agent's ``instructions`` plus a generated section: how to talk on the phone, the
  record fields (description, type, required, confirm), the record so far and today's date;
* the model sees ``update_record`` (schema from ``agents.values.json_schema_for_record``), the agent's own
  tools that are not validation or completion tools (schemas from ``ToolRegistry.schema``),
  ``transfer_to_human`` and ``end_call``;
* ``update_record`` values go through ``agents.values.coerce``; a bad value goes back to the model as the
  tool result's error (so it asks again) and a field's ``validate:`` tool runs first (its ``ToolError``
  rejects the value with the tool's message). A ``confirm: true`` field is held until the model saves the same
  value again in a later turn, after reading it back. ``escalate_if``, ``derive`` fields and call ``rules``
  apply after each update, as in the form engine; once every required field is filled, ``on_complete`` (or
  ``handoff``) runs and its line is said;
* the reply streams: each clause is yielded as soon as it ends, while the model is still writing. Tool calls
  arrive in fragments and are reassembled; several in one response run concurrently; after tool results the
  model is called again, up to ``max_tool_rounds`` times;
* each model call goes to the router's deployments in order: 408/409/429/5xx and connection errors are
  retried with backoff honouring ``retry-after-ms``/``retry-after``; a deployment that keeps failing is
  skipped for the next deployment (and cooled down for later turns). The client's own retries must be off
  (``max_retries=0``): this policy is the only one;
* a turn that takes longer than ``turn_timeout_s`` (model and tools together) ends with a spoken recovery
  line (``phrases.error`` + "Could you say that again?"); the call goes on. After ``max_failed_turns`` such
  turns in a row the call is escalated;
* ``state.usage`` gets one entry per model call (failed attempts included, with ``error``): turn, kind,
  deployment, model, tokens, estimated cost (USD), time to first token (ms).

Concurrency: the model and tools run in one task per turn, which feeds the clauses to ``reply``; cancelling
the iteration (barge-in) cancels that task. Nothing blocks the event loop (sync tools run in threads, the
Entra ID token provider too).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI

from agents.dialog import DialogEngine, DialogState, Message, Outcome
from agents.extract import speak_value, split_clauses, yes_no
from agents.router import Deployment, Router, TurnKind, estimate_cost
from agents.spec import AgentSpec, AgentSpecError, FieldSpec, Problem, placeholders, transfer_address
from agents.tools import GENERIC_FAILURE, ToolError, ToolRegistry, ToolUnavailable, default_registry
from agents.values import (
    RecordRules,
    coerce,
    escalates,
    hand_over,
    json_schema_for_record,
    keep_tool_results,
    progress,
    render,
)
from rtagent.settings import DEFAULT_API_VERSION, LlmSettings, SettingsError

__all__ = [
    "DEFAULT_API_VERSION",
    "RECOVERY_QUESTION",
    "ClauseSplitter",
    "LlmConfigError",
    "LlmEngine",
    "LlmSettings",
    "ModelUnavailable",
    "RetryPolicy",
    "make_client",
    "retry_after_s",
]

log = logging.getLogger(__name__)

RECOVERY_QUESTION = "Could you say that again?"
UPDATE_RECORD = "update_record"
TRANSFER = "transfer_to_human"
END_CALL = "end_call"
_BUILT_IN_TOOLS = (UPDATE_RECORD, TRANSFER, END_CALL)


# ------------------------------------------------------------------------------------------- the client


LlmConfigError = SettingsError
"""The LLM endpoint settings cannot make a client (missing endpoint, key or package)."""


def _entra_token_provider(scope: str) -> Callable[[], Any]:
    """An async bearer-token provider over ``DefaultAzureCredential``; the credential's (blocking) token
    requests run in a worker thread. ``azure.identity`` is imported here, so the package stays optional."""
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    except ImportError as e:
        raise LlmConfigError(
            "Entra ID auth (RTAGENT_LLM_AUTH=entra, or no AZURE_OPENAI_API_KEY) needs the azure-identity "
            "package: pip install azure-identity (or set AZURE_OPENAI_API_KEY to use a key)"
        ) from e
    sync_provider = get_bearer_token_provider(DefaultAzureCredential(), scope)

    async def provider() -> str:
        return await asyncio.to_thread(sync_provider)

    return provider


def make_client(settings: LlmSettings) -> AsyncOpenAI:
    """An async client for ``settings``: ``AsyncOpenAI`` for a ``base_url``, else ``AsyncAzureOpenAI``
    (API key or Entra ID). The client's own retries are off (``max_retries=0``): the engine retries.
    Raises ``LlmConfigError`` for a missing endpoint or key, or Entra ID without ``azure-identity``."""
    timeout = settings.request_timeout_s
    if settings.base_url:
        if not settings.api_key:
            raise LlmConfigError("RTAGENT_LLM_BASE_URL needs an API key (RTAGENT_LLM_API_KEY)")
        return AsyncOpenAI(
            base_url=settings.base_url, api_key=settings.api_key, max_retries=0, timeout=timeout
        )
    if not settings.endpoint:
        raise LlmConfigError(
            "no model endpoint: set AZURE_OPENAI_ENDPOINT (Azure OpenAI) or RTAGENT_LLM_BASE_URL "
            "(an OpenAI-compatible server)"
        )
    auth = settings.auth or ("key" if settings.api_key else "entra")
    if auth == "key":
        if not settings.api_key:
            raise LlmConfigError("RTAGENT_LLM_AUTH=key needs AZURE_OPENAI_API_KEY")
        return AsyncAzureOpenAI(
            azure_endpoint=settings.endpoint,
            api_key=settings.api_key,
            api_version=settings.api_version,
            max_retries=0,
            timeout=timeout,
        )
    return AsyncAzureOpenAI(
        azure_endpoint=settings.endpoint,
        azure_ad_token_provider=_entra_token_provider(settings.entra_scope),
        api_version=settings.api_version,
        max_retries=0,
        timeout=timeout,
    )


# -------------------------------------------------------------------------------------------- retries


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How model calls are retried and when a deployment is given up for the next one.

    ``attempts`` per deployment (retryable errors only); between them, the server's ``retry-after-ms`` /
    ``retry-after`` or else ``base_delay_s`` doubling per attempt (with up to 25 % jitter). A wait longer than
    ``max_delay_s`` (s) moves to the next deployment at once. A deployment that used up its attempts goes to
    the back of the line for ``cooldown_s`` (s).
    """

    attempts: int = 2
    base_delay_s: float = 0.25
    max_delay_s: float = 2.0
    cooldown_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.cooldown_s < 0:
            raise ValueError("delays must not be negative")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before retry number ``attempt`` (0-based) (s)."""
        if retry_after is not None:
            return max(retry_after, 0.0)
        return self.base_delay_s * (2**attempt) * (1 - 0.25 * random.random())


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """The wait a response asks for (s): ``retry-after-ms`` (Azure), else ``retry-after`` in seconds or as
    an HTTP date; None if absent or unreadable."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) / scale
        except ValueError:
            if name == "retry-after-ms":
                continue
            try:
                when = parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max((when - datetime.now(UTC)).total_seconds(), 0.0)
        if math.isfinite(value) and value >= 0:
            return value
    return None


def _classify(exc: BaseException) -> tuple[bool, float | None, str]:
    """(retryable, the server's retry-after in s, a short label for the usage log)."""
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status in (408, 409, 429) or status >= 500
        return retryable, retry_after_s(exc.response.headers), f"HTTP {status}"
    if isinstance(exc, openai.APITimeoutError):
        return True, None, "request timeout"
    if isinstance(exc, openai.APIConnectionError):
        return True, None, "connection error"
    if isinstance(exc, openai.APIError):  # an error event in the middle of a stream
        return True, None, f"stream error: {exc.message}"
    return False, None, f"{type(exc).__name__}: {exc}"


class ModelUnavailable(Exception):
    """No deployment gave an answer for a model call (or one failed after part of it was spoken)."""


# ----------------------------------------------------------------------------------------- streaming


_ABBREVIATIONS = frozenset({"Dr", "Mr", "Mrs", "Ms", "St", "Jr", "Sr", "Mt"})
_HARD_END_RE = re.compile(r"[.?!]+[\"')\]]*(?=\s)|\n")
_SOFT_END_RE = re.compile(r"[,;:](?=\s)")
_MARKUP_RE = re.compile(r"[*`]+|^\s*(?:#+|[-•]|\d+\.)\s+")


def _speakable(text: str) -> str:
    """A clause as it should be spoken: markdown emphasis, headings and list bullets dropped."""
    return " ".join(_MARKUP_RE.sub("", text).split())


class ClauseSplitter:
    """Cuts streamed text into speakable clauses as soon as each one ends.

    ``feed(delta)`` returns the clauses completed so far: a sentence end (``.?!``) counts once the next
    character (a space) has arrived, so "3." followed by "50" is not cut; abbreviations ("Dr.") and dotted
    initials ("P.A.") are not ends. A line break always is. Text running longer than ``soft_limit`` characters
    without an end is cut after its last comma, semicolon or colon so speech can start. ``flush()`` returns
    the rest at the end of the stream.
    """

    def __init__(self, soft_limit: int = 120) -> None:
        self._buf = ""
        self._soft_limit = soft_limit

    def feed(self, text: str) -> list[str]:
        self._buf += text
        out: list[str] = []
        while (cut := self._next_cut()) is not None:
            piece, self._buf = self._buf[:cut], self._buf[cut:]
            clause = _speakable(piece)
            if clause:
                out.append(clause)
        return out

    def flush(self) -> list[str]:
        clause = _speakable(self._buf)
        self._buf = ""
        return [clause] if clause else []

    def _next_cut(self) -> int | None:
        for m in _HARD_END_RE.finditer(self._buf):
            if m.group(0) == "\n":
                return m.end()
            words = self._buf[: m.start()].split()
            last = words[-1] if words else ""
            if m.group(0) == "." and (
                last in _ABBREVIATIONS or re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", last) is not None
            ):
                continue
            return m.end()
        if len(self._buf) > self._soft_limit:
            soft = [m.end() for m in _SOFT_END_RE.finditer(self._buf) if m.end() >= 20]
            if soft:
                return soft[-1]
        return None


@dataclass(slots=True)
class _ToolCall:
    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(slots=True)
class _Response:
    """One model call's result, filled while it streams."""

    text: list[str] = field(default_factory=list)
    calls: dict[int, _ToolCall] = field(default_factory=dict)
    usage: tuple[int, int] | None = None
    first_token_ms: float | None = None
    emitted: bool = False
    """Whether any clause of it was handed on to be spoken (then it cannot be retried)."""
    finish_reason: str | None = None

    @property
    def tool_calls(self) -> list[_ToolCall]:
        return [self.calls[i] for i in sorted(self.calls)]


class _Stop(Exception):
    """Internal: the turn ends with ``lines`` (an escalation, a hang-up, the completion)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("stop")
        self.lines = lines


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _function(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


_REASON_SCHEMA = {
    "type": "object",
    "properties": {"reason": {"type": "string", "description": "Why, in a few words."}},
    "required": ["reason"],
}


# ------------------------------------------------------------------------------------------- the engine


class LlmEngine(DialogEngine):
    """One call with an LLM (see the module docstring).

    Inputs: ``spec``; ``client`` (``AsyncOpenAI`` or ``AsyncAzureOpenAI``, made with ``max_retries=0``);
    ``router``; ``tools`` (default ``default_registry()``; must hold every tool the spec lists, else
    ``AgentSpecError``, as must the ``model:`` hints name router tiers); ``today``; ``turn_timeout_s`` (hard
    limit per caller turn, s); ``retry``; ``max_tool_rounds`` (model calls after tool results per turn; the
    last one may not call tools); ``max_failed_turns`` (recovery lines in a row before escalating);
    ``request_model``: what goes in the request's ``model`` (``name``: the deployment name, as Azure wants;
    ``model``: the model name; ``auto``: the name for an Azure client, else the model); ``temperature`` and
    ``max_completion_tokens`` are passed when set. Outputs: the reply clauses and ``state``.
    """

    def __init__(
        self,
        spec: AgentSpec,
        client: AsyncOpenAI,
        router: Router,
        tools: ToolRegistry | None = None,
        *,
        today: date | None = None,
        turn_timeout_s: float = 8.0,
        retry: RetryPolicy | None = None,
        max_tool_rounds: int = 4,
        max_failed_turns: int = 3,
        request_model: Literal["auto", "name", "model"] = "auto",
        temperature: float | None = None,
        max_completion_tokens: int | None = None,
    ) -> None:
        self.spec = spec
        self.client = client
        self.router = router
        self.tools = tools if tools is not None else default_registry()
        self.today = today if today is not None else date.today()
        if not turn_timeout_s > 0:
            raise ValueError(f"turn_timeout_s must be positive, got {turn_timeout_s}")
        self.turn_timeout_s = turn_timeout_s
        self.retry = retry or RetryPolicy()
        self.max_tool_rounds = max(1, max_tool_rounds)
        self.max_failed_turns = max(1, max_failed_turns)
        if request_model == "auto":
            request_model = "name" if isinstance(client, AsyncAzureOpenAI) else "model"
        self._request_model = request_model
        self.temperature = temperature
        self.max_completion_tokens = max_completion_tokens
        self._check(spec)
        self.state = DialogState(agent=spec.name, agents=[spec.name])
        self._fields = dict(spec.asked_fields())
        self._required = [name for name, f in self._fields.items() if f.required]
        self._rules = RecordRules.of(spec)
        helpers = {f.validate_with for f in spec.record.values() if f.validate_with}
        if spec.on_complete is not None and spec.on_complete.tool:
            helpers.add(spec.on_complete.tool)
        self._exposed = [t for t in spec.tools if t not in helpers]
        self._tool_specs = self._declare_tools()
        self._messages: list[dict[str, Any]] = []
        """The conversation as the model sees it (without the system prompt, which is made per call)."""
        self._pending: dict[str, tuple[Any, int]] = {}
        """Confirm fields saved once: value and the turn it was saved in (confirmed by a later save)."""
        self._declined: set[str] = set()
        """Fields the caller could not or would not give (optional ones at once, required ones twice)."""
        self._nulls: dict[str, int] = {}
        self._failures: dict[str, int] = {}
        self._fired: set[int] = set()
        self._context: dict[str, Any] = {}
        """Results of the tools called so far (e.g. the policy holder), merged."""
        self._turns = 0
        self._silences = 0
        self._failed_turns = 0
        self._stop_lines: list[str] | None = None
        self._said: list[str] = []
        """Clauses said in the current turn and not yet in ``_messages``."""
        self._task: asyncio.Task[None] | None = None
        self._heard: str | None = None
        self._cooldown: dict[str, float] = {}

    def _check(self, spec: AgentSpec) -> None:
        registered = ", ".join(self.tools.names()) or "none"
        problems = [
            Problem("tools", f"tool {t!r} is not registered (registered: {registered})")
            for t in spec.tools
            if t not in self.tools
        ]
        problems += [
            Problem("tools", f"tool {t!r} clashes with the LLM engine's built-in tool of that name")
            for t in spec.tools
            if t in _BUILT_IN_TOOLS
        ]
        problems += [Problem(where, msg) for where, msg in self.router.check_hints(spec.model)]
        if problems:
            raise AgentSpecError(spec.source, problems)

    # ------------------------------------------------------------------------------------------ public API

    def greeting(self) -> str:
        """The YAML greeting and the first question, word for word (no model call; ``AgentSpec.opening``)."""
        text = self.spec.opening()
        self.state.history.append(Message("agent", text))
        self._messages.append({"role": "assistant", "content": text})
        return text

    async def reply(self, caller_text: str) -> AsyncIterator[str]:
        """Answer one caller turn, clause by clause as the model writes it (see the module docstring)."""
        await self._settle()
        self.state.history.append(Message("caller", caller_text))
        if self.state.outcome.action != "continue":
            return
        self._turns += 1
        text = caller_text.strip()
        lines = self._without_model(text)
        if lines is not None:
            message: Message | None = None
            for clause in (c for line in lines for c in split_clauses(line)):
                message = self._spoken(message, clause)
                yield clause
            return
        self._messages.append({"role": "user", "content": text})
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        task = self._task = asyncio.create_task(self._work(queue))
        message = None
        try:
            while (clause := await queue.get()) is not None:
                message = self._spoken(message, clause)
                yield clause
        finally:
            if not task.done():
                task.cancel()  # barge-in: stop the model and tools (this turn's, never a later one's)

    async def take_over(self, previous: DialogState) -> AsyncIterator[str]:
        """Continue a call another agent started: its history becomes the model's conversation so far, its
        record values that fit this agent's fields are kept (those that do not coerce are dropped), then the
        first field still open is asked (the greeting if none is)."""
        self.state.history[:0] = previous.history
        self.state.caller_history = previous.caller_history
        self.state.agents[:0] = previous.agents or [previous.agent]
        carried = [
            {"role": "assistant" if m.role == "agent" else "user", "content": m.text}
            for m in previous.history
        ]
        self._messages[:0] = [m for m in carried if m["content"]]
        for name, value in previous.record.items():
            f = self.spec.record.get(name)
            if f is None or name in self.state.record:
                continue
            try:
                self.state.record[name] = coerce(f, value, self.today, name=name)
            except ValueError:
                # The field only, never its value: logs are exported (rtagent.telemetry, PII).
                log.info("take_over: dropped %s (its value does not fit this agent's field)", name)
        still_open = [(n, f) for n, f in self.spec.asked_fields() if n not in self.state.record]
        line = still_open[0][1].question(still_open[0][0]) if still_open else self.spec.greeting
        self.state.history.append(Message("agent", line))
        self._messages.append({"role": "assistant", "content": line})
        for clause in split_clauses(line):
            yield clause

    def interrupted(self, heard: str) -> None:
        """Cut the last agent message to ``heard``, and stop the turn's model work if it still runs."""
        super().interrupted(heard)
        self._heard = heard
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def is_complete_answer(self, caller_text: str) -> bool:
        """A yes or no while a read-back is pending ends the turn early."""
        return bool(self._pending) and yes_no(caller_text) is not None

    def fixed_phrases(self) -> list[str]:
        """The greeting and the lines this engine says word for word (recovery, silence, escalation, ...)."""
        p = self.spec.phrases
        texts = [
            self.spec.opening(), p.error, RECOVERY_QUESTION, p.silence, p.silence_hangup, p.silence_transfer,
            p.goodbye, p.give_up, p.closing, self.spec.escalation.say,
        ]  # fmt: skip
        texts += [self.tools.get(t).filler for t in self.spec.tools if self.tools.get(t).filler]
        out: list[str] = []
        for text in texts:
            for piece in [text, *split_clauses(text)]:
                if piece and not placeholders(piece) and piece not in out:
                    out.append(piece)
        return out

    # ------------------------------------------------------------------------------------------ one turn

    def _spoken(self, message: Message | None, clause: str) -> Message:
        """Add a clause to the turn's agent message in the history (created with the first clause)."""
        if message is None:
            message = Message("agent", clause)
            self.state.history.append(message)
        else:
            message.text = f"{message.text} {clause}"
        return message

    async def _settle(self) -> None:
        """Before a new turn: let an interrupted turn's work finish cancelling, then cut the model's copy of
        the interrupted reply to what the caller heard."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        if self._heard is not None:
            self._cut_messages(self._heard)
            self._heard = None

    def _cut_messages(self, heard: str) -> None:
        last_user = max((i for i, m in enumerate(self._messages) if m["role"] == "user"), default=-1)
        remaining = heard.strip()
        keep: list[dict[str, Any]] = []
        for m in self._messages[last_user + 1 :]:
            content = m.get("content") or ""
            if m["role"] == "assistant" and content:
                if remaining.startswith(content):
                    remaining = remaining[len(content) :].strip()
                else:
                    m["content"] = remaining or None
                    remaining = ""
                if not m.get("content") and not m.get("tool_calls"):
                    continue
            keep.append(m)
        self._messages[last_user + 1 :] = keep

    def _without_model(self, text: str) -> list[str] | None:
        """The reply when no model call is needed (silence, too many turns), else None."""
        p = self.spec.phrases
        limits = self.spec.limits
        if not text:
            self._silences += 1
            if self._silences <= limits.silence_reprompts:
                return [p.silence]
            if limits.on_silence == "escalate":
                return self._escalate("no response from caller", [p.silence_transfer])
            return self._hang_up("no response from caller", [p.silence_hangup])
        self._silences = 0
        if self._turns > limits.max_turns:
            return self._escalate("too many turns", [p.give_up])
        return None

    async def _work(self, out: asyncio.Queue[str | None]) -> None:
        """The turn's model and tool work, in its own task; clauses go to ``out``, then None."""
        self._said = []
        self._stop_lines = None

        def say(text: str) -> None:
            for clause in split_clauses(text):
                self._said.append(clause)
                out.put_nowait(clause)

        try:
            try:
                async with asyncio.timeout(self.turn_timeout_s):
                    await self._converse(say)
                self._failed_turns = 0
            except _Stop as stop:
                self._failed_turns = 0
                for line in stop.lines:
                    say(line)
            except (TimeoutError, ModelUnavailable) as e:
                log.warning("turn %d: %s", self._turns, e if str(e) else "timed out")
                for line in self._recovery():
                    say(line)
            except Exception:
                log.exception("turn %d failed", self._turns)
                for line in self._recovery():
                    say(line)
        finally:
            if self._said:
                self._messages.append({"role": "assistant", "content": " ".join(self._said)})
                self._said = []
            out.put_nowait(None)

    def _recovery(self) -> list[str]:
        self._failed_turns += 1
        p = self.spec.phrases
        if self._failed_turns >= self.max_failed_turns:
            return self._escalate("the model is not answering", [p.error])
        return [p.error, RECOVERY_QUESTION]

    def _turn_kind(self) -> TurnKind:
        if self._pending:
            return "confirmation"
        if self._required and self._progress() >= 1.0:
            return "completion"
        if self._turns == 1 and not self.state.record:
            return "greeting"
        return "answer"

    def _progress(self) -> float:
        return progress(self.spec, self.state.record, self._declined)

    async def _converse(self, say: Callable[[str], None]) -> None:
        kind: TurnKind = self._turn_kind()
        for round_no in range(self.max_tool_rounds + 1):
            last = round_no == self.max_tool_rounds
            resp = await self._call_model(kind, say, tool_choice="none" if last else None)
            calls = resp.tool_calls
            if not calls:
                return
            spoke = bool(self._said)
            results = await asyncio.gather(*(self._run_tool(call, say, spoke) for call in calls))
            self._messages.append(
                {
                    "role": "assistant",
                    "content": " ".join(self._said) or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        }
                        for c in calls
                    ],
                }
            )
            self._said = []
            self._messages.extend(
                {"role": "tool", "tool_call_id": c.id, "content": r}
                for c, r in zip(calls, results, strict=True)
            )
            if self._stop_lines is not None:
                raise _Stop(self._stop_lines)
            if any(c.name == UPDATE_RECORD for c in calls) and self._complete_now():
                raise _Stop(await self._complete())
            kind = "tool_planning"

    # ------------------------------------------------------------------------------------------ model calls

    def _system_prompt(self) -> str:
        spec = self.spec
        today = self.today
        out: list[str] = []
        if spec.instructions.strip():
            out.append(spec.instructions.strip())
        else:
            out.append(f"You are the {spec.name} phone agent. {spec.description}".strip())
        out += [
            "",
            "## On this call",
            "- You are on a phone call: everything you write is spoken aloud by a speech synthesizer. "
            "Use short, plain spoken sentences. No lists, markdown, emoji or symbols.",
            "- Ask one question at a time and wait for the answer.",
            f"- Save each value with {UPDATE_RECORD} as soon as the caller gives it; save several at once "
            "when the caller volunteers them. Never invent values.",
            "- Fields marked confirm: read back fields marked confirm before saving them as confirmed. "
            f"After the first save, read the value back as {UPDATE_RECORD} tells you and ask if it is "
            "right; when the caller says yes, save the same value again; if they correct it, save the "
            "corrected value.",
            f"- If {UPDATE_RECORD} reports an error for a field, briefly say what is needed and ask again.",
            "- If the caller does not know a value or will not give it, save null for that field.",
            f"- If the caller asks for a person, or the situation needs one, call {TRANSFER}. If the caller "
            f"wants to end the call, call {END_CALL}.",
            "- Once every required field is saved the call is wrapped up for you: do not say goodbye then.",
            f"- Today is {today.strftime('%A')}, {today.isoformat()}.",
        ]
        if self._fields:
            out += ["", "## Record fields (ask in this order)"]
            for name, f in self._fields.items():
                flags = [
                    f.type,
                    "required" if f.required else "optional",
                    *(["confirm"] if f.confirm else []),
                ]
                line = f"- {name} ({', '.join(flags)}): {(f.description or f.label(name)).rstrip('.')}."
                if f.values:
                    line += f" One of: {', '.join(ev.value for ev in f.values)}."
                out.append(f'{line} Ask: "{f.question(name)}"')
            out += ["", "## Record so far"]
            for name, f in self.spec.record.items():
                if name in self.state.record:
                    out.append(f"- {name} = {_json(self.state.record[name])}")
                elif name in self._pending:
                    value = self._pending[name][0]
                    spoken = speak_value(f.type, value, today)
                    out.append(f"- {name} = {_json(value)}: not confirmed yet (read back as {spoken!r})")
                elif name in self._declined:
                    out.append(f"- {name}: the caller does not know")
            missing = [n for n, f in self._fields.items() if self._open(n)]
            out.append(f"Still needed: {', '.join(missing)}." if missing else "Every field is saved.")
        if self.state.caller_history:
            out += [
                "",
                "## This caller's earlier calls",
                self.state.caller_history,
                "Use this to recognise the caller and their earlier case; confirm anything you reuse from it "
                "before saving it, and do not read it out unless it helps the caller.",
            ]
        if self._context:
            known = "; ".join(f"{k} = {_json(v)}" for k, v in self._context.items())
            out += ["", f"Known from tools: {known}"]
        return "\n".join(out)

    def _open(self, name: str) -> bool:
        return name not in self.state.record and name not in self._declined

    def _declare_tools(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self._fields:
            out.append(
                _function(
                    UPDATE_RECORD,
                    "Save record fields the caller gave (any subset). Returns what was saved, what to read "
                    "back, and errors to ask again about.",
                    json_schema_for_record(self.spec),
                )
            )
        for name in self._exposed:
            try:
                decl = self.tools.schema(name)
            except ValueError as e:
                raise AgentSpecError(self.spec.source, [Problem("tools", str(e))]) from None
            out.append(_function(decl["name"], decl.get("description") or name, decl["parameters"]))
        out.append(_function(TRANSFER, "Transfer the caller to a human.", _REASON_SCHEMA))
        out.append(_function(END_CALL, "End the call after saying goodbye.", _REASON_SCHEMA))
        return out

    def _deployments(self, kind: TurnKind) -> list[Deployment]:
        chosen = self.router.choose(kind, self._progress(), self.spec.model)
        now = asyncio.get_running_loop().time()
        healthy = [d for d in chosen if self._cooldown.get(d.name, 0.0) <= now]
        return healthy + [d for d in chosen if d not in healthy]

    async def _call_model(
        self, kind: TurnKind, say: Callable[[str], None], tool_choice: str | None
    ) -> _Response:
        """One model call with retries and fallbacks; clauses are said as they stream."""
        messages = [{"role": "system", "content": self._system_prompt()}, *self._messages]
        policy = self.retry
        loop = asyncio.get_running_loop()
        problems: list[str] = []
        for dep in self._deployments(kind):
            for attempt in range(policy.attempts):
                resp = _Response()
                t0 = time.perf_counter()
                try:
                    await self._stream(dep, messages, resp, say, tool_choice)
                except asyncio.CancelledError:
                    self._usage(dep, kind, resp, messages, t0, error="cancelled")
                    raise
                except Exception as exc:
                    retryable, after, label = _classify(exc)
                    self._usage(dep, kind, resp, messages, t0, error=label)
                    problems.append(f"{dep.name}: {label}")
                    if not retryable or not isinstance(exc, openai.OpenAIError):
                        log.warning("model call on %s failed: %s", dep.name, label, exc_info=exc)
                    if resp.emitted:
                        raise ModelUnavailable(f"{dep.name} failed mid-reply: {label}") from exc
                    if not retryable:
                        break
                    if attempt + 1 >= policy.attempts:
                        self._cooldown[dep.name] = loop.time() + policy.cooldown_s
                        break
                    wait = policy.delay(attempt, after)
                    if wait > policy.max_delay_s:
                        log.info("%s asks to wait %.1f s; trying the next deployment", dep.name, wait)
                        break
                    await asyncio.sleep(wait)
                else:
                    self._usage(dep, kind, resp, messages, t0)
                    return resp
        raise ModelUnavailable("no deployment answered (" + "; ".join(problems) + ")")

    async def _stream(
        self,
        dep: Deployment,
        messages: list[dict[str, Any]],
        resp: _Response,
        say: Callable[[str], None],
        tool_choice: str | None,
    ) -> None:
        kwargs: dict[str, Any] = {
            "model": dep.name if self._request_model == "name" else dep.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": self.turn_timeout_s,
        }
        if self._tool_specs:
            kwargs["tools"] = self._tool_specs
            if tool_choice is not None:
                kwargs["tool_choice"] = tool_choice
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.max_completion_tokens is not None:
            kwargs["max_completion_tokens"] = self.max_completion_tokens
        t0 = time.perf_counter()
        splitter = ClauseSplitter()

        def first() -> None:
            if resp.first_token_ms is None:
                resp.first_token_ms = (time.perf_counter() - t0) * 1000

        stream = await self.client.chat.completions.create(**kwargs)
        async with stream:
            async for chunk in stream:
                if chunk.usage is not None:
                    resp.usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    delta = choice.delta
                    if choice.finish_reason:
                        resp.finish_reason = choice.finish_reason
                    if delta is None:
                        continue
                    if delta.content:
                        first()
                        resp.text.append(delta.content)
                        for clause in splitter.feed(delta.content):
                            resp.emitted = True
                            say(clause)
                    for tc in delta.tool_calls or []:
                        first()
                        call = resp.calls.setdefault(tc.index, _ToolCall(tc.index))
                        if tc.id:
                            call.id = tc.id
                        fn = tc.function
                        if fn is not None:
                            if fn.name and fn.name != call.name:
                                call.name += fn.name  # whole in the first delta, or in pieces
                            call.arguments += fn.arguments or ""
        for clause in splitter.flush():
            resp.emitted = True
            say(clause)
        for call in resp.calls.values():
            call.id = call.id or f"call_{self._turns}_{call.index}"

    def _usage(
        self,
        dep: Deployment,
        kind: TurnKind,
        resp: _Response,
        messages: list[dict[str, Any]],
        t0: float,
        error: str | None = None,
    ) -> None:
        estimated = False
        if resp.usage is not None:
            prompt_tokens, completion_tokens = resp.usage
        elif error is None:  # the server sent no usage: about 4 characters a token
            estimated = True
            prompt_tokens = len(_json(messages)) // 4
            out_chars = sum(map(len, resp.text)) + sum(
                len(c.name) + len(c.arguments) for c in resp.calls.values()
            )
            completion_tokens = max(1, out_chars // 4)
        else:
            prompt_tokens = completion_tokens = 0
        self.state.usage.append(
            {
                "turn": self._turns,
                "kind": kind,
                "deployment": dep.name,
                "model": dep.model,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "cost_usd": estimate_cost(dep, prompt_tokens, completion_tokens),
                "first_token_ms": round(resp.first_token_ms, 1) if resp.first_token_ms is not None else None,
                "total_ms": round((time.perf_counter() - t0) * 1000, 1),
                "tokens_estimated": estimated,
                "error": error,
            }
        )

    # ------------------------------------------------------------------------------------------ tools

    async def _run_tool(self, call: _ToolCall, say: Callable[[str], None], spoke: bool) -> str:
        """Run one tool call; the tool message content (JSON) for the model. Never raises (but for
        cancellation): a broken tool is reported to the model like any failure, so the other calls of the
        same response keep their results."""
        try:
            return await self._tool_result(call, say, spoke)
        except Exception:
            log.exception("tool call %s failed", call.name)
            return _json({"error": GENERIC_FAILURE})

    async def _tool_result(self, call: _ToolCall, say: Callable[[str], None], spoke: bool) -> str:
        try:
            args = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError:
            return _json({"error": f"the arguments were not valid JSON: {call.arguments[:200]!r}"})
        if not isinstance(args, dict):
            return _json({"error": "the arguments must be a JSON object"})
        if call.name == UPDATE_RECORD and self._fields:
            return _json(await self._update_record(args, say))
        if call.name == TRANSFER:
            reason = str(args.get("reason") or "caller asked for a person")
            self._stop(self._escalate(reason, []))
            return _json({"ok": True, "note": "the caller is being transferred"})
        if call.name == END_CALL:
            reason = str(args.get("reason") or "caller ended the call")
            self._stop(self._hang_up(reason, [] if spoke else [self.spec.phrases.goodbye]))
            return _json({"ok": True, "note": "the call is ending"})
        if call.name not in self._exposed:
            known = ", ".join([UPDATE_RECORD, *self._exposed, TRANSFER, END_CALL])
            return _json({"error": f"there is no tool {call.name!r} (tools: {known})"})
        try:
            result = await self.tools.call_with_filler(call.name, say, **args)
        except ToolError as e:
            return _json({"error": e.message})
        self._context.update(result)
        return _json(result)

    async def _update_record(self, args: Mapping[str, Any], say: Callable[[str], None]) -> dict[str, Any]:
        saved: dict[str, Any] = {}
        read_back: dict[str, str] = {}
        errors: dict[str, str] = {}
        notes: list[str] = []
        for name, raw in args.items():
            f = self._fields.get(name)
            if f is None:
                errors[name] = f"{name} is not a field you can save (fields: {', '.join(self._fields)})"
                continue
            if raw is None:
                notes.append(self._decline(name, f))
                continue
            try:
                value = coerce(f, raw, self.today, name=name)
            except ValueError as e:
                errors[name] = str(e)
                self._failed(name)
                continue
            held = self._pending.get(name)
            if f.confirm and held is not None and held[0] == value and held[1] < self._turns:
                self._fill(name, value)  # the caller confirmed the read-back
                saved[name] = value
                continue
            if held is None and self.state.record.get(name) == value:
                saved[name] = value  # saved again as it is: nothing changes (a confirmed value stays so)
                continue
            if f.validate_with is not None:
                try:
                    result = await self.tools.call_with_filler(f.validate_with, say, **{name: value})
                except ToolUnavailable as e:
                    errors[name] = f"{name} could not be checked just now ({e.message}); tell the caller"
                    continue
                except ToolError as e:
                    errors[name] = e.message
                    self._failed(name)
                    continue
                self._context.update(result)
                if result.get(name) is not None:
                    value = result[name]
                for key, v in result.items():
                    g = self.spec.record.get(key)
                    if g is not None and g.set_by == f.validate_with and v is not None:
                        self.state.record[key] = v
            if f.confirm:
                self._pending[name] = (value, self._turns)
                self.state.record.pop(name, None)
                spoken = speak_value(f.type, value, self.today)
                read_back[name] = (
                    f"not saved yet: read it back as {spoken!r}, ask if it is right, and once the caller "
                    f"says yes save {name}={_json(value)} again"
                )
                continue
            self._fill(name, value)
            saved[name] = value
        result: dict[str, Any] = {}
        if saved:
            result["saved"] = saved
        if read_back:
            result["read_back"] = read_back
        if errors:
            result["errors"] = errors
        if notes:
            result["notes"] = notes
        result["still_needed"] = [n for n, f in self._fields.items() if f.required and self._open(n)]
        if self._stop_lines is not None:
            result["note"] = "the call is ending; say nothing more"
        return result

    def _decline(self, name: str, f: FieldSpec) -> str:
        self._pending.pop(name, None)
        if not f.required:
            self._declined.add(name)
            self._apply_rules()
            return f"{name} left empty"
        self._nulls[name] = self._nulls.get(name, 0) + 1
        if self._nulls[name] == 1:
            return f"{name} is required: ask the other questions first, then ask for it once more"
        self._declined.add(name)
        if name not in self.state.unknown:
            self.state.unknown.append(name)
        self._apply_rules()
        return f"{name} left empty: the caller does not know"

    def _failed(self, name: str) -> None:
        self._failures[name] = self._failures.get(name, 0) + 1
        if self._failures[name] >= self.spec.limits.max_field_failures:
            self._stop(self._escalate(f"could not capture {name}", [self.spec.phrases.give_up]))

    def _fill(self, name: str, value: Any) -> None:
        f = self.spec.record[name]
        self._pending.pop(name, None)
        self._declined.discard(name)
        self.state.record[name] = value
        if escalates(f, value):
            say = [self._render(f.escalate_say) or ""] if f.escalate_say else []
            reason = f"{self.spec.escalation.reason} ({name} = {value!r})"
            self._stop(self._escalate(reason, [s for s in say if s]))
        self._apply_rules()

    def _settled(self) -> set[str]:
        """Fields whose value is final for rules: in the record (filled, set by a tool or a rule) or given
        up on."""
        return set(self.state.record) | self._declined

    def _apply_rules(self) -> None:
        """Set derived fields that are now decided, then fire the first call rule that holds (once)."""
        record = self.state.record
        record.update(self._rules.derive(record, self._settled()))
        hit = self._rules.firing(record, self._settled(), self._fired)
        if hit is None:
            return
        index, rule = hit
        self._fired.add(index)
        say = [line for line in [self._render(rule.say) if rule.say else None] if line]
        if rule.action == "end":
            self._stop(self._hang_up(rule.reason, say))
        else:
            self._stop(self._escalate(rule.reason, say, target=transfer_address(rule.transfer)))

    def _complete_now(self) -> bool:
        return all(
            not f.required or name in self.state.record or name in self._declined
            for name, f in self._fields.items()
        )

    async def _complete(self) -> list[str]:
        """Every required field is in: hand over (``handoff``) or run ``on_complete`` and hang up."""
        spec = self.spec
        handoff = hand_over(spec, self.state.record)
        if handoff is not None:  # a front-door agent: its record says who takes the call
            self.state.outcome = handoff
            assert spec.handoff is not None
            return [line for line in [self._render(spec.handoff.say) if spec.handoff.say else None] if line]
        oc = spec.on_complete
        if oc is not None and oc.tool is not None:
            try:
                result = await self.tools.call(oc.tool, record=dict(self.state.record))
            except ToolUnavailable as e:
                return self._escalate(f"tool {oc.tool} failed: {e.message}", [spec.phrases.error])
            except ToolError as e:
                return self._escalate(f"tool {oc.tool} failed: {e.message}", [e.message])
            self._context.update(result)
            keep_tool_results(spec, self.state.record, result)
        line = (self._render(oc.say) if oc is not None else None) or spec.phrases.closing
        self.state.outcome = Outcome(action="hang_up", reason="completed")
        return [line]

    # ------------------------------------------------------------------------------------------ outcomes

    def _render(self, template: str) -> str | None:
        return render(template, self.spec, self.state.record, self._context, self.today)

    def _stop(self, lines: list[str]) -> None:
        """End the turn after the current tool round with ``lines`` (the first decision stands)."""
        if self._stop_lines is None:
            self._stop_lines = lines

    def _escalate(self, reason: str, lines: list[str], target: str = "") -> list[str]:
        """Set the outcome to escalate (if nothing was decided yet); the lines to say."""
        if self.state.outcome.action != "continue":
            return lines
        target = target or transfer_address(self.spec.escalation.transfer)
        self.state.outcome = Outcome(action="escalate", reason=reason, target=target)
        self.state.escalated = True
        return [*lines, self._render(self.spec.escalation.say) or self.spec.escalation.say]

    def _hang_up(self, reason: str, lines: list[str]) -> list[str]:
        if self.state.outcome.action != "continue":
            return lines
        self.state.outcome = Outcome(action="hang_up", reason=reason)
        return lines
