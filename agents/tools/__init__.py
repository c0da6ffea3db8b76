"""The tool registry: named functions an agent may call, e.g. to validate a field or file the finished record.

A tool is a plain function (sync or async) called with keyword arguments and returning a mapping (the tool's
result). It signals a failure the caller should hear about by raising ``ToolError`` with a short, speakable
message ("I couldn't find a policy with that number."). Conventions used by the form engine:

* a *validation* tool (a record field's ``validate:``) is called with the captured value as the keyword named
  after the field, e.g. ``lookup_policy(policy_number="PA44712")``;
* a *completion* tool (``on_complete.tool``) is called with ``record=`` the filled record; keys of its result
  that are record fields (e.g. ``claim_number``) are stored in the record.

What ``ToolRegistry.call`` adds around the function:

* **arguments** are checked against a schema derived from the function's signature and type hints (a
  generated pydantic model) *before* the call; a missing, unknown or ill-typed argument raises
  ``ToolArgumentError`` naming the argument and what was expected. ``schema(name)`` gives the same schema as
  an OpenAI function-calling declaration for LLM engines.
* **a timeout** per tool (``timeout_s``, 5 s by default): ``ToolTimeout`` when it passes. An async tool is
  cancelled; a sync tool runs in a worker thread (``asyncio.to_thread``, so it never blocks the event loop)
  and is abandoned, since a thread cannot be stopped: it finishes in the background and its result is dropped.
* **unexpected exceptions** become ``ToolFailed`` with a generic speakable message; the original is logged
  and kept as ``__cause__``. ``ToolTimeout`` and ``ToolFailed`` are both ``ToolUnavailable``: the tool could
  not give an answer, as opposed to a plain ``ToolError``, which *is* its answer ("no such policy").
* **a filler line**: ``call_with_filler`` hands the tool's ``filler`` ("One moment while I look that up.") to
  a callback once if the call is still running after ``slow_after_s``, for the engine to speak.

``default_registry()`` gives a fresh registry holding every built-in tool; tests and deployments can build
their own ``ToolRegistry`` instead. Nothing here keeps global mutable state.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import logging
import re
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

__all__ = [
    "DEFAULT_FILLER",
    "DEFAULT_TIMEOUT_S",
    "GENERIC_FAILURE",
    "TIMEOUT_MESSAGE",
    "Tool",
    "ToolArgumentError",
    "ToolError",
    "ToolFailed",
    "ToolFn",
    "ToolRegistry",
    "ToolTimeout",
    "ToolUnavailable",
    "default_registry",
]

logger = logging.getLogger(__name__)

ToolFn = Callable[..., Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
"""A tool implementation: keyword arguments in, a mapping (or an awaitable of one) out."""

DEFAULT_TIMEOUT_S = 5.0
"""How long a tool may run before ``ToolTimeout`` (s)."""
DEFAULT_FILLER = "One moment while I look that up."
"""What the agent says while a slow tool runs, unless the tool has its own line."""
GENERIC_FAILURE = "Sorry, I couldn't complete that just now."
"""The spoken message of ``ToolFailed`` (the tool raised something other than ``ToolError``)."""
TIMEOUT_MESSAGE = "Sorry, that's taking too long just now."
"""The spoken message of ``ToolTimeout``."""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------------------------------------- errors


class ToolError(Exception):
    """A tool could not do its job; ``message`` is a short sentence the agent can say to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ToolArgumentError(ToolError):
    """The arguments did not fit the tool's signature (raised before the tool runs).

    ``message`` lists every problem, each naming the argument and what was expected ("missing argument
    'policy_number' (expected a string)"); ``arguments`` holds the names of the arguments at fault.
    """

    def __init__(self, tool: str, problems: list[str], arguments: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.tool = tool
        self.problems = problems
        self.arguments = arguments


class ToolUnavailable(ToolError):
    """The tool gave no answer (it timed out or broke); unlike a plain ``ToolError`` this says nothing about
    the input, so a validation tool's value should not be treated as rejected."""


class ToolTimeout(ToolUnavailable):
    """The tool did not finish within its ``timeout_s``."""

    def __init__(self, tool: str, timeout_s: float, message: str = TIMEOUT_MESSAGE) -> None:
        super().__init__(message)
        self.tool = tool
        self.timeout_s = timeout_s


class ToolFailed(ToolUnavailable):
    """The tool raised an unexpected exception, kept as ``__cause__`` (and logged); ``message`` is generic."""

    def __init__(self, tool: str, message: str = GENERIC_FAILURE) -> None:
        super().__init__(message)
        self.tool = tool


# ------------------------------------------------------------------------------------------- arguments


def _doc_summary(doc: str) -> str:
    """The first paragraph of a docstring, on one line."""
    lines: list[str] = []
    for line in doc.strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines)


_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters)\s*:\s*$")
_DOC_PARAM = re.compile(r"^\s*\*{0,2}([A-Za-z_][A-Za-z0-9_]*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _doc_params(doc: str) -> dict[str, str]:
    """Argument descriptions from a Google-style ``Args:`` section (``name: text``, continued if indented)."""
    out: dict[str, str] = {}
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if _SECTION.match(line))
    except StopIteration:
        return out
    indent: int | None = None
    current: str | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        if indent is None:
            indent = width
        if width < indent or (width == indent and _DOC_PARAM.match(line) is None):
            break  # the section ended
        m = _DOC_PARAM.match(line)
        if width == indent and m is not None:
            current = m.group(1)
            out[current] = m.group(2).strip()
        elif current is not None:
            out[current] = f"{out[current]} {line.strip()}".strip()
    return out


def _unwrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The plain function behind a bound method, a partial or a callable object (for its hints and docs)."""
    while True:
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif inspect.ismethod(fn):
            fn = fn.__func__
        elif inspect.isfunction(fn):
            return fn
        else:  # a callable object: its class's __call__ (a plain function), if it has one
            call = getattr(type(fn), "__call__", None)  # noqa: B004
            if not inspect.isfunction(call):
                return fn
            fn = call


def _hints(fn: Callable[..., Any], params: Iterable[inspect.Parameter]) -> dict[str, Any]:
    """Resolved type hints of the parameters; one that cannot be resolved (a local name) becomes ``Any``."""
    target = _unwrap(fn)
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # a string annotation naming something out of reach: resolve one by one
        pass
    namespace = getattr(target, "__globals__", {})
    out: dict[str, Any] = {}
    for p in params:
        ann = p.annotation
        if isinstance(ann, str):
            try:
                ann = eval(ann, dict(namespace))  # annotations of registered, trusted code
            except Exception:
                ann = Any
        out[p.name] = ann
    return out


def _args_model(name: str, fn: Callable[..., Any]) -> type[BaseModel]:
    """A pydantic model of ``fn``'s keyword arguments: one field per parameter, aliased to the parameter name
    (field names are positional, so a parameter called ``json`` or ``copy`` cannot clash with the model's
    methods). Unknown arguments are refused unless ``fn`` takes ``**kwargs``."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    positional_only = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_ONLY]
    if positional_only:
        raise ValueError(
            f"tool {name!r}: tools are called with keywords; {positional_only} are positional-only"
        )
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    hints = _hints(fn, named)
    docs = _doc_params(inspect.getdoc(_unwrap(fn)) or "")
    fields: dict[str, Any] = {}
    for i, p in enumerate(named):
        ann = hints.get(p.name, Any) if p.annotation is not inspect.Parameter.empty else Any
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[f"a{i}"] = (ann, Field(default, alias=p.name, description=docs.get(p.name)))
    takes_more = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    config = ConfigDict(
        extra="allow" if takes_more else "forbid", arbitrary_types_allowed=True, loc_by_alias=True
    )
    model_name = "".join(part.capitalize() for part in name.split("_")) + "Arguments"
    return create_model(model_name, __config__=config, **fields)


def _arguments(name: str, fn: Callable[..., Any]) -> tuple[type[BaseModel], dict[str, Any] | None]:
    """``fn``'s argument model and its JSON schema (None if a type has no JSON form); cached per function, so
    a registry built per call (bound methods of fresh tool objects) does not rebuild its models."""
    if inspect.isfunction(fn):
        return _cached_arguments(name, fn, False)
    if inspect.ismethod(fn) and inspect.isfunction(fn.__func__):
        return _cached_arguments(name, fn.__func__, True)
    return _build_arguments(name, fn)


@functools.lru_cache(maxsize=512)
def _cached_arguments(
    name: str, func: Callable[..., Any], bound: bool
) -> tuple[type[BaseModel], dict[str, Any] | None]:
    if not bound:
        return _build_arguments(name, func)
    return _build_arguments(name, functools.partial(func, None))  # the signature without ``self``


def _build_arguments(name: str, fn: Callable[..., Any]) -> tuple[type[BaseModel], dict[str, Any] | None]:
    model = _args_model(name, fn)
    try:
        parameters: dict[str, Any] | None = _strip_titles(model.model_json_schema(by_alias=True))
    except Exception:  # an arbitrary type with no JSON form: checked, but not offered to LLMs
        logger.debug("tool %s: no JSON schema for its arguments", name, exc_info=True)
        parameters = None
    return model, parameters


def _strip_titles(node: Any) -> Any:
    """Remove pydantic's generated ``title`` keywords (noise in a prompt); property names are left alone."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                continue
            if key in ("default", "examples", "enum", "const"):
                out[key] = value
            elif key in ("properties", "$defs", "patternProperties"):
                out[key] = {k: _strip_titles(v) for k, v in value.items()}
            else:
                out[key] = _strip_titles(value)
        return out
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


_JSON_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def _expected(prop: Mapping[str, Any]) -> str:
    """A few words for what a JSON-schema property accepts ("a string", "one of 'a', 'b'")."""
    if "enum" in prop:
        return "one of " + ", ".join(repr(v) for v in prop["enum"])
    kind = prop.get("type")
    if isinstance(kind, str):
        return _JSON_TYPES.get(kind, kind)
    options = prop.get("anyOf")
    if isinstance(options, list):
        return " or ".join(_expected(o) for o in options)
    return "a value"


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------------------------------------ tools


@dataclass(frozen=True, slots=True)
class Tool:
    """One registered tool.

    Fields: ``name``; ``fn`` (the implementation); ``description`` (one paragraph, for logs and LLM
    engines); ``timeout_s`` (how long it may run, s); ``filler`` (said once when it runs longer than the
    registry's ``slow_after_s``; empty for none); ``args_model`` (the generated argument model, None to skip
    checking); ``parameters`` (the arguments' JSON schema, None if a type has no JSON form).
    """

    name: str
    fn: ToolFn
    description: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    filler: str = DEFAULT_FILLER
    args_model: type[BaseModel] | None = field(default=None, repr=False, compare=False)
    parameters: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def check(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments to call ``fn`` with, validated (and coerced, e.g. ``"5"`` → ``5`` for an ``int``).

        Only the arguments given are passed on, so the function's own defaults apply to the others.
        Raises ``ToolArgumentError`` naming every argument at fault and what it expected.
        """
        model = self.args_model
        if model is None:
            return dict(kwargs)
        try:
            m = model.model_validate(dict(kwargs))
        except ValidationError as e:
            raise self._argument_error(e, kwargs) from None
        given = m.model_fields_set
        out = {f.alias or attr: getattr(m, attr) for attr, f in model.model_fields.items() if attr in given}
        out.update(m.model_extra or {})
        return out

    def _argument_error(self, e: ValidationError, kwargs: Mapping[str, Any]) -> ToolArgumentError:
        props: Mapping[str, Any] = (self.parameters or {}).get("properties", {})
        known = ", ".join(repr(p) for p in props) or "none"
        problems: list[str] = []
        names: list[str] = []
        for err in e.errors():
            loc = [str(part) for part in err["loc"]]
            arg = loc[0] if loc else "?"
            where = ".".join(loc) or "?"
            names.append(arg)
            if err["type"] == "missing" and len(loc) == 1:
                problems.append(f"missing argument {arg!r} (expected {_expected(props.get(arg, {}))})")
            elif err["type"] == "extra_forbidden" and len(loc) == 1:
                problems.append(f"unexpected argument {arg!r} (known: {known})")
            else:
                msg = err["msg"][:1].lower() + err["msg"][1:]
                problems.append(f"argument {where!r}: {msg}, got {_short(err.get('input'))}")
        return ToolArgumentError(self.name, problems, list(dict.fromkeys(names)))

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-calling declaration: ``{"name", "description", "parameters"}``."""
        if self.parameters is None:
            raise ValueError(f"tool {self.name!r} has an argument type with no JSON schema")
        parameters = copy.deepcopy(self.parameters)  # the cached schema is shared between registries
        return {"name": self.name, "description": self.description, "parameters": parameters}


def _is_async(fn: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004
    return call is not None and inspect.iscoroutinefunction(call)


class ToolRegistry:
    """Name → tool. ``call`` checks the arguments, runs the tool under its timeout and checks the result.

    Inputs: optional initial ``{name: function}`` (registered with the defaults); ``slow_after_s``, how long
    a call may take before ``call_with_filler`` says the tool's filler line (s). Names must be identifiers
    and unique.
    """

    slow_after_s: float = 1.0
    """A call still running after this long gets its filler line said (``call_with_filler``) (s)."""

    def __init__(self, tools: Mapping[str, ToolFn] | None = None, *, slow_after_s: float = 1.0) -> None:
        self._tools: dict[str, Tool] = {}
        self.slow_after_s = slow_after_s
        for name, fn in (tools or {}).items():
            self.add(name, fn)

    def add(
        self,
        name: str,
        fn: ToolFn,
        description: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        filler: str = DEFAULT_FILLER,
    ) -> Tool:
        """Register ``fn`` as ``name``; returns the ``Tool``.

        The description defaults to the first paragraph of the docstring; argument descriptions in the
        schema come from its ``Args:`` section. Raises ``ValueError`` for a bad or taken name, a timeout
        that is not positive, or positional-only parameters.
        """
        if not _IDENT.match(name):
            raise ValueError(f"tool name must be an identifier (letters, digits, underscores), got {name!r}")
        if name in self._tools:
            raise ValueError(f"tool {name!r} is already registered")
        if not timeout_s > 0:
            raise ValueError(f"tool {name!r}: timeout_s must be positive, got {timeout_s!r}")
        if description is None:
            description = _doc_summary(inspect.getdoc(_unwrap(fn)) or "")
        model, parameters = _arguments(name, fn)
        tool = Tool(
            name=name,
            fn=fn,
            description=description,
            timeout_s=timeout_s,
            filler=filler,
            args_model=model,
            parameters=parameters,
        )
        self._tools[name] = tool
        return tool

    def tool(
        self,
        name: str | None = None,
        *,
        description: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        filler: str = DEFAULT_FILLER,
    ) -> Callable[[ToolFn], ToolFn]:
        """Decorator form of ``add``: ``@registry.tool()`` registers the function under its own name."""

        def register(fn: ToolFn) -> ToolFn:
            self.add(name or fn.__name__, fn, description, timeout_s=timeout_s, filler=filler)
            return fn

        return register

    def names(self) -> list[str]:
        """The registered tool names, in registration order."""
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool:
        """The tool called ``name``; ``KeyError`` naming the known tools if there is none."""
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(self._tools) or "none"
            raise KeyError(f"unknown tool {name!r} (known: {known})") from None

    def schema(self, name: str) -> dict[str, Any]:
        """Tool ``name`` as an OpenAI function-calling declaration ``{"name", "description", "parameters"}``
        (``parameters`` is a JSON schema). Raises ``KeyError`` for an unknown tool, ``ValueError`` if an
        argument type has no JSON schema."""
        return self.get(name).schema()

    def schemas(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """``schema`` of each of ``names`` (default: every tool), in that order."""
        return [self.schema(n) for n in (self._tools if names is None else names)]

    async def call(self, name: str, /, **kwargs: Any) -> dict[str, Any]:
        """Run tool ``name`` with ``kwargs``; returns its result as a new dict.

        A sync tool runs in a worker thread; an async one on the loop. Raises ``KeyError`` for an unknown
        tool, ``ToolArgumentError`` (before running it) for bad arguments, the tool's own ``ToolError``,
        ``ToolTimeout`` past its ``timeout_s``, ``ToolFailed`` for any other exception (logged; the original
        is ``__cause__``), and ``TypeError`` if it returned something other than a mapping (a bug in the
        tool, not a failure to tell the caller about).
        """
        tool = self.get(name)
        try:
            arguments = tool.check(kwargs)
        except ToolArgumentError as e:
            logger.info("tool %s: bad arguments: %s", name, e.message)
            raise
        timeout = asyncio.timeout(tool.timeout_s)
        try:
            async with timeout:
                result = await self._run(tool, arguments)
        except ToolError:
            raise
        except TimeoutError as e:
            if timeout.expired():
                logger.warning("tool %s: no result after %.1f s", name, tool.timeout_s)
                raise ToolTimeout(name, tool.timeout_s) from e
            logger.error("tool %s failed", name, exc_info=e)
            raise ToolFailed(name) from e
        except Exception as e:
            logger.error("tool %s failed", name, exc_info=e)
            raise ToolFailed(name) from e
        if not isinstance(result, Mapping):
            raise TypeError(f"tool {name!r} returned {type(result).__name__}, expected a mapping")
        return dict(result)

    @staticmethod
    async def _run(tool: Tool, arguments: dict[str, Any]) -> Any:
        if _is_async(tool.fn):
            return await tool.fn(**arguments)  # type: ignore[misc]
        result = await asyncio.to_thread(functools.partial(tool.fn, **arguments))
        if inspect.isawaitable(result):  # a sync function that hands back a coroutine
            result = await result
        return result

    async def call_with_filler(
        self,
        name: str,
        /,
        on_slow: Callable[[str], Awaitable[None] | None],
        **kwargs: Any,
    ) -> dict[str, Any]:
        """``call``, and if it has not finished after ``slow_after_s``, ``on_slow(tool.filler)`` once (awaited
        if it returns an awaitable) while the tool keeps running; no filler for a tool whose filler is empty.

        Returns and raises as ``call``. If ``on_slow`` raises, or this coroutine is cancelled, the tool call
        is cancelled too.
        """
        tool = self.get(name)
        task = asyncio.ensure_future(self.call(name, **kwargs))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.slow_after_s)
            if not done and tool.filler:
                said = on_slow(tool.filler)
                if inspect.isawaitable(said):
                    await said
            return await task
        finally:
            if not task.done():
                task.cancel()


def default_registry(data_dir: Path | str | None = None) -> ToolRegistry:
    """A new registry with every built-in tool.

    FNOL: ``lookup_policy``, ``file_claim``; triage: ``create_triage_note``, ``find_clinic``; legal intake:
    ``conflict_check``, ``create_intake``. Records the tools file go to a SQLite file in ``data_dir``: None
    means ``$RTAGENT_DATA_DIR``, else ``.rtagent`` under the current directory. Nothing is created until the
    first record is filed.
    """
    from agents.tools import fnol, legal, triage
    from agents.tools.store import RecordStore

    store = RecordStore(data_dir)
    registry = ToolRegistry()
    for register in (fnol.register, triage.register, legal.register):
        register(registry, store)
    return registry
