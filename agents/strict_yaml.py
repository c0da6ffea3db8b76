"""What every YAML file RTAgent reads shares: a loader that refuses duplicate keys, and readable errors.

PyYAML silently keeps the last of two equal keys; in an agent or a caller script that hides a typo, so a
duplicate is an error with its line and column. A file that cannot be used raises a ``YamlFileError``
subclass whose ``str()`` has one ``file: where: what`` line per ``Problem``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a file: where (a field path like ``record.policy_number.type`` or a YAML position)
    and what."""

    where: str
    message: str
    source: str | None = None
    """The file the problem is in when it differs from the file being loaded (e.g. ``_defaults.yaml``)."""


class YamlFileError(ValueError):
    """A YAML file that cannot be used. ``str()`` gives one ``file: where: what`` line per problem."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(f"{p.source or self.source}: {p.where}: {p.message}" for p in self.problems)


class StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable key: let the normal constructor report it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def format_loc(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a YAML path: ``("turns", 3, "when")`` → ``turns[3].when``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def parse_yaml(text: str, source: str, error: type[YamlFileError]) -> Any:
    """Parse YAML text with ``StrictLoader``; a syntax error or duplicate key raises ``error`` (a
    ``YamlFileError`` subclass) naming ``source`` and the line and column."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "YAML"
        problem = getattr(e, "problem", None) or str(e)
        context = getattr(e, "context", None)
        label = "YAML error" if isinstance(e, yaml.constructor.ConstructorError) else "YAML syntax error"
        msg = f"{label}: {problem}" + (f" ({context})" if context else "")
        raise error(source, [Problem(where, msg)]) from None


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def problem_from_error(err: Any, keys_at: Callable[[tuple[int | str, ...]], list[str]]) -> Problem:
    """One pydantic validation error as a readable problem: the YAML path and what was expected.

    ``keys_at(loc)`` lists the keys accepted in the mapping at ``loc`` (for "unknown key ... did you mean"
    and "expected a mapping (a, b, ...)"); an empty list when unknown."""
    loc = tuple(err["loc"])
    where = format_loc(loc)
    kind = err["type"]
    value = err.get("input")
    if kind == "value_error":
        return Problem(where, str(err["ctx"]["error"]))
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = keys_at(loc[:-1])
        msg = f"unknown key {key!r}"
        hint = difflib.get_close_matches(key, allowed, n=1)
        if hint:
            msg += f"; did you mean {hint[0]!r}?"
        if allowed:
            msg += f" (expected one of {', '.join(allowed)})"
        return Problem(format_loc(loc[:-1]), msg)
    if kind == "missing":
        return Problem(where, "missing (required)")
    if kind == "literal_error":
        return Problem(where, f"expected one of {err['ctx']['expected']}; got {value!r}")
    if kind == "string_type":
        msg = f"expected text, got {_describe(value)}"
        if isinstance(value, bool | int | float):
            msg += "; put it in quotes (YAML reads yes/no/on/off as booleans and bare digits as numbers)"
        return Problem(where, msg)
    if kind in ("bool_type", "bool_parsing"):
        return Problem(where, f"expected true or false, got {_describe(value)}")
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return Problem(where, f"expected a whole number, got {_describe(value)}")
    if kind in ("float_type", "float_parsing"):
        return Problem(where, f"expected a number, got {_describe(value)}")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        keys = keys_at(loc)
        listed = f" ({', '.join(keys)})" if keys else ""
        return Problem(where, f"expected a mapping{listed}, got {_describe(value)}")
    if kind == "list_type":
        return Problem(where, f"expected a list (items starting with `- ` or [a, b]), got {_describe(value)}")
    msg = err["msg"]
    msg = msg[0].lower() + msg[1:] if msg else msg
    return Problem(where, f"{msg}, got {value!r}")


def read_yaml_file(path: Path, source: str, error: type[YamlFileError]) -> Any:
    """Read and parse a YAML file; a missing, unreadable or malformed file raises ``error`` naming
    ``source`` and what is wrong (not found, a directory, not UTF-8, a YAML error with its position)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(source, [Problem("file", f"not found ({path})")]) from None
    except IsADirectoryError:
        raise error(source, [Problem("file", "is a directory, expected a .yaml file")]) from None
    except UnicodeDecodeError as e:
        raise error(source, [Problem("file", f"not UTF-8 text ({e.reason} at byte {e.start})")]) from None
    return parse_yaml(text, source, error)
