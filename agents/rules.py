"""Conditions in agent YAML (``when: "severity >= 8 and not red_flags"``): parsed once, evaluated safely.

The language is a small, side-effect-free subset of Python expressions: record field names, literals
(numbers, text, true/false/null, lists), ``and``/``or``/``not``, comparisons (``== != < <= > >= in not in``)
and ``len(x)``. Nothing else parses: no attribute access, no calls other than ``len``, no indexing. A field
that has no value yet reads as ``None``; a comparison that cannot be made (``None >= 8``) is false rather than
an error, so a rule simply does not fire until its inputs exist.

``Condition.parse(text, names)`` raises ``ValueError`` with a readable message for bad syntax, forbidden
constructs and names that are not in ``names`` (the record fields); ``evaluate(values)`` returns a bool.
``decide(values, settled)`` uses three-valued logic for a record still being filled: names not in ``settled``
are unknown, and the answer is None until the known names decide it (``red_flags or severity >= 8`` is true as
soon as red flags are known; ``not red_flags`` stays undecided until they are).
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_LITERAL_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed ``when`` expression."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    @classmethod
    def parse(cls, text: str, names: Collection[str]) -> Condition:
        """Parse ``text``; every name it reads must be in ``names``. ``ValueError`` explains any problem."""
        if not text or not text.strip():
            raise ValueError("the condition is empty")
        try:
            tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as e:
            raise ValueError(f"cannot parse condition {text!r}: {e.msg} at column {e.offset}") from None
        used: set[str] = set()
        _check(tree, text, used)
        unknown = sorted(used - set(names))
        if unknown:
            name = unknown[0]
            hint = difflib.get_close_matches(name, list(names), n=1)
            msg = f"condition {text!r} reads {name!r}, which is not a record field"
            raise ValueError(msg + (f"; did you mean {hint[0]!r}?" if hint else ""))
        return cls(text.strip(), tree, frozenset(used))

    def evaluate(self, values: Mapping[str, Any]) -> bool:
        """Whether the condition holds for ``values`` (missing names read as None)."""
        return bool(self.decide(values, self.names))

    def decide(self, values: Mapping[str, Any], settled: Collection[str]) -> bool | None:
        """True/False once decided, None while it depends on names not yet ``settled``."""
        try:
            result = _eval(self.tree, values, frozenset(settled))
        except TypeError:
            return False
        return None if result is _UNKNOWN else bool(result)


_UNKNOWN: Any = type("Unknown", (), {"__repr__": lambda self: "<unknown>"})()


def first_match(
    rules: Sequence[tuple[Condition | None, Any]], values: Mapping[str, Any], settled: Collection[str]
) -> tuple[bool, Any]:
    """The value of the first rule whose condition holds (a rule without one always does), as
    ``(True, value)``; ``(False, None)`` while an earlier rule is still undecided; ``(True, None)`` if no rule
    holds."""
    for cond, value in rules:
        verdict = True if cond is None else cond.decide(values, settled)
        if verdict is None:
            return False, None
        if verdict:
            return True, value
    return True, None


def _check(node: ast.AST, text: str, used: set[str]) -> None:
    match node:
        case ast.BoolOp() | ast.UnaryOp(op=ast.Not() | ast.USub()):
            pass
        case ast.Compare(ops=ops) if all(type(op) in _COMPARE for op in ops):
            pass
        case ast.Constant(value=v) if v is None or isinstance(v, bool | int | float | str):
            pass
        case ast.Name(id=name):
            if name not in _LITERAL_NAMES and name != "len":
                used.add(name)
        case ast.List() | ast.Tuple():
            pass
        case ast.Call(func=ast.Name(id="len"), args=[_], keywords=[]):
            pass
        case ast.Load() | ast.And() | ast.Or() | ast.Not() | ast.USub():
            pass
        case _:
            if type(node) in _COMPARE:
                return
            piece = ast.get_source_segment(text.strip(), node) or type(node).__name__
            raise ValueError(
                f"condition {text!r}: {piece!r} is not allowed (use field names, literals, and/or/not, "
                "comparisons, in, len())"
            )
    for child in ast.iter_child_nodes(node):
        _check(child, text, used)


def _eval(node: ast.expr, values: Mapping[str, Any], settled: frozenset[str]) -> Any:
    """Evaluate with Kleene logic: ``_UNKNOWN`` for names not settled, propagated unless and/or decide."""
    match node:
        case ast.BoolOp(op=ast.And(), values=items):
            parts = [_eval(v, values, settled) for v in items]
            if any(p is not _UNKNOWN and not p for p in parts):
                return False
            return _UNKNOWN if any(p is _UNKNOWN for p in parts) else True
        case ast.BoolOp(op=ast.Or(), values=items):
            parts = [_eval(v, values, settled) for v in items]
            if any(p is not _UNKNOWN and p for p in parts):
                return True
            return _UNKNOWN if any(p is _UNKNOWN for p in parts) else False
        case ast.UnaryOp(op=ast.Not(), operand=x):
            v = _eval(x, values, settled)
            return v if v is _UNKNOWN else not v
        case ast.UnaryOp(op=ast.USub(), operand=x):
            v = _eval(x, values, settled)
            return v if v is _UNKNOWN else -v
        case ast.Compare(left=left, ops=ops, comparators=rights):
            a = _eval(left, values, settled)
            for op, right in zip(ops, rights, strict=True):
                b = _eval(right, values, settled)
                if a is _UNKNOWN or b is _UNKNOWN:
                    return _UNKNOWN
                if a is None or b is None:
                    if not isinstance(op, ast.Eq | ast.NotEq):
                        return False
                if not _COMPARE[type(op)](a, b):
                    return False
                a = b
            return True
        case ast.Constant(value=v):
            return v
        case ast.Name(id=name):
            if name in _LITERAL_NAMES:
                return _LITERAL_NAMES[name]
            return values.get(name) if name in settled else _UNKNOWN
        case ast.List(elts=items) | ast.Tuple(elts=items):
            out = [_eval(v, values, settled) for v in items]
            return _UNKNOWN if any(v is _UNKNOWN for v in out) else out
        case ast.Call(args=[arg]):
            v = _eval(arg, values, settled)
            return v if v is _UNKNOWN else 0 if v is None else len(v)
    raise TypeError(f"cannot evaluate {type(node).__name__}")
