"""Caller scripts for ``rtagent call``: the script model, its loader, and which line the caller says next.

A caller script is a YAML file::

    agent: fnol                  # agents/<name>.yaml; --agent overrides
    caller: "+14255550123"       # optional, E.164
    called: "+18005550100"       # optional, E.164
    time_limit_s: 180            # optional; the call ends after this long
    gap_ms: 300                  # optional; human-like pause before the caller answers
    turns:
      - say: "Hi, I'd like to report an accident."
      - when: "policy"
        say: "P A 4 4 7 1 2."
      - when: "is that (right|correct)"
        say: "Yes."
        again: true
      - audio: clips/policy.wav  # relative to the script's folder
      - say: "Actually, wait."
        barge_in_ms: 700
      - dtmf: "0"
      - silence_ms: 8000
    expect:
      record: {policy_number: "PA44712", injuries: false}
      escalated: false

Each turn gives exactly one of ``say`` (text the simulator speaks with its TTS), ``audio`` (a WAV file of any
rate), ``dtmf`` (keypad digits ``0-9 * # A-D``) or ``silence_ms`` (the caller stays quiet that long; the line
counts as said). Lines without ``when`` are *ordered lines*; lines with ``when`` are *answer lines*.

Picking rule (``LinePicker.next_line(heard)``), applied after every agent turn, including the greeting, with
``heard`` being what the simulator's own STT made of the agent's audio:

1. the first answer line, in script order, whose ``when`` regex matches ``heard`` (``re.search``,
   case-insensitive) and that has not been said yet or is marked ``again: true``;
2. otherwise the first ordered line not said yet (ordered lines are therefore said in script order);
3. otherwise, if the caller heard something it cannot place while an answer line has never been said, the
   repeat request (``REPEAT_REQUEST``, not a script line), once: a caller on a phone line asks again when it
   did not catch a question, and the agent rephrases it;
4. otherwise ``None``: the caller says ``goodbye_text()`` and hangs up.

``again`` only has a meaning on answer lines (an ordered line marked ``again`` would be said forever), so it
is rejected on ordered lines.

Barge-in lines. An ordered line with ``barge_in_ms`` is not said after the agent finishes but *during* the
agent's next reply:

* Once per agent turn, when the agent's first audio of that turn arrives (the greeting counts), the simulator
  calls ``LinePicker.take_barge_in()``. If the next ordered line (the first unsaid line without ``when``) has
  ``barge_in_ms``, it is marked said and returned, and the simulator starts it ``barge_in_ms`` after that
  onset without waiting for the agent to finish. It does **not** call ``next_line`` for that agent turn: the
  caller has already answered it. Otherwise ``take_barge_in()`` returns ``None``, changes nothing, and the
  simulator waits for the end of the turn and calls ``next_line(heard)`` as usual.
* A barge-in line is thus said over the agent's reply to whatever the caller said just before it (over the
  greeting if it is the first ordered line). Answer lines are not consulted at the onset (what the agent is
  about to say cannot be matched yet), so a pending barge-in line takes precedence over any answer line the
  interrupted turn would have matched. For the same reason ``barge_in_ms`` is rejected on answer lines, and on
  ``silence_ms`` lines (silence cannot interrupt).
* ``pending_barge_in()`` answers the same question without marking anything, for a simulator that wants to
  look before it commits.
* If ``next_line`` reaches a barge-in line (the simulator did not take it at an onset, e.g. the agent turn
  ended before any audio), it is returned like any other line and said after the agent finished.
* If the agent stops speaking before ``barge_in_ms`` has elapsed, the simulator says the line right away.

Everything here is pure except ``load_script``, which reads the YAML file, and the loader's check that each
``audio`` file exists.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from agents.strict_yaml import Problem, YamlFileError, parse_yaml, problem_from_error
from agents.strict_yaml import format_loc as _format_loc

GOODBYE = "Thanks, goodbye."
"""What the caller says before hanging up when no line is left."""
REPEAT_REQUEST = "Sorry, could you say that again?"
"""What the caller says, once in a row, when it cannot place what the agent said but has answers left."""

LINE_KINDS = ("say", "audio", "dtmf", "silence_ms")
"""The fields of a caller line of which exactly one must be given."""

_DTMF_RE = re.compile(r"^[0-9*#A-Da-d]+$")
_E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")
_AGENT_RE = re.compile(r"^[A-Za-z0-9_-]+$")

StrictNonNegInt = Annotated[int, Field(strict=True, ge=0)]
StrictPosInt = Annotated[int, Field(strict=True, gt=0)]


# --------------------------------------------------------------------------------------------------- errors


class ScriptError(YamlFileError):
    """A caller script that cannot be used. ``str()`` gives one ``file: where: what`` line per problem."""


# --------------------------------------------------------------------------------------------------- models


def _text_or_hint(value: Any, field: str, example: str) -> Any:
    """Reject non-text YAML scalars with a hint to quote them (YAML reads yes/no/123 as bool/int)."""
    if value is not None and not isinstance(value, str):
        raise ValueError(
            f"expected text, got {type(value).__name__} {value!r}; put it in quotes, e.g. {field}: {example}"
        )
    return value


class CallerLine(BaseModel):
    """One line of the caller script: exactly one of ``say``, ``audio``, ``dtmf``, ``silence_ms``.

    ``when`` makes it an answer line (said when the agent's last turn matches this case-insensitive regex),
    ``again`` lets an answer line be said more than once, ``barge_in_ms`` makes an ordered line interrupt the
    agent's next reply that many ms after its onset (see the module docstring).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    say: str | None = None
    audio: str | None = None
    dtmf: str | None = None
    silence_ms: StrictPosInt | None = None
    when: str | None = None
    again: Annotated[bool, Field(strict=True)] = False
    barge_in_ms: StrictNonNegInt | None = None

    _when_re: re.Pattern[str] | None = PrivateAttr(default=None)

    @field_validator("say", mode="before")
    @classmethod
    def _say_is_text(cls, v: Any) -> Any:
        return _text_or_hint(v, "say", '"Yes."')

    @field_validator("when", mode="before")
    @classmethod
    def _when_is_text(cls, v: Any) -> Any:
        return _text_or_hint(v, "when", '"policy"')

    @field_validator("audio", mode="before")
    @classmethod
    def _audio_is_text(cls, v: Any) -> Any:
        return _text_or_hint(v, "audio", "clips/answer.wav")

    @field_validator("dtmf", mode="before")
    @classmethod
    def _dtmf_is_text(cls, v: Any) -> Any:
        if isinstance(v, int | float) and not isinstance(v, bool):
            raise ValueError(
                f'put the keys in quotes, e.g. dtmf: "{v}" (unquoted, YAML reads them as the number {v!r})'
            )
        return _text_or_hint(v, "dtmf", '"0"')

    @field_validator("say")
    @classmethod
    def _say_not_empty(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v.strip() if v is not None else None

    @field_validator("audio")
    @classmethod
    def _audio_is_wav(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not v.strip():
            raise ValueError("must not be empty")
        if not v.lower().endswith(".wav"):
            raise ValueError(f"expected a .wav file, got {v!r}")
        return v

    @field_validator("dtmf")
    @classmethod
    def _dtmf_keys(cls, v: str | None) -> str | None:
        if v is not None and not _DTMF_RE.match(v):
            raise ValueError(f"expected keypad keys 0-9, *, #, A-D, got {v!r}")
        return v.upper() if v is not None else None

    @field_validator("when")
    @classmethod
    def _when_regex(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not v.strip():
            raise ValueError("must not be empty (leave `when` out for an ordered line)")
        try:
            re.compile(v, re.IGNORECASE)
        except re.error as e:
            raise ValueError(f"invalid regex {v!r}: {e.msg} at position {e.pos}") from None
        return v

    @model_validator(mode="after")
    def _check_line(self) -> CallerLine:
        given = [k for k in LINE_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            got = "none" if not given else " and ".join(given)
            raise ValueError(f"give exactly one of {', '.join(LINE_KINDS)} (got {got})")
        if self.again and self.when is None:
            raise ValueError("`again` only applies to lines with `when` (an ordered line is said once)")
        if self.barge_in_ms is not None and self.when is not None:
            raise ValueError(
                "`barge_in_ms` cannot be combined with `when`: a barge-in line starts before the agent's "
                "reply has been heard, so there is nothing to match yet"
            )
        if self.barge_in_ms is not None and self.silence_ms is not None:
            raise ValueError("`barge_in_ms` cannot be combined with `silence_ms`: silence does not interrupt")
        if self.when is not None:
            self._when_re = re.compile(self.when, re.IGNORECASE)
        return self

    @property
    def kind(self) -> Literal["say", "audio", "dtmf", "silence"]:
        """Which of the four kinds of line this is."""
        if self.say is not None:
            return "say"
        if self.audio is not None:
            return "audio"
        if self.dtmf is not None:
            return "dtmf"
        return "silence"

    @property
    def is_barge_in(self) -> bool:
        """True when the line interrupts the agent instead of waiting for it to finish."""
        return self.barge_in_ms is not None

    def matches(self, heard: str) -> bool:
        """Whether this answer line's ``when`` regex matches ``heard`` (case-insensitive search).

        Ordered lines (no ``when``) never match.
        """
        return self._when_re is not None and self._when_re.search(heard) is not None

    def describe(self) -> str:
        """A short human-readable form for logs, e.g. ``say 'Yes.'`` or ``dtmf '0'``."""
        if self.kind == "silence":
            return f"silence {self.silence_ms} ms"
        value = {"say": self.say, "audio": self.audio, "dtmf": self.dtmf}[self.kind]
        return f"{self.kind} {value!r}"


class Expect(BaseModel):
    """What must hold at the end of the call for ``rtagent call --check`` to succeed (see ``check_expect``).

    ``record`` lists only the fields that matter (others in the worker's record are ignored); values compare
    after normalising: strings case-insensitively with whitespace trimmed and collapsed, numbers numerically,
    booleans exactly, ``null`` meaning absent or null. ``escalated`` and ``agent_final`` are checked when
    given.
    ``transcript_contains`` lists phrases the agent must have said (case-insensitive, punctuation ignored),
    ``transcript_excludes`` phrases it must never have said (e.g. a question the caller already answered).
    Record values may be ``re:PATTERN`` (a regex the value fully matches) or a date such as ``{yesterday}``,
    ``{today-14}`` or ``{last friday}``, counted from the day of the call.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    record: dict[str, Any] = Field(default_factory=dict)
    escalated: Annotated[bool, Field(strict=True)] | None = None
    agent_final: str | None = None
    transcript_contains: list[str] = Field(default_factory=list)
    transcript_excludes: list[str] = Field(default_factory=list)

    @field_validator("transcript_contains", "transcript_excludes")
    @classmethod
    def _phrases_not_empty(cls, v: list[str]) -> list[str]:
        for i, phrase in enumerate(v):
            if not phrase.strip():
                raise ValueError(f"phrase {i} is empty")
        return v


class CallerScript(BaseModel):
    """A whole caller script. ``base_dir`` is the folder it was loaded from; ``audio`` paths resolve there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: str | None = None
    caller: str | None = None
    called: str | None = None
    turns: list[CallerLine] = Field(min_length=1)
    expect: Expect | None = None
    time_limit_s: Annotated[float, Field(strict=True, gt=0)] = 180.0
    gap_ms: StrictNonNegInt = 300
    base_dir: Path = Path(".")

    @field_validator("agent")
    @classmethod
    def _agent_name(cls, v: str | None) -> str | None:
        if v is not None and not _AGENT_RE.match(v):
            raise ValueError(f"expected an agent name like fnol (agents/<name>.yaml), got {v!r}")
        return v

    @field_validator("caller", "called", mode="before")
    @classmethod
    def _number_is_text(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            raise ValueError(f'put the number in quotes, e.g. "+{v}" (unquoted, YAML reads it as an integer)')
        return v

    @field_validator("caller", "called")
    @classmethod
    def _number_e164(cls, v: str | None) -> str | None:
        if v is not None and not _E164_RE.match(v.strip()):
            raise ValueError(f'expected an E.164 phone number like "+14255550123", got {v!r}')
        return v.strip() if v is not None else None

    def resolve_audio(self, line: CallerLine) -> Path:
        """The file an ``audio`` line plays: its path taken relative to the script's folder."""
        if line.audio is None:
            raise ValueError(f"not an audio line: {line.describe()}")
        return self.base_dir / line.audio

    def resolved_agent(self, override: str | None = None) -> str:
        """The agent to call: ``override`` (``--agent``) if given, else the script's ``agent``."""
        name = override or self.agent
        if not name:
            raise ScriptError(
                "<script>",
                [Problem("agent", "missing; give `agent:` in the script or --agent on the command line")],
            )
        return name


# --------------------------------------------------------------------------------------------------- loader


def _keys_at(parent: tuple[int | str, ...]) -> list[str]:
    """The keys accepted in the mapping at ``parent``."""
    if not parent:
        return [k for k in CallerScript.model_fields if k != "base_dir"]
    if parent[0] == "turns" and len(parent) == 2:
        return list(CallerLine.model_fields)
    if parent == ("expect",):
        return list(Expect.model_fields)
    return []


def _problem_from_error(err: Any) -> Problem:
    """One pydantic error as a readable problem, with hints for the usual mistakes in ``turns``."""
    loc = tuple(err["loc"])
    where = _format_loc(loc)
    kind = err["type"]
    if kind == "missing" and loc == ("turns",):
        return Problem(where, 'missing; give a list of caller lines, e.g. turns: [{say: "Hello."}]')
    if kind == "too_short" and loc == ("turns",):
        return Problem(where, "empty; give at least one caller line")
    if kind == "model_type" and len(loc) == 2 and loc[0] == "turns":
        return Problem(
            where,
            f'expected a mapping such as `- say: "..."`, got {type(err["input"]).__name__} {err["input"]!r}',
        )
    if kind == "list_type" and loc == ("turns",):
        return Problem(where, "expected a list of caller lines, each item starting with `- `")
    return problem_from_error(err, _keys_at)


def parse_script(text: str, base_dir: Path | str, *, source: str = "<script>") -> CallerScript:
    """Parse caller-script YAML; ``audio`` paths resolve against ``base_dir`` and must exist there.

    ``source`` names the script in error messages. Raises ``ScriptError`` listing every problem found.
    """
    data = parse_yaml(text, source, ScriptError)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"{type(data).__name__} {data!r}"
        raise ScriptError(
            source, [Problem("(top level)", f"expected a mapping with `agent:` and `turns:`, got {got}")]
        )
    if "base_dir" in data:
        raise ScriptError(
            source, [Problem("base_dir", "unknown key (it is set from the folder the script is loaded from)")]
        )
    base = Path(base_dir)
    try:
        script = CallerScript.model_validate({**data, "base_dir": base})
    except ValidationError as e:
        raise ScriptError(source, [_problem_from_error(err) for err in e.errors()]) from None
    missing = [
        Problem(
            f"turns[{i}].audio",
            f"file not found: {script.resolve_audio(line)} (paths are relative to {base})",
        )
        for i, line in enumerate(script.turns)
        if line.audio is not None and not script.resolve_audio(line).is_file()
    ]
    if missing:
        raise ScriptError(source, missing)
    return script


def load_script(path: Path | str) -> CallerScript:
    """Read and parse a caller script; ``audio`` paths resolve against the script's folder.

    Raises ``ScriptError`` (file, field, what was expected) on any problem, including a missing file.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptError(str(p), [Problem("file", "not found")]) from None
    except IsADirectoryError:
        raise ScriptError(
            str(p), [Problem("file", "is a directory, expected a .yaml caller script")]
        ) from None
    except UnicodeDecodeError as e:
        raise ScriptError(
            str(p), [Problem("file", f"not UTF-8 text ({e.reason} at byte {e.start})")]
        ) from None
    return parse_script(text, p.absolute().parent, source=str(p))


# --------------------------------------------------------------------------------------------------- picker


class LinePicker:
    """Decides what the caller says next; pure, one per call. See the module docstring for the rule.

    Usage by the simulator, per agent turn (the greeting included)::

        at the agent's first audio of the turn:  line = picker.take_barge_in()
            if line: say it line.barge_in_ms after that onset, and skip next_line for this turn
        at the end of the agent's turn:          line = picker.next_line(heard)
            if line is None: say picker.goodbye_text() and hang up
    """

    def __init__(self, script: CallerScript) -> None:
        self._lines: list[CallerLine] = list(script.turns)
        self._said_count: list[int] = [0] * len(self._lines)
        self._history: list[int] = []
        self._asked_to_repeat = False

    def next_line(self, heard: str) -> CallerLine | None:
        """The line to say after an agent turn of which the caller heard ``heard``; marks it said.

        First matching answer line (not said yet, or ``again``), else the next unsaid ordered line, else
        the repeat request (once in a row, while an answer line is unsaid), else ``None`` (say goodbye and
        hang up).
        """
        for i, line in enumerate(self._lines):
            if line.when is not None and (self._said_count[i] == 0 or line.again) and line.matches(heard):
                return self._mark(i)
        i = self._next_ordered()
        if i is not None:
            return self._mark(i)
        pairs = zip(self._lines, self._said_count, strict=True)
        unsaid = any(line.when is not None and n == 0 for line, n in pairs)
        if heard.strip() and unsaid and not self._asked_to_repeat:
            self._asked_to_repeat = True
            return CallerLine(say=REPEAT_REQUEST)
        return None

    def pending_barge_in(self) -> CallerLine | None:
        """The barge-in line the caller would say over the agent's next reply, without marking it said.

        It is the next unsaid ordered line if that line has ``barge_in_ms``, else ``None``.
        """
        i = self._next_ordered()
        return self._lines[i] if i is not None and self._lines[i].is_barge_in else None

    def take_barge_in(self) -> CallerLine | None:
        """Call once when the agent's turn starts (its first audio): the line to start ``barge_in_ms`` later.

        Marks the line said and returns it if the next unsaid ordered line has ``barge_in_ms``; otherwise
        returns ``None`` and changes nothing (wait for the turn to end and call ``next_line``).
        """
        i = self._next_ordered()
        if i is None or not self._lines[i].is_barge_in:
            return None
        return self._mark(i)

    def goodbye_text(self) -> str:
        """What the caller says before hanging up once no line is left."""
        return GOODBYE

    @property
    def history(self) -> list[int]:
        """Indices into ``script.turns`` of the lines said so far, in the order said (repeats included)."""
        return list(self._history)

    @property
    def said(self) -> list[CallerLine]:
        """The lines said so far, in the order said (repeats included)."""
        return [self._lines[i] for i in self._history]

    def times_said(self, index: int) -> int:
        """How many times ``script.turns[index]`` has been said."""
        return self._said_count[index]

    def _next_ordered(self) -> int | None:
        for i, line in enumerate(self._lines):
            if line.when is None and self._said_count[i] == 0:
                return i
        return None

    def _mark(self, i: int) -> CallerLine:
        self._asked_to_repeat = False
        self._said_count[i] += 1
        self._history.append(i)
        return self._lines[i]
