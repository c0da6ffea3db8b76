"""The offline form-filling dialog engine: rules and typed extractors driven entirely by an agent's YAML.

``FormEngine(spec, today=..., tools=...)`` runs one call. It asks for the record fields in the YAML's order,
one question at a time, and every reply follows from what the caller just said and the state of the record:

* the answer fills the field being asked (via ``agents.extract``); other empty fields are filled too when
  the caller volunteers a distinctive value for them (a policy number, a date, "nobody was hurt", ...);
* a field with ``validate:`` is checked with its tool first (an unknown policy number is rejected with the
  tool's message and asked again); a field with ``confirm: true`` is read back ("I have P A 4 4 7 1 2, is
  that right?") and accepts yes, no, or a correction ("no, it's P A 4 4 7 1 3");
* a value matching ``escalate_if`` hands the call to a human (outcome ``escalate``, the escalation line);
* when nothing usable was said the question is asked again in other words (never the same sentence twice in
  a row), and after ``limits.max_field_failures`` failures on one field the call is escalated with reason
  ``could not capture <field>``; optional fields are asked once and "no"/"none"/"skip" leaves them empty;
* asking for a person escalates; saying goodbye closes politely; silence is re-prompted
  ``limits.silence_reprompts`` times, then the call ends;
* once every field is answered, the ``on_complete`` tool runs (its result keys that are record fields, such
  as ``claim_number``, go into the record), the closing line is said and the outcome is ``hang_up``.

Replies are yielded clause by clause (split at sentence ends). Questions and the engine's own lines are fixed
phrases from the YAML, listed by ``fixed_phrases()`` for the TTS cache. ``state.record`` holds captured
values only (JSON-friendly: ISO dates, ``HH:MM`` times, E.164 phones, bools, numbers, strings).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Any, Literal, NoReturn

from agents.dialog import DialogEngine, DialogState, Message, Outcome
from agents.extract import (
    ExtractResult,
    extract,
    is_bare_yes,
    is_goodbye,
    is_hold_request,
    is_non_answer,
    is_repeat_request,
    is_skip,
    mentions_intent,
    speak_value,
    split_clauses,
    wants_human,
    yes_no,
)
from agents.spec import AgentSpec, AgentSpecError, FieldSpec, Problem, placeholders, transfer_address
from agents.tools import ToolError, ToolRegistry, ToolUnavailable, default_registry
from agents.values import RecordRules, escalates, hand_over, keep_tool_results, render

Status = Literal["empty", "pending", "filled", "skipped", "deferred"]

_STRING_TYPES = ("string", "text")
_DIGIT_TYPES = ("integer", "number", "phone", "code", "date", "time")
_LEADING_NO_RE = re.compile(
    r"^\s*(?:(?:no|nope|nah|not quite|wrong|incorrect|sorry|actually)\b[\s,.!]*)+"
    r"(?:(?:it'?s|it is|that'?s|that is|i said)\s+)?",
    re.I,
)


class _Stop(Exception):
    """Internal: the turn ends right here with ``lines`` (an escalation or a hang-up)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("stop")
        self.lines = lines


def _first_word(text: str) -> str:
    m = re.match(r"\W*(\w+)", text)
    return m.group(1).lower() if m else ""


def _with_ack(ack: str, rest: list[str]) -> list[str]:
    """``[ack, *rest]``, without the acknowledgement if the next line starts with the same word."""
    if rest and _first_word(ack) == _first_word(rest[0]):
        return rest
    return [ack, *rest]


def _code_tail_fix(f: FieldSpec, pending: Any, text: str) -> str | None:
    """A correction of the end of a read-back code: "no, it's 4 4 7 1 3" against PA44712 gives PA44713.

    Only for code fields with a pattern, when what was said is not a whole code itself but replacing as many
    trailing characters of the held value gives one."""
    if f.type != "code" or f.pattern_re is None or not isinstance(pending, str):
        return None
    tail = extract(FieldSpec(type="code"), text).value
    if not isinstance(tail, str) or not 0 < len(tail) < len(pending):
        return None
    fixed = pending[: len(pending) - len(tail)] + tail
    return fixed if f.pattern_re.fullmatch(fixed) else None


def _cause(e: ToolError) -> str:
    """What went wrong inside a tool, for the report (the caller hears a generic line)."""
    return str(e.__cause__) if e.__cause__ is not None else e.message


_SELF_DELIMITING_TYPES = frozenset(
    {"code", "phone", "email", "date", "time", "boolean", "integer", "number", "enum"}
)
"""Field types whose complete value tells that the answer is over."""
SPELLED_CODE_HINT = "The caller spells letters and digits: P A 1 2 3 4 5."
PHONE_HINT = "The caller gives a phone number digit by digit: 312 555 0147."
_RETRY_HINTS = {"code": SPELLED_CODE_HINT, "phone": PHONE_HINT}
"""Second-pass recognizer prompts by field type (whisper merges spelled letters and repeated digits)."""


class FormEngine(DialogEngine):
    """One call with the offline form engine (see the module docstring).

    Inputs: ``spec`` (a loaded ``AgentSpec``), ``today`` (anchors relative dates; defaults to the system
    date), ``tools`` (a ``ToolRegistry``; defaults to ``default_registry()``), which must hold every tool the
    spec lists (else ``AgentSpecError``). Outputs: the reply clauses, ``state`` (record, history, outcome).
    """

    def __init__(
        self, spec: AgentSpec, *, today: date | None = None, tools: ToolRegistry | None = None
    ) -> None:
        self.spec = spec
        self.today = today if today is not None else date.today()
        self.tools = tools if tools is not None else default_registry()
        missing = [t for t in spec.tools if t not in self.tools]
        if missing:
            known = ", ".join(self.tools.names()) or "none"
            raise AgentSpecError(
                spec.source,
                [Problem("tools", f"tool {t!r} is not registered (registered: {known})") for t in missing],
            )
        self.state = DialogState(agent=spec.name, agents=[spec.name])
        self._fields: list[tuple[str, FieldSpec]] = spec.asked_fields()
        self._status: dict[str, Status] = {name: "empty" for name, _ in self._fields}
        self._pending: dict[str, Any] = {}
        self._failures: dict[str, int] = {name: 0 for name, _ in self._fields}
        self._optional_retried: set[str] = set()
        self._deferred: set[str] = set()
        self._unheard = False
        """The caller talked over the whole of the last reply (see ``interrupted``)."""
        self._current: str | None = None
        self._confirming: str | None = None
        self._rejected: set[tuple[str, Any]] = set()
        """Values a validation tool turned down: heard again, they were probably misheard again."""
        self._last_question: str | None = None
        self._context: dict[str, Any] = {}
        self._ack_index = 0
        self._turns = 0
        self._silences = 0
        self._fired: set[int] = set()
        """Indexes of ``spec.rules`` that already fired (a rule acts once per call)."""
        self._rules = RecordRules.of(spec)
        self._fillers: asyncio.Queue[str] | None = None
        """While a reply is being worked out: filler lines to say now (a slow tool)."""

    # ------------------------------------------------------------------------------------------ public API

    @property
    def current_field(self) -> str | None:
        """The field the engine is waiting for (being asked or confirmed), or None."""
        return self._current

    @property
    def context(self) -> dict[str, Any]:
        """Results of the tools called so far (e.g. the policy holder), merged into one mapping."""
        return dict(self._context)

    def is_complete_answer(self, caller_text: str) -> bool:
        """True when the text answers the pending read-back (yes or no) or holds a whole value of a type that
        cannot run on (a code, a phone number, a date, a yes/no...). Names and free text never are: the
        caller may still be speaking after a pause."""
        if self._confirming is not None:
            return yes_no(caller_text) is not None
        if self._current is None:
            return False
        f = dict(self._fields)[self._current]
        if f.type not in _SELF_DELIMITING_TYPES:
            return False
        return extract(f, caller_text, today=self.today, strict=True).value is not None

    def stt_retry_hint(self, caller_text: str) -> str | None:
        """A prompt for a second decode of the same audio, while a spelled code or a phone number is asked
        for and the plain decode holds none (or only a value the validation tool already turned down).
        Whisper merges spelled letters ("P of 4 4 7") and repeated digits ("five five five" → "55"). Only
        a second pass: a prompt also makes whisper repeat or drop words of ordinary answers."""
        if self._confirming is not None or self._current is None:
            return None
        f = dict(self._fields)[self._current]
        hint = _RETRY_HINTS.get(f.type)
        if hint is None:
            return None
        value = extract(f, caller_text, today=self.today, strict=True).value
        if value is not None and (self._current, value) not in self._rejected:
            return None
        return hint

    def greeting(self) -> str:
        """The YAML greeting, followed by the first question unless the greeting already asks one."""
        text = self.spec.opening()
        if text != self.spec.greeting:
            name, f = self._fields[0]
            self._current = name
            self._last_question = f.question(name)
        self.state.history.append(Message("agent", text))
        return text

    async def take_over(self, previous: DialogState) -> AsyncIterator[str]:
        """Continue a call another agent started: same-named record values are offered as if the caller had
        just given them (validated, read back if marked ``confirm``), every earlier caller turn is searched
        for values the caller volunteered, then the first question still open is asked."""
        self.state.history[:0] = previous.history
        self.state.caller_history = previous.caller_history
        self.state.agents[:0] = previous.agents or [previous.agent]

        async def work() -> list[str]:
            try:
                for name, _ in self._fields:
                    if name in previous.record and self._status[name] == "empty":
                        await self._offer(name, previous.record[name], quiet=True)
                for msg in previous.history:
                    if msg.role == "caller":
                        await self._volunteer(msg.text, exclude="")
                return await self._next_prompt()
            except _Stop as stop:
                return stop.lines

        async for clause in self._say(work()):
            yield clause

    async def transfer_failed(self, message: str) -> AsyncIterator[str]:
        """Nobody took the transfer: apologise, promise the callback, and go back to the open questions (a
        completed record closes the call as usual)."""
        self.state.outcome = Outcome()
        self._status.update({n: "empty" for n, st in self._status.items() if st == "deferred"})

        async def work() -> list[str]:
            try:
                return [self.spec.phrases.transfer_failed, *await self._next_prompt()]
            except _Stop as stop:
                return stop.lines

        async for clause in self._say(work()):
            yield clause

    async def reply(self, caller_text: str) -> AsyncIterator[str]:
        """Answer one caller turn clause by clause; the caller's text and the reply go into the history."""
        async for clause in self._reply(caller_text, caller_text):
            yield clause

    def on_dtmf(self, digits: str) -> AsyncIterator[str]:
        """Keypad digits are read as spoken digits; a lone 0 outside a digit question asks for a person."""
        keys = digits.strip()
        field = self.spec.record.get(self._current) if self._current else None
        if keys == "0" and (field is None or field.type not in _DIGIT_TYPES):
            return self._reply("operator", f"[keypad {keys}]")
        spoken = " ".join(c for c in keys if c.isdigit())
        return self._reply(spoken, f"[keypad {keys}]")

    def fixed_phrases(self) -> list[str]:
        """Every phrase this agent says word for word, clause by clause (plus the whole greeting)."""
        spec = self.spec
        texts: list[str] = [spec.greeting]
        for name, f in self._fields:
            texts += [f.question(name), f.rephrase(name)]
            if f.escalate_say:
                texts.append(f.escalate_say)
            if f.ack:
                texts.append(f.ack)
        p = spec.phrases
        texts += p.ack
        texts += [
            p.not_understood, p.correction, p.intent, p.repeat, p.hold, p.skip, p.silence, p.silence_hangup,
            p.goodbye, p.human, p.error, p.closing, p.give_up, spec.escalation.say, p.silence_transfer,
            p.defer, p.come_back, p.transfer_failed, p.time_limit, p.trouble_transfer, p.trouble_hangup,
        ]  # fmt: skip
        texts += [r.say for r in spec.rules if r.say]
        if spec.handoff is not None and spec.handoff.say:
            texts.append(spec.handoff.say)
        if spec.on_complete is not None:
            texts.append(spec.on_complete.say)
        out: list[str] = []
        greeting_full = self.spec.opening()
        for text in [greeting_full, *texts]:
            pieces = [text] if text == greeting_full else []
            pieces += split_clauses(text)
            for piece in pieces:
                if piece and not placeholders(piece) and piece not in out:
                    out.append(piece)
        return out

    # ------------------------------------------------------------------------------------------ turn logic

    async def _reply(self, caller_text: str, history_text: str) -> AsyncIterator[str]:
        self.state.history.append(Message("caller", history_text))
        if self.state.outcome.action != "continue":
            return
        async for clause in self._say(self._respond_or_stop(caller_text)):
            yield clause

    async def _say(self, work: Any) -> AsyncIterator[str]:
        """Yield the reply ``work`` computes, clause by clause, and record it as one agent message.

        While it runs, a slow tool's filler line is yielded at once, so the caller hears "one moment"
        instead of dead air. The reply is in the history before its first clause is yielded, so a reply cut
        short by barge-in still holds what was generated (``interrupted`` then cuts it)."""
        fillers: asyncio.Queue[str] = asyncio.Queue()
        self._fillers = fillers
        task = asyncio.ensure_future(work)
        said: list[str] = []
        try:
            while not task.done():
                getter = asyncio.ensure_future(fillers.get())
                done, _ = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    continue
                for clause in split_clauses(getter.result()):
                    said.append(clause)
                    yield clause
            lines: list[str] = task.result()
        finally:
            self._fillers = None
            if not task.done():
                task.cancel()
        clauses = [c for line in lines if line for c in split_clauses(line)]
        if said or clauses:
            self.state.history.append(Message("agent", " ".join([*said, *clauses])))
        for clause in clauses:
            yield clause

    async def _respond_or_stop(self, text: str) -> list[str]:
        try:
            return await self._respond(text)
        except _Stop as stop:
            return stop.lines

    async def _call_tool(self, name: str, /, **kwargs: Any) -> dict[str, Any]:
        """Call a tool; if it is slow, its filler line is said while it runs."""
        fillers = self._fillers
        if fillers is None:
            return await self.tools.call(name, **kwargs)
        return await self.tools.call_with_filler(name, fillers.put_nowait, **kwargs)

    async def _respond(self, text: str) -> list[str]:
        text = text.strip()
        self._turns += 1
        if not text:
            return self._on_silence()
        self._silences = 0
        if self._turns > self.spec.limits.max_turns:
            self._escalate("too many turns", [self.spec.phrases.give_up])
        if wants_human(text):
            self._escalate("caller asked for a human", [self.spec.phrases.human])
        if self._current is None:  # the greeting asked an open question
            volunteered = await self._volunteer(text, exclude="")
            opener = self._next_ack() if volunteered else self.spec.phrases.intent
            return _with_ack(opener, await self._next_prompt())
        if self._confirming is not None:
            return await self._on_confirm(text)
        return await self._on_answer(text)

    def interrupted(self, heard: str) -> None:
        """The caller talked over the last reply; if they heard none of it, they were still finishing their
        previous turn (a pause inside "Yes, ... that's right" ended it early)."""
        super().interrupted(heard)
        self._unheard = not heard.strip()

    async def _on_answer(self, text: str) -> list[str]:
        name = self._current
        assert name is not None
        f = self.spec.record[name]
        p = self.spec.phrases
        unheard, self._unheard = self._unheard, False
        if (
            unheard
            and f.type != "boolean"
            and yes_no(text) is True
            and not extract(f, text, today=self.today).ok
        ):
            # The rest of an answer already taken, said over a question the caller never heard: ask it now.
            return [self._question(name)]
        conversational = is_repeat_request(text) or is_hold_request(text) or is_goodbye(text)
        if f.type in _STRING_TYPES and (conversational or is_non_answer(text) or wants_human(text)):
            result = ExtractResult(None, p.not_understood)
        elif not f.required and f.type in _STRING_TYPES and is_skip(text):
            result = ExtractResult(None, None)
        else:
            result = extract(f, text, today=self.today)
        if result.ok:
            accepted, msgs = await self._offer(name, result.value)
            await self._volunteer(text, exclude=name)
            if not accepted:
                return self._failed(name, msgs)
            if self._status[name] == "filled":
                return _with_ack(self._ack(name), await self._next_prompt())
            return await self._next_prompt()
        volunteered = await self._volunteer(text, exclude=name)
        if is_repeat_request(text):
            return [p.repeat, self._question(name, rephrase=True)]
        if is_hold_request(text):
            return [p.hold]
        if is_goodbye(text) and not volunteered:
            self._hang_up("caller said goodbye", [p.goodbye])
        if f.required and f.type != "boolean" and is_non_answer(text) and not volunteered:
            if name not in self._deferred:  # ask the rest first, then come back once
                self._deferred.add(name)
                self._status[name] = "deferred"
                return [p.defer, *await self._next_prompt()]
            self._status[name] = "skipped"
            self.state.unknown.append(name)
            self._apply_rules()
            return [p.skip, *await self._next_prompt()]
        if not f.required:
            if is_bare_yes(text) and name not in self._optional_retried:
                self._optional_retried.add(name)
                return [self._question(name, rephrase=True)]
            self._status[name] = "skipped"
            self._apply_rules()
            return [p.skip, *await self._next_prompt()]
        if volunteered:
            return _with_ack(self._next_ack(), await self._next_prompt())
        if self._nothing_captured() and mentions_intent(text):
            return [p.intent, self._question(name, rephrase=True)]
        return self._failed(name, [result.error or p.not_understood])

    async def _on_confirm(self, text: str) -> list[str]:
        name = self._confirming
        assert name is not None
        f = self.spec.record[name]
        p = self.spec.phrases
        pending = self._pending[name]
        answer = yes_no(text)
        correction: Any = None
        if f.type != "boolean":
            stripped = _LEADING_NO_RE.sub("", text).strip()
            candidate = text if f.type not in _STRING_TYPES else (stripped if answer is False else "")
            if candidate:
                r = extract(f, candidate, today=self.today)
                correction = r.value if r.ok else _code_tail_fix(f, pending, candidate)
        await self._volunteer(text, exclude=name)
        if correction is not None and correction != pending:
            self._pending.pop(name, None)
            self._status[name] = "empty"
            self._confirming = None
            accepted, msgs = await self._offer(name, correction)
            if not accepted:
                return self._failed(name, msgs)
            return [p.correction, *await self._next_prompt()]
        if answer is True or (correction is not None and correction == pending):
            self._confirming = None
            self._pending.pop(name, None)
            self._fill(name, pending)
            return _with_ack(self._ack(name), await self._next_prompt())
        if answer is False:
            self._confirming = None
            self._pending.pop(name, None)
            self._status[name] = "empty"
            self._bump_failure(name)
            return [p.correction, self._question(name, rephrase=True)]
        if is_repeat_request(text):
            return [p.repeat, self._confirm_question(name)]
        if is_goodbye(text):
            self._hang_up("caller said goodbye", [p.goodbye])
        self._bump_failure(name)
        return [self._confirm_question(name, again=True)]

    def _on_silence(self) -> list[str]:
        p = self.spec.phrases
        self._silences += 1
        if self._silences > self.spec.limits.silence_reprompts:
            if self.spec.limits.on_silence == "escalate":
                self._escalate("no response from caller", [p.silence_transfer])
            self._hang_up("no response from caller", [p.silence_hangup])
        if self._confirming is not None:
            return [p.silence, self._confirm_question(self._confirming)]
        if self._current is not None:
            return [p.silence, self._question(self._current, rephrase=True)]
        return [p.silence]

    # ------------------------------------------------------------------------------------------ values

    async def _offer(self, name: str, value: Any, *, quiet: bool = False) -> tuple[bool, list[str]]:
        """Validate a captured value; then hold it for confirmation or fill it. (accepted, lines to say)."""
        f = self.spec.record[name]
        if f.validate_with is not None:
            try:
                result = await self._call_tool(f.validate_with, **{name: value})
            except ToolUnavailable as e:  # the tool broke or timed out: not the caller's fault
                if quiet:
                    return False, []
                self._escalate(f"tool {f.validate_with} failed: {_cause(e)}", [self.spec.phrases.error])
            except ToolError as e:  # the tool turned the value down
                self._rejected.add((name, value))
                return False, [e.message]
            self._context.update(result)
            if name in result and result[name] is not None:
                value = result[name]
            self._set_by_tool(f.validate_with, result)
        if f.confirm:
            self._pending[name] = value
            self._status[name] = "pending"
            return True, []
        self._fill(name, value)
        return True, []

    def _fill(self, name: str, value: Any) -> None:
        f = self.spec.record[name]
        self.state.record[name] = value
        self._status[name] = "filled"
        self._apply_rules()
        if escalates(f, value):
            say = [self._render(f.escalate_say)] if f.escalate_say else []
            self._escalate(f"{self.spec.escalation.reason} ({name} = {value!r})", [s for s in say if s])

    def _set_by_tool(self, tool: str, result: Mapping[str, Any]) -> None:
        """Store the result keys that are record fields this tool fills (``set_by: <tool>``)."""
        for key, value in result.items():
            f = self.spec.record.get(key)
            if f is not None and f.set_by == tool and value is not None:
                self.state.record[key] = value

    def _settled(self) -> set[str]:
        """Fields whose value is final for rules: filled, skipped, or set by a tool or a rule."""
        done = {n for n, st in self._status.items() if st in ("filled", "skipped")}
        return done | {n for n in self.spec.record if n not in self._status and n in self.state.record}

    def _apply_rules(self) -> None:
        """Compute derived fields, then fire the call rules that now hold (each once)."""
        record = self.state.record
        record.update(self._rules.derive(record, self._settled()))
        firing = self._rules.firing(record, self._settled(), self._fired)
        if firing is None:
            return
        i, rule = firing
        self._fired.add(i)
        say = [line for line in [self._render(rule.say) if rule.say else None] if line]
        if rule.action == "end":
            self._hang_up(rule.reason, say)
        self._escalate(rule.reason, say, target=transfer_address(rule.transfer), announce=not say)

    async def _volunteer(self, text: str, *, exclude: str) -> list[str]:
        """Fill other empty fields from distinctive values in ``text``; the names filled or held.

        Fields of the same type as ``exclude`` (the field being answered) are left alone: "two weeks ago"
        answers the incident date and is not also the deadline."""
        found: dict[str, Any] = {}
        asked_type = self.spec.record[exclude].type if exclude else None
        for name, f in self._fields:
            if name == exclude or self._status[name] != "empty" or f.type == asked_type:
                continue
            r = extract(f, text, today=self.today, strict=True)
            if r.ok:
                found[name] = r.value
        by_type: dict[str, list[str]] = {}
        for name in found:
            by_type.setdefault(self.spec.record[name].type, []).append(name)
        taken: list[str] = []
        for names in by_type.values():
            if len(names) != 1:  # two empty fields of one type: the value is ambiguous
                continue
            name = names[0]
            accepted, _ = await self._offer(name, found[name], quiet=True)
            if accepted:
                taken.append(name)
        return taken

    def _failed(self, name: str, lines: list[str]) -> list[str]:
        self._bump_failure(name)
        return [*lines, self._question(name, rephrase=True)]

    def _bump_failure(self, name: str) -> None:
        self._failures[name] += 1
        if self._failures[name] >= self.spec.limits.max_field_failures:
            self._escalate(f"could not capture {name}", [self.spec.phrases.give_up])

    def _nothing_captured(self) -> bool:
        return not self.state.record and not self._pending

    # ------------------------------------------------------------------------------------------ prompts

    async def _next_prompt(self) -> list[str]:
        """The next question (a read-back for a held value, else the first empty field), or the completion."""
        for name, _ in self._fields:
            status = self._status[name]
            if status == "pending":
                self._current = self._confirming = name
                return [self._confirm_question(name)]
            if status == "empty":
                self._current, self._confirming = name, None
                return [self._question(name)]
        for name, _ in self._fields:  # second pass: what the caller did not know the first time
            if self._status[name] == "deferred":
                self._status[name] = "empty"
                self._current, self._confirming = name, None
                return [self.spec.phrases.come_back, self._question(name, rephrase=True)]
        self._current = self._confirming = None
        return await self._complete()

    async def _complete(self) -> list[str]:
        spec = self.spec
        handoff = hand_over(spec, self.state.record)
        if handoff is not None:  # a front-door agent: its record says who takes the call
            self.state.outcome = handoff
            assert spec.handoff is not None
            return [line for line in [self._render(spec.handoff.say) if spec.handoff.say else None] if line]
        oc = spec.on_complete
        if oc is not None and oc.tool is not None:
            try:
                result = await self._call_tool(oc.tool, record=dict(self.state.record))
            except ToolUnavailable as e:
                self._escalate(f"tool {oc.tool} failed: {_cause(e)}", [spec.phrases.error])
            except ToolError as e:
                self._escalate(f"tool {oc.tool} failed: {e.message}", [e.message])
            self._context.update(result)
            keep_tool_results(spec, self.state.record, result)
        line = (self._render(oc.say) if oc is not None else None) or spec.phrases.closing
        self.state.outcome = Outcome(action="hang_up", reason="completed")
        return [line]

    def _question(self, name: str, *, rephrase: bool = False) -> str:
        """The question for ``name``; the rephrase instead if it would repeat the last question verbatim."""
        f = self.spec.record[name]
        first, second = (
            (f.rephrase(name), f.question(name)) if rephrase else (f.question(name), f.rephrase(name))
        )
        q = second if first == self._last_question else first
        self._last_question = q
        return q

    def _confirm_question(self, name: str, *, again: bool = False) -> str:
        f = self.spec.record[name]
        p = self.spec.phrases
        spoken = speak_value(f.type, self._pending[name], self.today)
        a, b = (p.confirm_again, p.confirm) if again else (p.confirm, p.confirm_again)
        q = a.format(value=spoken)
        if q == self._last_question:
            q = b.format(value=spoken)
        self._last_question = q
        return q

    def _ack(self, name: str) -> str:
        f = self.spec.record[name]
        if f.ack:
            rendered = self._render(f.ack)
            if rendered:
                return rendered
        return self._next_ack()

    def _next_ack(self) -> str:
        acks = self.spec.phrases.ack
        text = acks[self._ack_index % len(acks)]
        self._ack_index += 1
        return text

    def _render(self, template: str) -> str | None:
        return render(template, self.spec, self.state.record, self._context, self.today)

    # ------------------------------------------------------------------------------------------ outcomes

    def _escalate(self, reason: str, lines: list[str], target: str = "", announce: bool = True) -> NoReturn:
        """Hand the call to a human after ``lines`` and (if ``announce``) the agent's transfer line."""
        target = target or transfer_address(self.spec.escalation.transfer)
        self.state.outcome = Outcome(action="escalate", reason=reason, target=target)
        self.state.escalated = True
        self._current = self._confirming = None
        say = self._render(self.spec.escalation.say) or self.spec.escalation.say
        raise _Stop([*lines, say] if announce else lines)

    def _hang_up(self, reason: str, lines: list[str]) -> NoReturn:
        self.state.outcome = Outcome(action="hang_up", reason=reason)
        self._current = self._confirming = None
        raise _Stop(lines)
