"""The model router: which LLM deployment answers each model call of a turn, and what it costs.

``agents/router.yaml`` declares the deployments and the rules::

    default_tier: standard
    deployments:                      # name (the Azure OpenAI deployment name) -> what it is
      gpt-4o-mini: {tier: fast, model: gpt-4o-mini, price_in_per_1m: 0.15, price_out_per_1m: 0.60,
                    latency_ms: 350}
      gpt-4.1:     {tier: standard, model: gpt-4.1, price_in_per_1m: 2.00, price_out_per_1m: 8.00,
                    latency_ms: 550}
    tiers:                            # optional: a tier's deployments in fallback order
      standard: [gpt-4.1, gpt-4o-mini]
    rules:                            # first match wins
      - {turn: [confirmation], tier: fast}
      - {turn: [answer], progress_min: 0.5, tier: fast}

A tier not listed under ``tiers`` falls back over its own deployments in file order. Prices are USD per
million tokens; ``latency_ms`` is the deployment's typical time to first token.

``Router.choose(turn_kind, progress, hints)`` is pure. The tier comes from, in order: the agent's
``model.by_turn[turn_kind]``, the agent's ``model.tier``, the first router rule matching the turn kind and the
record progress (fraction of required fields filled), then ``default_tier``. With the agent's
``model.latency_budget_ms``, deployments slower than the budget are skipped (if none of the tier's is fast
enough, the fastest within budget from any tier are used; if none at all, the tier's by latency).

Turn kinds (``TURN_KINDS``): ``greeting`` (the caller's first turn, answering the greeting), ``answer`` (an
ordinary caller turn), ``confirmation`` (the caller answers a read-back), ``tool_planning`` (a model call
after tool results, within a turn), ``completion`` (the record is already complete).

``load_router`` reads the file (the only I/O here) and raises ``RouterSpecError`` with one
``file: field.path: what`` line per problem.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agents.strict_yaml import Problem, YamlFileError, format_loc, problem_from_error, read_yaml_file

__all__ = [
    "ROUTER_FILE",
    "TURN_KINDS",
    "Deployment",
    "ModelHints",
    "Router",
    "RouterSpecError",
    "TurnKind",
    "estimate_cost",
    "load_router",
    "parse_router",
]

ROUTER_FILE = Path(__file__).resolve().parent / "router.yaml"
"""The built-in router file."""

TurnKind = Literal["greeting", "answer", "confirmation", "tool_planning", "completion"]
TURN_KINDS: tuple[str, ...] = get_args(TurnKind)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ModelHints(Protocol):
    """What the router reads from an agent's ``model:`` section (``agents.spec.ModelSpec``)."""

    @property
    def tier(self) -> str | None: ...
    @property
    def latency_budget_ms(self) -> int | None: ...
    @property
    def by_turn(self) -> Mapping[str, str]: ...


# ------------------------------------------------------------------------------------------------ models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeploymentSpec(_Model):
    """One deployment as written in the YAML (its name is the mapping key)."""

    tier: str
    model: str
    price_in_per_1m: float = Field(ge=0)
    """USD per million prompt tokens."""
    price_out_per_1m: float = Field(ge=0)
    """USD per million completion tokens."""
    latency_ms: int = Field(gt=0)
    """Typical time to first token (ms)."""


class RouteRule(_Model):
    """A routing rule: for these turn kinds (all if omitted) and a progress in [min, max], use ``tier``."""

    turn: list[TurnKind] | None = None
    progress_min: float = Field(default=0.0, ge=0, le=1)
    progress_max: float = Field(default=1.0, ge=0, le=1)
    tier: str

    def matches(self, kind: str, progress: float) -> bool:
        """Whether the rule applies to a model call of ``kind`` at record ``progress``."""
        if self.turn is not None and kind not in self.turn:
            return False
        return self.progress_min <= progress <= self.progress_max


class RouterSpec(_Model):
    """The whole router file."""

    default_tier: str
    deployments: dict[str, DeploymentSpec] = Field(min_length=1)
    tiers: dict[str, list[str]] = Field(default_factory=dict)
    rules: list[RouteRule] = Field(default_factory=list)

    @field_validator("deployments")
    @classmethod
    def _names(cls, v: dict[str, DeploymentSpec]) -> dict[str, DeploymentSpec]:
        for name in v:
            if not _NAME_RE.match(name):
                raise ValueError(f"deployment name {name!r} must be letters, digits, '.', '_' and '-'")
        return v


@dataclass(frozen=True, slots=True)
class Deployment:
    """One model deployment the engine can call."""

    name: str
    """The deployment name (Azure OpenAI: the ``/openai/deployments/<name>`` path)."""
    tier: str
    model: str
    """The model behind it (what an OpenAI-compatible endpoint is asked for)."""
    price_in_per_1m: float
    """USD per million prompt tokens."""
    price_out_per_1m: float
    """USD per million completion tokens."""
    latency_ms: int
    """Typical time to first token (ms)."""


def estimate_cost(deployment: Deployment, prompt_tokens: int, completion_tokens: int) -> float:
    """The list-price cost in USD of one call on ``deployment``."""
    return (
        prompt_tokens * deployment.price_in_per_1m + completion_tokens * deployment.price_out_per_1m
    ) / 1_000_000


# ------------------------------------------------------------------------------------------------ errors


class RouterSpecError(YamlFileError):
    """A router file that cannot be used. ``str()`` gives one ``file: where: what`` line per problem."""


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    if not loc:
        return RouterSpec
    if loc[0] == "deployments" and len(loc) == 2:
        return DeploymentSpec
    if loc[0] == "rules" and len(loc) == 2:
        return RouteRule
    return None


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    model = _model_at(loc)
    return list(model.model_fields) if model is not None else []


def _problem(err: Any) -> Problem:
    """One pydantic error as a readable problem; a mistyped turn kind gets a "did you mean"."""
    loc = tuple(err["loc"])
    value = err.get("input")
    if err["type"] == "literal_error":
        hint = difflib.get_close_matches(str(value), TURN_KINDS, n=1)
        msg = f"expected one of {', '.join(TURN_KINDS)}; got {value!r}"
        return Problem(format_loc(loc), msg + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    return problem_from_error(err, _keys_at)


def _cross_check(spec: RouterSpec) -> list[Problem]:
    """References between sections: tiers named by rules and the default exist, tier lists name
    deployments, every tier used has at least one deployment."""
    problems: list[Problem] = []
    names = list(spec.deployments)
    declared = {d.tier for d in spec.deployments.values()} | set(spec.tiers)

    def unknown_tier(where: str, tier: str) -> None:
        hint = difflib.get_close_matches(tier, sorted(declared), n=1)
        msg = f"unknown tier {tier!r} (tiers: {', '.join(sorted(declared))})"
        problems.append(Problem(where, msg + (f"; did you mean {hint[0]!r}?" if hint else "")))

    for tier, order in spec.tiers.items():
        if not order:
            problems.append(Problem(f"tiers.{tier}", "needs at least one deployment"))
        for i, name in enumerate(order):
            if name not in spec.deployments:
                hint = difflib.get_close_matches(name, names, n=1)
                msg = f"unknown deployment {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
                problems.append(Problem(f"tiers.{tier}[{i}]", msg + f" (deployments: {', '.join(names)})"))
            elif name in order[:i]:
                problems.append(Problem(f"tiers.{tier}[{i}]", f"{name!r} is listed twice"))
    if spec.default_tier not in declared:
        unknown_tier("default_tier", spec.default_tier)
    for i, rule in enumerate(spec.rules):
        if rule.tier not in declared:
            unknown_tier(f"rules[{i}].tier", rule.tier)
        if rule.progress_min > rule.progress_max:
            problems.append(
                Problem(
                    f"rules[{i}]",
                    f"progress_min ({rule.progress_min}) is greater than progress_max ({rule.progress_max})",
                )
            )
    return problems


# ------------------------------------------------------------------------------------------------ router


class Router:
    """Chooses deployments per model call (see the module docstring). Immutable; share one per process."""

    def __init__(self, spec: RouterSpec, available: Iterable[str] | None = None) -> None:
        """``available``: the deployments that exist (``RTAGENT_LLM_DEPLOYMENTS``); None: all of them. A
        tier left with none of its own falls back on the default tier's, then on any that exists."""
        self.spec = spec
        every = {name: Deployment(name=name, **d.model_dump()) for name, d in spec.deployments.items()}
        keep = set(every) if available is None else set(available)
        unknown = sorted(keep - set(every))
        if unknown:
            raise ValueError(
                f"deployment(s) {', '.join(unknown)} are not in the router file (known: {', '.join(every)}); "
                "add them there with their tier and prices, or fix RTAGENT_LLM_DEPLOYMENTS"
            )
        if not keep:
            raise ValueError("no model deployment is available (RTAGENT_LLM_DEPLOYMENTS is empty)")
        self.deployments: dict[str, Deployment] = {n: d for n, d in every.items() if n in keep}
        tiers = {d.tier for d in every.values()} | set(spec.tiers)
        self._order: dict[str, tuple[Deployment, ...]] = {}
        for tier in sorted(tiers):
            names = spec.tiers.get(tier) or [n for n, d in every.items() if d.tier == tier]
            self._order[tier] = tuple(self.deployments[n] for n in names if n in keep)
        fallback = self._order.get(spec.default_tier) or tuple(
            sorted(self.deployments.values(), key=lambda d: d.latency_ms)
        )
        for tier, order in self._order.items():
            if not order:
                self._order[tier] = fallback

    @property
    def tiers(self) -> list[str]:
        """The tier names, sorted."""
        return list(self._order)

    def deployments_of(self, tier: str) -> list[Deployment]:
        """A tier's deployments in fallback order; ``KeyError`` for an unknown tier."""
        try:
            return list(self._order[tier])
        except KeyError:
            raise KeyError(f"unknown tier {tier!r} (tiers: {', '.join(self._order)})") from None

    def check_hints(self, hints: ModelHints) -> list[tuple[str, str]]:
        """Problems with an agent's ``model:`` hints against this router, as ``(field path, message)``:
        unknown tiers and turn kinds."""
        out: list[tuple[str, str]] = []
        known = ", ".join(self._order)
        if hints.tier is not None and hints.tier not in self._order:
            out.append(("model.tier", f"unknown tier {hints.tier!r} (router tiers: {known})"))
        for kind, tier in hints.by_turn.items():
            if kind not in TURN_KINDS:
                out.append(
                    (f"model.by_turn.{kind}", f"unknown turn kind (expected one of {', '.join(TURN_KINDS)})")
                )
            elif tier not in self._order:
                out.append((f"model.by_turn.{kind}", f"unknown tier {tier!r} (router tiers: {known})"))
        return out

    def tier_for(self, turn_kind: str, progress: float, hints: ModelHints | None = None) -> str:
        """The tier for one model call: the agent's ``by_turn``, the agent's ``tier``, the first matching
        rule, then ``default_tier``. ``ValueError`` for an unknown turn kind."""
        if turn_kind not in TURN_KINDS:
            raise ValueError(f"unknown turn kind {turn_kind!r} (expected one of {', '.join(TURN_KINDS)})")
        progress = min(max(progress, 0.0), 1.0)
        if hints is not None:
            by_turn = hints.by_turn.get(turn_kind)
            if by_turn in self._order:
                return by_turn
            if hints.tier in self._order:
                return hints.tier  # type: ignore[return-value]
        for rule in self.spec.rules:
            if rule.matches(turn_kind, progress):
                return rule.tier
        return self.spec.default_tier

    def choose(self, turn_kind: str, progress: float, hints: ModelHints | None = None) -> list[Deployment]:
        """The deployments to try for one model call: the first is preferred, the rest are fallbacks."""
        order = self._order[self.tier_for(turn_kind, progress, hints)]
        budget = hints.latency_budget_ms if hints is not None else None
        if budget is None:
            return list(order)
        within = [d for d in order if d.latency_ms <= budget]
        if within:
            return within
        anywhere = sorted(
            (d for d in self.deployments.values() if d.latency_ms <= budget), key=lambda d: d.latency_ms
        )
        return anywhere or sorted(order, key=lambda d: d.latency_ms)


# ------------------------------------------------------------------------------------------------ loading


def parse_router(data: Any, *, source: str = "router.yaml") -> Router:
    """A router from data already read from YAML; ``RouterSpecError`` listing every problem."""
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"{type(data).__name__} {data!r}"
        raise RouterSpecError(
            source,
            [Problem("(top level)", f"expected a mapping (default_tier, deployments, ...), got {got}")],
        )
    try:
        spec = RouterSpec.model_validate(data)
    except ValidationError as e:
        raise RouterSpecError(source, [_problem(err) for err in e.errors()]) from None
    problems = _cross_check(spec)
    if problems:
        raise RouterSpecError(source, problems)
    return Router(spec)


def load_router(path: Path | str | None = None, available: Iterable[str] | None = None) -> Router:
    """Read a router file (default: the built-in ``agents/router.yaml``), keeping only the ``available``
    deployments when given. Blocking file I/O: call it at start-up, not per turn. Raises
    ``RouterSpecError``, or ``ValueError`` for an available deployment the file does not name."""
    file = Path(path) if path is not None else ROUTER_FILE
    router = parse_router(read_yaml_file(file, file.name, RouterSpecError), source=file.name)
    return router if available is None else Router(router.spec, available)
