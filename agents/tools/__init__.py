"""The tool registry: named functions an agent may call, e.g. to validate a field or file the finished record.

A tool is a plain function (sync or async) called with keyword arguments and returning a mapping (the tool's
result). It signals a failure the caller should hear about by raising ``ToolError`` with a short, speakable
message ("I couldn't find a policy with that number."). Conventions used by the form engine:

* a *validation* tool (a record field's ``validate:``) is called with the captured value as the keyword named
  after the field, e.g. ``lookup_policy(policy_number="PA44712")``;
* a *completion* tool (``on_complete.tool``) is called with ``record=`` the filled record; keys of its result
  that are record fields (e.g. ``claim_number``) are stored in the record.

``default_registry()`` gives a fresh registry holding every built-in tool; tests and deployments can build
their own ``ToolRegistry`` instead. Nothing here keeps global mutable state.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

ToolFn = Callable[..., Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
"""A tool implementation: keyword arguments in, a mapping (or an awaitable of one) out."""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ToolError(Exception):
    """A tool could not do its job; ``message`` is a short sentence the agent can say to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Tool:
    """One registered tool: its name, implementation and a one-line description (for logs and LLM engines)."""

    name: str
    fn: ToolFn
    description: str


class ToolRegistry:
    """Name → tool. ``call`` runs a tool (awaiting it if it is async) and checks that it returned a mapping.

    Inputs: optional initial ``{name: function}``. Names must be identifiers and unique.
    """

    def __init__(self, tools: Mapping[str, ToolFn] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for name, fn in (tools or {}).items():
            self.add(name, fn)

    def add(self, name: str, fn: ToolFn, description: str | None = None) -> Tool:
        """Register ``fn`` as ``name``; the description defaults to the first line of its docstring."""
        if not _IDENT.match(name):
            raise ValueError(f"tool name must be an identifier (letters, digits, underscores), got {name!r}")
        if name in self._tools:
            raise ValueError(f"tool {name!r} is already registered")
        if description is None:
            doc = inspect.getdoc(fn) or ""
            description = doc.strip().splitlines()[0] if doc.strip() else ""
        tool = Tool(name=name, fn=fn, description=description)
        self._tools[name] = tool
        return tool

    def tool(self, name: str | None = None) -> Callable[[ToolFn], ToolFn]:
        """Decorator form of ``add``: ``@registry.tool()`` registers the function under its own name."""

        def register(fn: ToolFn) -> ToolFn:
            self.add(name or fn.__name__, fn)
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

    async def call(self, name: str, /, **kwargs: Any) -> dict[str, Any]:
        """Run tool ``name`` with ``kwargs``; returns its result as a new dict.

        Raises ``ToolError`` (from the tool) for failures to tell the caller about, ``KeyError`` for an
        unknown tool and ``TypeError`` if the tool returned something other than a mapping.
        """
        tool = self.get(name)
        result = tool.fn(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, Mapping):
            raise TypeError(f"tool {name!r} returned {type(result).__name__}, expected a mapping")
        return dict(result)


def default_registry() -> ToolRegistry:
    """A new registry with every built-in tool (for now the FNOL ``lookup_policy`` and ``file_claim``)."""
    from agents.tools import fnol

    return ToolRegistry({"lookup_policy": fnol.lookup_policy, "file_claim": fnol.file_claim})
