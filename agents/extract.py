"""Typed extractors: turn what a caller said (speech-recognised text) into a record value, plus intent checks.

``extract(field, text, today=..., strict=False) -> ExtractResult`` dispatches on ``field.type``:

* ``code``: letters and digits as whisper writes them ("PA44712", "P.A. 44712", "P A 4 4 7 1 2", "Pa 44712",
  "PA-44712"), spelled ("papa alpha four four seven one two", "P as in Peter"), number words ("forty four
  seven twelve", "double seven", "triple five", "oh" for zero); matched against ``field.pattern``
  (upper-cased), e.g. ``^[A-Z]{2}\\d{5}$``.
* ``phone``: E.164 (``+14255550123``); US default ``+1``; digits, groupings and spoken digits ("four two five
  five five five oh one two three", "double five").
* ``date``: ISO ``YYYY-MM-DD`` from "today", "yesterday", "last night", "two days ago", "last Tuesday",
  "tomorrow", "March 5th", "the 5th of March", "3/5/2026", "March 5, 2026", relative to the injected
  ``today``; a date without a year that would lie after ``field.max`` is taken from the year before. A bare
  weekday ("on Monday") or day ("the 20th") is the most recent one, or the next one when ``field.min`` is
  today or later. A date after ``max`` is refused ("That date is in the future.").
* ``time``: ``HH:MM`` (24 h) from "around 3 pm", "15:30", "half past two in the afternoon", "quarter to
  five", "noon". Without am/pm or a part of the day, 1-6 o'clock is read as afternoon.
* ``boolean``: yes/no with negation handled clause by clause ("there were no injuries", "nobody was hurt" →
  False; "yeah, nobody was hurt" → False; "I'm fine but my wife is hurt" → True), plus the field's own
  ``yes_words``/``no_words``. The last clause with an opinion wins ("yes... well no" → False); hedges
  count ("I think so", "I guess so" → True; "not really" → False); "I'm not sure" gives None.
* ``integer``/``number``: digits and number words ("seven", "twenty one", "a couple"; "none" → 0),
  checked against ``min``/``max``. The last number said wins ("2, no, 3" → 3), but a score is its first
  part ("seven out of ten" → 7) and a range or alternatives count as their larger end ("an eight or nine",
  "between six and seven" → 9, 7).
* ``enum``: the values and their synonyms (whole words, longest first); the last mention that is not
  negated wins ("I was fired, not arrested"). A value or synonym written as two capitals ("CA", "IN") is a
  letter code and only matches capitals in the text ("CA", "C.A.", "C A"), so "in", "or", "me", "oh" stay
  words; "OK" is never read as a code.
* ``list``: like ``enum``, but every value named, in order of first mention (``["chest_pain", "fever"]``).
  Negated mentions do not count ("no chest pain", "I don't have trouble breathing", "without fever"; the
  scope rules are in ``_scope_negation``), and a negative answer ("no", "none of those", "nothing like
  that", "I don't think so", or only negated mentions) gives ``[]``.
* ``email``: "john dot smith at gmail dot com".
* ``string``/``text``: the utterance cleaned of fillers and lead-ins ("My name is Jane Doe." → "Jane Doe").

``strict=True`` is for values a caller volunteers while being asked about something else: only distinctive
shapes count (a code matching its pattern, a full phone number, an email, a date or time with an explicit
marker, a boolean stated with one of the field's own ``yes_words``, e.g. "nobody was hurt", an enum value
named by a word rather than a letter code) and only when the text holds exactly one value. A list in strict
mode gives the values named positively, never ``[]``.

The intent checks (``yes_no``, ``wants_human``, ``is_goodbye``, ``is_repeat_request``, ``is_hold_request``,
``is_non_answer``, ``is_skip``, ``mentions_intent``) and ``speak_value`` (how a value is read back: codes and
phone numbers spelled out, lists joined with "and", ``[]`` as "none") live here too. Everything is pure: no
I/O, no clock (``today`` is passed in).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.spec import FieldSpec

# --------------------------------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True)
class ExtractResult:
    """The outcome of one extraction: ``value`` (None if nothing usable) or a speakable ``error``."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when a value was found."""
        return self.value is not None


def _fail(error: str | None = None) -> ExtractResult:
    return ExtractResult(None, error)


# --------------------------------------------------------------------------------------------------- words

_ONES = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9,
}  # fmt: skip
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
    "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
_NUMBER_WORDS = set(_ONES) | set(_TEENS) | set(_TENS) | set(_ORDINALS) | {"hundred", "thousand"}

_NATO = {
    "alpha": "A", "alfa": "A", "bravo": "B", "charlie": "C", "delta": "D", "echo": "E", "foxtrot": "F",
    "golf": "G", "hotel": "H", "india": "I", "juliet": "J", "juliett": "J", "kilo": "K", "lima": "L",
    "mike": "M", "november": "N", "oscar": "O", "papa": "P", "quebec": "Q", "romeo": "R", "sierra": "S",
    "tango": "T", "uniform": "U", "victor": "V", "whiskey": "W", "whisky": "W", "xray": "X", "yankee": "Y",
    "zulu": "Z",
}  # fmt: skip
_FILLERS = {"um", "umm", "uh", "uhh", "uhm", "er", "erm", "ah", "ahh", "hmm", "mm", "hm"}

_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "sept": 9, "october": 10, "november": 11, "december": 12,
}  # fmt: skip
_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)  # fmt: skip
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_CONTRACTED_NEG = (
    "didnt|dont|doesnt|wasnt|werent|isnt|arent|havent|hasnt|hadnt|cant|couldnt|wouldnt|wont|shouldnt|aint"
)


def _norm(text: str) -> str:
    """Lower case, curly quotes straightened, hyphens between letters made spaces, a.m./p.m. → am/pm."""
    t = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    t = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", t)
    t = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", t)
    t = re.sub(r"\bo'?\s?clock\b", "oclock", t)
    t = re.sub(r"(?<=\d),(?=\d{3}\b)", "", t)
    return t


def _tokens(text: str) -> list[str]:
    """Words of the normalised text; keeps ``3/5/2026``, ``15:30``, ``3.5``, ``it's`` as single tokens."""
    return re.findall(r"[a-z0-9]+(?:['/:.\-][a-z0-9]+)*", _norm(text))


def _small(toks: Sequence[str], j: int) -> tuple[int, int, bool] | None:
    """A number 0-99 in words at ``toks[j]``: (value, next index, is ordinal)."""
    if j >= len(toks):
        return None
    w = toks[j]
    nxt = toks[j + 1] if j + 1 < len(toks) else ""
    if w in _TENS:
        v = _TENS[w]
        if nxt in _ONES and nxt != "zero":
            return v + _ONES[nxt], j + 2, False
        if nxt in _ORDINALS and _ORDINALS[nxt] < 10:
            return v + _ORDINALS[nxt], j + 2, True
        return v, j + 1, False
    if w in _TEENS:
        return _TEENS[w], j + 1, False
    if w in _ONES:
        return _ONES[w], j + 1, False
    if w in _ORDINALS:
        return _ORDINALS[w], j + 1, True
    return None


def _group(toks: Sequence[str], j: int) -> tuple[int, int, bool] | None:
    """A number 0-999 in words ("three hundred and twelve", "a hundred")."""
    r = _small(toks, j)
    if r is None:
        if j + 1 < len(toks) and toks[j] in ("a", "one") and toks[j + 1] in ("hundred", "thousand"):
            r = (1, j + 1, False)
        else:
            return None
    v, j, ordinal = r
    if not ordinal and j < len(toks) and toks[j] == "hundred":
        v *= 100
        j += 1
        k = j + 1 if j < len(toks) and toks[j] == "and" else j
        r2 = _small(toks, k)
        if r2 is not None:
            v, j, ordinal = v + r2[0], r2[1], r2[2]
    return v, j, ordinal


def _cardinal(toks: Sequence[str], j: int) -> tuple[int, int, bool] | None:
    """A number in words up to 999,999 at ``toks[j]``: (value, next index, is ordinal)."""
    r = _group(toks, j)
    if r is None:
        return None
    v, j, ordinal = r
    if not ordinal and j < len(toks) and toks[j] == "thousand":
        v *= 1000
        j += 1
        k = j + 1 if j < len(toks) and toks[j] == "and" else j
        r2 = _group(toks, k)
        if r2 is not None:
            v, j, ordinal = v + r2[0], r2[1], r2[2]
    return v, j, ordinal


def ordinal_suffix(n: int) -> str:
    """``1`` → ``st``, ``2`` → ``nd``, ``11`` → ``th``, ``23`` → ``rd``."""
    if 10 <= n % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def numerize(text: str) -> str:
    """Normalised text with number words as digits: "March fifth at three thirty" → "march 5th at 3 30"."""
    toks = _tokens(text)
    out: list[str] = []
    i = 0
    while i < len(toks):
        r = _cardinal(toks, i) if (toks[i] in _NUMBER_WORDS or toks[i] in ("a", "one")) else None
        if r is not None and r[1] > i:
            v, i, ordinal = r
            out.append(f"{v}{ordinal_suffix(v)}" if ordinal else str(v))
        else:
            out.append(toks[i])
            i += 1
    return " ".join(out)


def words_of(text: str) -> list[str]:
    """The words of ``text``, lower case, punctuation dropped (apostrophes kept)."""
    return _tokens(text)


# --------------------------------------------------------------------------------------------------- intents

_NEG_RE = re.compile(
    rf"\b(no|nope|nah|not|never|none|nobody|noone|nothing|neither|nor|negative|without|wrong|incorrect|"
    rf"{_CONTRACTED_NEG})\b|\bno one\b|\b\w+n't\b"
)
_UNSURE_RE = re.compile(
    r"\b(not sure|unsure|(?:i )?(?:don'?t|do not) know|dunno|no idea|not certain|"
    r"(?:can'?t|cannot|don'?t|do not) (?:remember|recall)|i forget|maybe|possibly|probably)\b"
)
_MINIMIZER_RE = re.compile(
    r"\bnot\s+(?:too\s+|that\s+|very\s+|really\s+|so\s+)?(?:bad|badly|serious|seriously|severe|severely|much|major)\b"
    r"|\bnothing\s+(?:too\s+|that\s+)?(?:serious|major|bad)\b"
)
_YES_RE = re.compile(
    r"\b(yes|yeah|yea|yep|yup|ya|yah|sure|absolutely|definitely|affirmative|certainly|indeed|okay|ok|"
    r"uh huh|mm hmm|mhm|of course|i think so|i believe so|i guess so|i suppose so|correct|exactly|you got it|"
    r"perfect|that'?s it|"
    r"that'?s right|you'?re right|right)\b"
)
_AUX_YES_RE = re.compile(
    r"^(?:(?:i|we|they|he|she|it|there|someone|somebody|yes|yeah)\s+)*"
    r"(?:was|were|did|do|does|have|has|had|am|is|are)(?:\s+(?:too|also))?$"
)
_CLAUSE_SPLIT_RE = re.compile(r"[,.;!?]+|\b(?:but|though|although|however|actually|wait|and)\b")


def _clauses(text: str) -> list[str]:
    t = _norm(text)
    return [c.strip() for c in _CLAUSE_SPLIT_RE.split(t) if c and c.strip()]


def _word_re(word: str) -> re.Pattern[str]:
    return re.compile(rf"\b{re.escape(word.lower())}\b")


def _clause_verdict(
    clause: str, yes_words: Sequence[str], no_words: Sequence[str], *, generic: bool
) -> bool | str | None:
    """True / False / "unsure" / None (no opinion) for one clause."""
    if _UNSURE_RE.search(clause):
        return "unsure"
    c = _MINIMIZER_RE.sub(" ", clause).strip()
    if not c:
        return None
    negated = _NEG_RE.search(c) is not None
    for w in no_words:
        if _word_re(w).search(c):
            local = re.search(rf"\b(?:not|never|\w+n't|{_CONTRACTED_NEG})\s+(?:\w+\s+)?{re.escape(w)}\b", c)
            return local is not None
    for w in yes_words:
        if _word_re(w).search(c):
            return not negated
    if not generic:
        return None
    if negated:
        return False
    if _YES_RE.search(c) or _AUX_YES_RE.match(c):
        return True
    return None


def _verdict(
    text: str, yes_words: Sequence[str] = (), no_words: Sequence[str] = (), *, generic: bool = True
) -> tuple[bool | None, bool]:
    """(the last clause's yes/no verdict or None, whether some clause was unsure)."""
    verdict: bool | None = None
    unsure = False
    for clause in _clauses(text):
        v = _clause_verdict(clause, yes_words, no_words, generic=generic)
        if v == "unsure":
            unsure = True
        elif isinstance(v, bool):
            verdict = v
    return verdict, unsure


def yes_no(text: str) -> bool | None:
    """The caller's yes (True) or no (False) to a confirmation question; None if neither is clear.

    Clause by clause, the last clause with an opinion wins ("no wait, yes" → True); negation words make a
    clause a no ("that's not right" → False).
    """
    verdict, _ = _verdict(text)
    return verdict


def _short(text: str, max_words: int) -> bool:
    return len(words_of(text)) <= max_words


_HUMAN_RE = re.compile(
    r"\b(representative|operator|human being|real person|live person|live agent|real agent|human agent|"
    r"a human|customer service|someone real)\b"
    r"|\b(speak|talk|transfer|connect|put me through|get me)\b.{0,30}\b(agent|representative|person|human|"
    r"someone|somebody|adjuster|operator|manager|supervisor)\b"
)
_HUMAN_SHORT_RE = re.compile(
    r"^(?:(?:i want|i need|can i get|can i have|give me|get me|please)\s+)?(?:an?\s+|the\s+)?"
    r"(?:agent|representative|person|human|operator)(?:\s+please)?$"
)


def wants_human(text: str) -> bool:
    """True when the caller asks for a person ("agent", "representative", "let me talk to someone")."""
    t = " ".join(words_of(text))
    return bool(_HUMAN_RE.search(t) or _HUMAN_SHORT_RE.match(t))


_GOODBYE_RE = re.compile(
    r"\b(goodbye|good bye|bye|bye bye|byebye|hang up|gotta go|got to go|have to go|talk to you later|"
    r"never mind|nevermind)\b"
)


def is_goodbye(text: str) -> bool:
    """True when a short utterance takes leave ("bye", "goodbye", "I have to go")."""
    return _short(text, 8) and _GOODBYE_RE.search(" ".join(words_of(text))) is not None


_REPEAT_RE = re.compile(
    r"\b(repeat|say (?:that|it) again|say again|come again|what was that|what did you say|one more time|"
    r"didn'?t (?:catch|hear|get|understand) (?:that|you|it|the question)|pardon|excuse me)\b"
    r"|^(?:(?:what|sorry|huh|pardon)\s*)+$"
)


def is_repeat_request(text: str) -> bool:
    """True when the caller asks to hear the question again ("sorry?", "can you repeat that?")."""
    return _short(text, 8) and _REPEAT_RE.search(" ".join(words_of(text))) is not None


_HOLD_RE = re.compile(
    r"\b(hold on|hang on|(?:one|a|just a|give me a|wait a) (?:sec|second|moment|minute)|"
    r"let me (?:check|find|look|get|grab|see)|bear with me)\b|^wait$"
)


def is_hold_request(text: str) -> bool:
    """True when the caller asks for a moment ("hold on", "let me check")."""
    return _short(text, 10) and _HOLD_RE.search(" ".join(words_of(text))) is not None


def is_non_answer(text: str) -> bool:
    """True when a short utterance says the caller does not know ("I'm not sure", "no idea")."""
    return _short(text, 8) and _UNSURE_RE.search(" ".join(words_of(text))) is not None


_SKIP_RE = re.compile(
    r"\b(skip|pass|none|nothing|not applicable|n/?a|no one|nobody|just me|only me|just myself|"
    r"single car|single vehicle|no other|i don'?t have|there wasn'?t|there was no|there were no)\b"
)


def is_skip(text: str) -> bool:
    """True when the caller declines an optional question ("no", "none", "skip", "it was just me")."""
    t = " ".join(words_of(text))
    if _SKIP_RE.search(t):
        return True
    verdict, _ = _verdict(text)
    return verdict is False


_INTENT_RE = re.compile(
    r"\b(accident|claim|crash|crashed|collision|report|fender bender|hit|rear ended|damage|damaged|wreck|"
    r"help)\b"
)


def mentions_intent(text: str) -> bool:
    """True when the caller states why they call ("I'd like to report an accident") without a value."""
    return _INTENT_RE.search(" ".join(words_of(text))) is not None


_BARE_YES_RE = re.compile(r"^(?:(?:yes|yeah|yep|yup|sure|there was|there were|i do|i did)\s*)+$")


def is_bare_yes(text: str) -> bool:
    """True for a plain "yes" with nothing else ("Yeah.", "Yes, there was.")."""
    return _BARE_YES_RE.match(" ".join(words_of(text))) is not None


# --------------------------------------------------------------------------------------------------- code


def _split_raw(text: str) -> list[str]:
    """Whitespace/comma-separated tokens with outer punctuation stripped (inner dots and dashes kept)."""
    t = text.replace("\u2019", "'")
    out: list[str] = []
    for tok in re.split(r"[\s,;:!?()\"\[\]]+", t):
        tok = tok.strip(".'-")
        if tok:
            out.append(tok)
    return out


def _expand_hyphens(toks: list[str]) -> list[str]:
    """Split hyphenated spoken words ("forty-four", "papa-alpha"); join hyphenated characters ("P-A-4")."""
    out: list[str] = []
    for tok in toks:
        low = tok.lower()
        if "-" in low and low != "x-ray":
            parts = [p for p in low.split("-") if p]
            if parts and all(
                p in _NUMBER_WORDS or p in _NATO or p in ("oh", "double", "triple") for p in parts
            ):
                out.extend(parts)
                continue
            if any(c.isdigit() for c in low) or all(len(p) == 1 for p in parts):
                out.append(tok.replace("-", ""))
                continue
        out.append(tok)
    return out


def _digit_string_units(toks: list[str], i: int) -> tuple[str, int] | None:
    """Number words at ``toks[i]`` read as a digit string: "forty four" → "44", "eight hundred" → "800"."""
    low = toks[i].lower()
    nxt = toks[i + 1].lower() if i + 1 < len(toks) else ""
    if low in _TENS:
        if nxt in _ONES and nxt != "zero":
            return str(_TENS[low] + _ONES[nxt]), i + 2
        return str(_TENS[low]), i + 1
    if low in _TEENS:
        return str(_TEENS[low]), i + 1
    if low in _ONES:
        if nxt == "hundred":
            return str(_ONES[low]) + "00", i + 2
        if nxt == "thousand":
            return str(_ONES[low]) + "000", i + 2
        return str(_ONES[low]), i + 1
    return None


Unit = list[str] | None
"""Alternatives for one spoken unit (e.g. ["O", "0"] for "oh"), or None for a word that breaks a run."""


_SHORT_WORDS = frozenset("of is it in on at to an and the my its for was are has had you our his her".split())
"""Short lower-case words a recognizer writes for real words, never for spelled letters ("P of 5 1 2"
is a misheard "P A 5 1 2", not the code "OF512")."""


_SPELLING_ANCHOR_RE = re.compile(
    r"\b(?:[A-Za-z]{1,4}\s*,?\s+)?"
    r"(?:[Aa]s\s+[Ii]n|(?:[Aa]s|[Ii]s|[Hh]as|[Dd]oes|[Ww]as)\s+(?:[Ii]n|[Aa]n|[Aa]nd)(?=\s+[A-Z]))"
    r"\s+(?!(?:the|a|an|my|your|our|this|that|there|here)\b)([A-Za-z])[A-Za-z]{2,}\b"
)
"""A letter given by a spelling-alphabet word ("P as in Peter"): the word's initial is the letter, even when
the recognizer garbles the letter itself ("T as in Peter", "data is in Peter", "I has an Apple"). Loose
forms ("is in", "has an") count only before a capitalised word, as recognizers write the anchor."""


def _code_units(text: str, *, loose_letters: bool) -> list[Unit]:
    """Spoken units of a code: letters, digits, digit groups; None where an ordinary word interrupts."""
    t = text.replace("\u2019", "'")
    t = _SPELLING_ANCHOR_RE.sub(lambda m: m.group(1).upper(), t)
    t = re.sub(r"\b([A-Za-z])\s*,?\s+(?:as\s+in|like\s+in|as\s+for|like)\s+[A-Za-z]+\b", r"\1", t, flags=re.I)
    t = re.sub(
        r"\b([A-Za-z])\s+for\s+([A-Za-z])[a-z]*\b",
        lambda m: m.group(1) if m.group(1).lower() == m.group(2).lower() else m.group(0),
        t,
        flags=re.I,
    )
    t = re.sub(r"\bx[\s-]?ray\b", "xray", t, flags=re.I)
    toks = _expand_hyphens(_split_raw(t))
    units: list[Unit] = []
    repeat = 1
    i = 0
    while i < len(toks):
        tok = toks[i]
        low = tok.lower()
        if low in _FILLERS:
            i += 1
            continue
        if low in ("double", "triple"):
            repeat = 2 if low == "double" else 3
            i += 1
            continue
        unit: Unit
        spoken = _digit_string_units(toks, i)
        if low in _NATO:
            unit, i = [_NATO[low]], i + 1
        elif low in ("oh", "o"):
            unit, i = ["O", "0"], i + 1
        elif spoken is not None:
            unit, i = [spoken[0]], spoken[1]
        else:
            s = re.sub(r"[.'\-]", "", tok)
            i += 1
            if s.isalnum() and any(c.isdigit() for c in s):
                unit = [s.upper()]
            elif s.isalpha() and (
                len(s) == 1
                or (loose_letters and len(s) <= 3 and low not in _SHORT_WORDS)
                or (s.isupper() and len(s) <= 4)
            ):
                unit = [s.upper()]
            else:
                unit = None
        if unit is not None and repeat > 1:
            unit = [u * repeat for u in unit]
        repeat = 1
        units.append(unit)
    return units


def _runs(units: list[Unit]) -> list[list[list[str]]]:
    runs: list[list[list[str]]] = []
    cur: list[list[str]] = []
    for u in units:
        if u is None:
            if cur:
                runs.append(cur)
            cur = []
        else:
            cur.append(u)
    if cur:
        runs.append(cur)
    return runs


def spell(value: str) -> str:
    """A code or number spelled for speech: ``"PA44712"`` → ``"P A 4 4 7 1 2"`` (other characters dropped)."""
    return " ".join(c for c in str(value) if c.isalnum()).upper()


def _extract_code(field: FieldSpec, text: str, strict: bool) -> ExtractResult:
    pattern = field.pattern_re
    if pattern is None:
        if strict:
            return _fail()
        runs = _runs(_code_units(text, loose_letters=False))
        found = ["".join(u[0] for u in run) for run in runs]
        found = [f for f in found if len(f) >= 3 and any(c.isdigit() for c in f)]
        return ExtractResult(found[-1]) if found else _fail("Sorry, I didn't catch the letters and numbers.")
    units = _code_units(text, loose_letters=True)
    matches: list[tuple[int, int, str]] = []
    for i in range(len(units)):
        if units[i] is None:
            continue
        alts = [""]
        for j in range(i, len(units)):
            u = units[j]
            if u is None:
                break
            alts = [a + b for a in alts for b in u][:64]
            if min(len(a) for a in alts) > 32:
                break
            for a in alts:
                if pattern.fullmatch(a):
                    matches.append((j, j - i, a))
                    break
    if matches:
        if strict:
            values = {m[2] for m in matches}
            return ExtractResult(matches[0][2]) if len(values) == 1 else _fail()
        matches.sort(key=lambda m: (m[0], m[1]))
        return ExtractResult(matches[-1][2])
    if strict:
        return _fail()
    strong = _code_units(text, loose_letters=False)
    # a near miss holds a real digit ("oh" alone is none) and is more than a lone "one" or "3 pm"
    runs = [run for run in _runs(strong) if any(c.isdigit() for u in run for c in u[0])]
    heard = ["".join(u[-1] if len(u) > 1 else u[0] for u in run) for run in runs]
    heard = [h for h in heard if len(h) >= 3]
    if heard:
        return _fail(f"I heard {spell(heard[-1])}, but that doesn't look like a complete number.")
    return _fail("Sorry, I didn't catch that number.")


# --------------------------------------------------------------------------------------------------- phone

_PHONE_SKIP = _FILLERS | {"area", "code", "dash", "hyphen", "and", "then"}


def _phone_runs(text: str) -> list[tuple[str, bool]]:
    """Runs of spoken digits: (digits, started with +)."""
    toks = _expand_hyphens(_split_raw(text.replace("(", " ").replace(")", " ")))
    runs: list[tuple[str, bool]] = []
    cur = ""
    plus = False
    repeat = 1
    i = 0
    while i < len(toks):
        tok = toks[i]
        low = tok.lower()
        piece: str | None
        if low in _PHONE_SKIP:
            i += 1
            continue
        if low in ("double", "triple"):
            repeat = 2 if low == "double" else 3
            i += 1
            continue
        spoken = _digit_string_units(toks, i)
        if low in ("oh", "o"):
            piece, i = "0", i + 1
        elif spoken is not None:
            piece, i = spoken
        elif re.fullmatch(r"\+?[\d.\-]+", tok) and any(c.isdigit() for c in tok):
            if tok.startswith("+") and cur:
                runs.append((cur, plus))
                cur = ""
            if tok.startswith("+"):
                plus = True
            piece = re.sub(r"\D", "", tok)
            i += 1
        else:
            piece = None
            i += 1
        if piece is None:
            if cur:
                runs.append((cur, plus))
            cur, plus = "", False
        else:
            cur += piece * repeat
        repeat = 1
    if cur:
        runs.append((cur, plus))
    return runs


def _nanp_ok(ten: str) -> bool:
    return ten[0] in "23456789" and ten[3] in "23456789"


def _phone_candidate(digits: str, plus: bool) -> str | None:
    if plus:
        if digits.startswith("1"):
            return "+" + digits if len(digits) == 11 and _nanp_ok(digits[1:]) else None
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if len(digits) == 10 and _nanp_ok(digits):
        return "+1" + digits
    if len(digits) == 11 and digits[0] == "1" and _nanp_ok(digits[1:]):
        return "+" + digits
    return None


def _extract_phone(text: str, strict: bool) -> ExtractResult:
    runs = _phone_runs(text)
    found = [c for c in (_phone_candidate(d, p) for d, p in runs) if c is not None]
    if found:
        if strict:
            return ExtractResult(found[0]) if len(set(found)) == 1 else _fail()
        return ExtractResult(found[-1])
    digits = max((d for d, _ in runs), key=len, default="")
    if strict or len(digits) < 4:
        return _fail("Sorry, I didn't catch a phone number.")
    if len(digits) == 7:
        return _fail("I only got seven digits. I need the area code too.")
    if len(digits) in (10, 11):
        return _fail("That doesn't sound like a valid US phone number.")
    return _fail(f"I got {len(digits)} digits, but a phone number has ten.")


# --------------------------------------------------------------------------------------------------- date

_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ORD_NUM = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(\d{4}|\d{2}\s\d{2}|'?\d{2}(?=\s|$))"
_DATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("iso", re.compile(r"(?<![\w/.\-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\w/\-])")),
    ("mdy", re.compile(r"(?<![\w/.\-])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\w/\-])")),
    ("mdy_loose", re.compile(r"(?<![\w/.\-])(\d{1,2})[.\-](\d{1,2})[.\-](\d{4}|\d{2})(?![\w/\-])")),
    ("month_day", re.compile(rf"\b({_MONTH_ALT})\s+(?:the\s+)?{_ORD_NUM}\b(?:\s+(?:of\s+)?{_YEAR})?")),
    ("day_month", re.compile(rf"\b(?:the\s+)?{_ORD_NUM}\s+(?:of\s+)?({_MONTH_ALT})\b(?:\s+{_YEAR})?")),
    ("before_yesterday", re.compile(r"\b(?:the\s+)?day\s+before\s+yesterday\b")),
    ("after_tomorrow", re.compile(r"\b(?:the\s+)?day\s+after\s+tomorrow\b")),
    ("tomorrow", re.compile(r"\btomorrow\b")),
    ("yesterday", re.compile(r"\byesterday\b|\blast\s+night\b")),
    (
        "today",
        re.compile(
            r"\b(?:today|tonight|this\s+(?:morning|afternoon|evening)|earlier\s+today|just\s+now|"
            r"(?:a\s+few|\d+)\s+(?:minutes|hours)\s+ago|an?\s+(?:hour|minute)\s+ago)\b"
        ),
    ),
    ("days_ago", re.compile(r"\b(\d+|a|a\s+couple(?:\s+of)?|couple\s+of)\s+days?\s+ago\b")),
    ("weeks_ago", re.compile(r"\b(\d+|a)\s+weeks?\s+ago\b")),
    ("weekday", re.compile(rf"\b(?:(last|this\s+past|past|this|on|next)\s+)?({'|'.join(_WEEKDAYS)})\b")),
    ("day_only", re.compile(r"\b(?:on\s+)?the\s+(\d{1,2})(?:st|nd|rd|th)\b")),
)
_STRICT_DATE_KINDS = {
    "iso", "mdy", "month_day", "day_month", "before_yesterday", "yesterday", "today", "days_ago", "weeks_ago",
    "weekday", "tomorrow", "after_tomorrow",
}  # fmt: skip
_VAGUE_DATE_RE = re.compile(
    r"\b(?:a\s+few|some|several)\s+(?:days|weeks)\s+(?:ago|back)\b|\bthe\s+other\s+day\b|"
    r"\ba\s+while\s+(?:ago|back)\b|\brecently\b"
)


def _year(raw: str | None, today: date) -> int | None:
    if raw is None:
        return None
    raw = raw.replace("'", "")
    if " " in raw:
        a, b = raw.split()
        raw = a + b
    y = int(raw)
    if y < 100:
        y += 2000 if y <= (today.year % 100) + 10 else 1900
    return y


def _bound(value: Any, today: date) -> date | None:
    if value is None:
        return None
    if value == "today":
        return today
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _resolve(
    month: int, day: int, year: int | None, today: date, latest: date | None, future: bool = False
) -> date | None:
    """The date for month/day (and year if given); a yearless date after ``latest`` moves a year back, and
    one before ``today`` a year forward when the field only takes ``future`` dates."""
    try:
        if year is not None:
            return date(year, month, day)
        d = date(today.year, month, day)
    except ValueError:
        return None
    shift = -1 if latest is not None and d > latest else 1 if future and d < today else 0
    if shift:
        try:
            d = date(today.year + shift, month, day)
        except ValueError:
            return None
    return d


def _date_from_match(
    kind: str, m: re.Match[str], today: date, latest: date | None, future: bool = False
) -> date | None:
    """The date a pattern match names. Without a direction a weekday ("Monday", "on Monday", "this Monday")
    is the most recent one before today ("this Monday" on a Monday is today) and "the 20th" the last 20th
    up to today; for a ``future`` field (``min`` today or later) both look ahead instead."""
    g = m.groups()
    if kind == "iso":
        return _resolve(int(g[1]), int(g[2]), int(g[0]), today, latest, future)
    if kind in ("mdy", "mdy_loose"):
        return _resolve(int(g[0]), int(g[1]), _year(g[2], today), today, latest, future)
    if kind == "month_day":
        return _resolve(_MONTHS[g[0]], int(g[1]), _year(g[2], today), today, latest, future)
    if kind == "day_month":
        return _resolve(_MONTHS[g[1]], int(g[0]), _year(g[2], today), today, latest, future)
    if kind == "before_yesterday":
        return today - timedelta(days=2)
    if kind == "yesterday":
        return today - timedelta(days=1)
    if kind == "tomorrow":
        return today + timedelta(days=1)
    if kind == "after_tomorrow":
        return today + timedelta(days=2)
    if kind == "today":
        return today
    if kind == "days_ago":
        n = 1 if g[0] == "a" else 2 if "couple" in g[0] else int(g[0])
        return today - timedelta(days=n)
    if kind == "weeks_ago":
        n = 1 if g[0] == "a" else int(g[0])
        return today - timedelta(weeks=n)
    if kind == "weekday":
        target = _WEEKDAYS.index(g[1])
        if g[0] == "this" and target == today.weekday():
            return today
        if g[0] == "next" or (future and g[0] in (None, "on", "this")):
            return today + timedelta(days=(target - today.weekday() - 1) % 7 + 1)
        return today - timedelta(days=(today.weekday() - target - 1) % 7 + 1)
    if kind == "day_only":
        day = int(g[0])
        try:
            d = today.replace(day=day)
        except ValueError:
            d = None
        if future:
            if d is not None and d >= today:
                return d
            nxt = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
            try:
                return nxt.replace(day=day)
            except ValueError:
                return None
        if d is None or d > today:
            prev = today.replace(day=1) - timedelta(days=1)
            try:
                d = prev.replace(day=day)
            except ValueError:
                return None
        return d
    return None


def _extract_date(field: FieldSpec, text: str, today: date, strict: bool) -> ExtractResult:
    s = numerize(text)
    latest = _bound(field.max, today)
    earliest = _bound(field.min, today)
    future = earliest is not None and earliest >= today
    spans: list[tuple[int, int, str, re.Match[str]]] = []
    for kind, pat in _DATE_PATTERNS:
        if strict and kind not in _STRICT_DATE_KINDS:
            continue
        for m in pat.finditer(s):
            spans.append((m.start(), m.end(), kind, m))
    spans.sort(key=lambda x: (x[0], -(x[1] - x[0])))
    kept: list[tuple[int, int, str, re.Match[str]]] = []
    for sp in spans:
        if any(k[0] <= sp[0] and sp[1] <= k[1] for k in kept):
            continue
        kept.append(sp)
    invalid = False
    values: list[date] = []
    for _, _, kind, m in kept:
        d = _date_from_match(kind, m, today, latest, future)
        if d is None:
            invalid = True
        else:
            values.append(d)
    if not values:
        if strict:
            return _fail()
        if invalid:
            return _fail("That doesn't sound like a real date.")
        if re.search(r"\blast\s+week\b", s):
            return _fail("Which day last week was it?")
        if _VAGUE_DATE_RE.search(s):
            return _fail("Roughly what date was that?")
        month = re.search(rf"\b({_MONTH_ALT})\b", s)
        if month and month.group(1) != "may":
            return _fail(f"What day in {_MONTH_NAMES[_MONTHS[month.group(1)] - 1]}?")
        return _fail("Sorry, I didn't catch the date.")
    if strict and len(set(values)) != 1:
        return _fail()
    d = values[-1]
    if latest is not None and d > latest:
        return _fail("That date is in the future." if field.max == "today" else "That date is too late.")
    if earliest is not None and d < earliest:
        return _fail("That date is too far back.")
    return ExtractResult(d.isoformat())


# --------------------------------------------------------------------------------------------------- time

_MER = r"(?:\s*([ap]m))?"
_TIME_PATTERNS: tuple[tuple[str, bool, re.Pattern[str]], ...] = (
    ("noon", True, re.compile(r"\b(?:noon|midday|lunchtime)\b")),
    ("midnight", True, re.compile(r"\bmidnight\b")),
    ("hm", True, re.compile(rf"(?<![\d/])(\d{{1,2}}):(\d{{2}}){_MER}\b")),
    ("hm", True, re.compile(r"(?<![\d/.])(\d{1,2})\.(\d{2})\s*([ap]m)\b")),
    # "730 in the morning", "1130 pm": recognizers write "seven thirty" as one number.
    (
        "hhmm",
        True,
        re.compile(
            r"\b(1[0-2]|[1-9])([0-5]\d)\s*(?:([ap]m)\b|(?=\s+(?:in\s+the\s+(?:morning|afternoon|evening)"
            r"|at\s+night|tonight)\b))"
        ),
    ),
    (
        "hhmm",
        False,
        re.compile(r"\b(?:around|about|at|approximately|roughly|by|after)\s+(1[0-2]|[1-9])([0-5]\d)\b"),
    ),
    ("half_past", True, re.compile(r"\bhalf\s+(?:past|after)\s+(\d{1,2})\b")),
    ("quarter_past", True, re.compile(r"\b(?:a\s+)?quarter\s+(?:past|after)\s+(\d{1,2})\b")),
    ("quarter_to", True, re.compile(r"\b(?:a\s+)?quarter\s+(?:to|till|til|of|before)\s+(\d{1,2})\b")),
    ("min_past", True, re.compile(r"\b(\d{1,2})\s+(?:minutes\s+)?(?:past|after)\s+(\d{1,2})\b")),
    ("min_to", True, re.compile(r"\b(\d{1,2})\s+(?:minutes\s+)?(?:to|till|til|before)\s+(\d{1,2})\b")),
    ("h_oh_m", False, re.compile(rf"\b(\d{{1,2}})\s+(?:oh|o|0)\s+(\d){_MER}\b")),
    ("h_mm", False, re.compile(rf"\b(\d{{1,2}})\s+([1-5]\d){_MER}\b")),
    ("h_mer", True, re.compile(r"\b(\d{1,2})\s*([ap]m)\b")),
    ("h_oclock", True, re.compile(r"\b(\d{1,2})\s+oclock\b")),
    # "3 to the afternoon": a recognizer's "in the" before a part of the day, on a phone line
    (
        "h_part",
        True,
        re.compile(r"\b(\d{1,2})\s+(?:(?:in|to)\s+the\s+(morning|afternoon|evening)|at\s+(night))\b"),
    ),
    (
        "h_around",
        False,
        # "round 3": "around" with its first sound clipped
        re.compile(r"\b(?:a?round|about|at|approximately|roughly|like|maybe|by|after)\s+(\d{1,2})\b"),
    ),
    ("h_alone", False, re.compile(r"^\s*(?:it was\s+)?(\d{1,2})\s*$")),
)


def _meridiem(s: str, explicit: str | None) -> str | None:
    if explicit in ("am", "pm"):
        return explicit
    if re.search(r"\bmorning\b", s):
        return "am"
    if re.search(r"\b(?:afternoon|evening|tonight|after\s+work|after\s+lunch)\b", s):
        return "pm"
    if re.search(r"\bnight\b", s):
        return "night"
    return None


def _to_24h(h: int, mer: str | None) -> int:
    if h > 12 or h == 0:
        return h
    if mer == "am":
        return 0 if h == 12 else h
    if mer == "pm":
        return h if h == 12 else h + 12
    if mer == "night":
        return 0 if h == 12 else (h + 12 if h >= 5 else h)
    return h + 12 if 1 <= h <= 6 else h


def _time_from_match(kind: str, m: re.Match[str], s: str) -> tuple[int, int] | None:
    g = m.groups()
    if kind == "noon":
        return 12, 0
    if kind == "midnight":
        return 0, 0
    if kind in ("hm", "h_mm", "hhmm"):
        h, mi = int(g[0]), int(g[1])
        explicit = g[2] if len(g) > 2 else None
        return _to_24h(h, _meridiem(s, explicit)), mi
    if kind == "h_oh_m":
        return _to_24h(int(g[0]), _meridiem(s, g[2])), int(g[1])
    if kind == "half_past":
        return _to_24h(int(g[0]), _meridiem(s, None)), 30
    if kind == "quarter_past":
        return _to_24h(int(g[0]), _meridiem(s, None)), 15
    if kind == "quarter_to":
        h = int(g[0]) - 1 or 12
        return _to_24h(h, _meridiem(s, None)), 45
    if kind == "min_past":
        return _to_24h(int(g[1]), _meridiem(s, None)), int(g[0])
    if kind == "min_to":
        h = int(g[1]) - 1 or 12
        return _to_24h(h, _meridiem(s, None)), 60 - int(g[0])
    if kind == "h_mer":
        return _to_24h(int(g[0]), g[1]), 0
    if kind == "h_part":
        part = g[1] or g[2]
        mer = "am" if part == "morning" else "night" if part == "night" else "pm"
        return _to_24h(int(g[0]), mer), 0
    if kind in ("h_oclock", "h_around", "h_alone"):
        return _to_24h(int(g[0]), _meridiem(s, None)), 0
    return None


def _extract_time(text: str, strict: bool) -> ExtractResult:
    s = numerize(text)
    spans: list[tuple[int, int, bool, tuple[int, int] | None]] = []
    for kind, explicit, pat in _TIME_PATTERNS:
        if strict and not explicit:
            continue
        for m in pat.finditer(s):
            hm = _time_from_match(kind, m, s)
            if hm is not None and not (0 <= hm[0] <= 23 and 0 <= hm[1] <= 59):
                hm = None
            spans.append((m.start(), m.end(), explicit, hm))
    kept: list[tuple[int, int, bool, tuple[int, int] | None]] = []
    for sp in spans:  # patterns are listed most specific first: drop later matches overlapping a kept one
        if any(not (sp[1] <= k[0] or k[1] <= sp[0]) for k in kept):
            continue
        kept.append(sp)
    kept.sort(key=lambda k: k[0])
    values = [k[3] for k in kept if k[3] is not None]
    if not values:
        if strict:
            return _fail()
        if kept:
            return _fail("That doesn't sound like a time of day.")
        return _fail("Sorry, I didn't catch the time.")
    if strict and len(set(values)) != 1:
        return _fail()
    explicit_values = [k[3] for k in kept if k[3] is not None and k[2]]
    h, mi = (explicit_values or values)[-1]
    return ExtractResult(f"{h:02d}:{mi:02d}")


# --------------------------------------------------------------------------------------------------- boolean


def _extract_boolean(field: FieldSpec, text: str, strict: bool) -> ExtractResult:
    if strict and not (field.yes_words or field.no_words):
        return _fail()
    # volunteered (strict) values only come from the field's yes-words, negated or not ("nobody was hurt"):
    # no-words such as "fine" are too often mere interjections to answer a question nobody asked yet
    no_words = () if strict else field.no_words
    verdict, unsure = _verdict(text, field.yes_words, no_words, generic=not strict)
    if verdict is not None:
        return ExtractResult(verdict)
    if strict:
        return _fail()
    if unsure:
        return _fail("That's okay. Your best guess is fine, yes or no.")
    return _fail("Sorry, was that a yes or a no?")


# --------------------------------------------------------------------------------------------------- numbers

_ZERO_RE = re.compile(r"\b(none|nobody|no one|zero|nothing|no)\b")
_NUMBER_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?:st|nd|rd|th)?(?![\w.]*\d)")


_NUM = r"\d+(?:\.\d+)?"
_SCALE_RE = re.compile(rf"\b(?:on\s+)?(?:a\s+)?scale\s+(?:of\s+|from\s+)?{_NUM}\s+(?:to|-)\s+{_NUM}\b")
_OUT_OF_RE = re.compile(rf"(?<![\w.])({_NUM})\s*(?:/\s*|out\s+of\s+)({_NUM})\b")
_RANGE_RE = re.compile(
    rf"(?<![\w.])(?:between\s+(?:an?\s+)?({_NUM})\s+and\s+"  # "between 6 and 7", or "8 or 9", "8-9", "6 to 7"
    rf"|({_NUM})(?:\s*-\s*|\s+(?:to|or(?:\s+(?:maybe|possibly|perhaps))?|maybe|possibly|perhaps)\s+))"
    rf"(?:an?\s+)?({_NUM})(?![\w.]*\d)"
)


def _numbers(text: str) -> list[float]:
    """The numbers said, in order. A score is its first part ("seven out of ten", "9/10" → 7, 9; "on a scale
    of one to ten" is dropped) and a range or alternatives count once, as their larger end ("an eight or
    nine", "between six and seven", "two to three", "8-9", "a six, maybe a seven")."""
    s = numerize(text)
    s = re.sub(r"\ba\s+couple(?:\s+of)?\b|\bcouple\s+of\b", "2", s)
    s = re.sub(r"\ba\s+dozen\b", "12", s)
    s = re.sub(r"\b(\d+)\s+and\s+a\s+half\b", lambda m: f"{int(m.group(1))}.5", s)
    s = _SCALE_RE.sub(" ", s)
    # "12 out of 10" is still 12 (and too big); "12/10" may be no score at all
    s = _OUT_OF_RE.sub(
        lambda m: (
            m.group(1) if "/" not in m.group(0) or float(m.group(1)) <= float(m.group(2)) else m.group(0)
        ),
        s,
    )
    prev = None
    while prev != s:  # "6 or 7 or 8": fold pairs until none is left
        prev = s
        s = _RANGE_RE.sub(lambda m: _fmt_number(max(float(m.group(1) or m.group(2)), float(m.group(3)))), s)
    return [float(m.group(1)) for m in _NUMBER_RE.finditer(s)]


def _fmt_number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def _extract_number(field: FieldSpec, text: str, strict: bool) -> ExtractResult:
    if strict:
        return _fail()
    nums = _numbers(text)
    if not nums:
        if _ZERO_RE.search(" ".join(words_of(text))):
            nums = [0.0]
        else:
            return _fail("Sorry, I didn't catch a number.")
    v = nums[-1]
    if field.type == "integer" and not v.is_integer():
        return _fail("I need a whole number.")
    if isinstance(field.min, int | float) and v < field.min:
        return _fail(f"That should be at least {_fmt_number(field.min)}.")
    if isinstance(field.max, int | float) and v > field.max:
        return _fail(f"That should be at most {_fmt_number(field.max)}.")
    if field.type == "integer" or v.is_integer():
        return ExtractResult(int(v))
    return ExtractResult(v)


# ---------------------------------------------------------------------------------------------- enum / list

_WORD_OR_PUNCT_RE = re.compile(r"[A-Za-z0-9]+(?:['/:.\-][A-Za-z0-9]+)*|[,.;:!?]")
_DOTTED_CAPS_RE = re.compile(r"[A-Z](?:\.[A-Z])+")
_LETTER_CODE_RE = re.compile(r"[A-Z]{2}")
_NOT_LETTER_CODES = frozenset({"OK"})
"""Capital pairs never read as a letter code: whisper writes the word "okay" as "OK"."""

_NEGATORS = frozenset(
    "no not never without nothing none neither nor cannot denies deny denied".split()
    + _CONTRACTED_NEG.split("|")
)
_NEG_HEDGES = frozenset("sure certain know remember recall tell idea".split())
"""Words that make a negator just before them uncertainty ("not sure", "don't know", "no idea")."""
_NEG_FREE = _FILLERS | frozenset(
    "a an the any some much really real more of at all and or nor other such very too so".split()
)
"""Words not counted in the negation window ("no real chest pain", "no fever or chills")."""
_NEG_ANSWER_TAIL = frozenset("really at all whatsoever thanks thank you no nope".split())
"""Words that may follow a negator used as an answer word ("no, ...", "not really, ...", "not at all.")."""
_SCOPE_END = frozenset(
    "but though although however except besides apart aside yet actually instead only just wait still".split()
)
_SUBJECTS = frozenset("i i'm im i've ive we we're he she they you it it's there there's my our".split())
_RAISING = frozenset("think believe guess suppose say feel expect".split())
"""Verbs after which a negation reaches into the next clause ("I don't think I have chest pain")."""
_NEW_VERBS = frozenset(
    "have has had having got get getting feel feeling felt am is are was were been".split()
)
_NEG_WINDOW = 3
"""Counted words allowed between a negator (or the previous negated mention) and a negated mention."""


@dataclass(frozen=True, slots=True)
class _Mention:
    """A value named in the caller's text: words ``start``..``end`` (exclusive) matched one of its terms."""

    start: int
    end: int
    value: str
    negated: bool = False


def _match_tokens(text: str) -> list[str]:
    """Case-kept words and punctuation marks for enum and list matching.

    Spelled capitals ("C A", "C.A.", "C. A.") are joined into one word ("CA") so they can match a letter
    code; a trailing "I" followed by a lower-case word is the pronoun ("plan B I think").
    """
    t = text.replace("\u2019", "'").replace("\u2018", "'").replace("_", " ")
    t = re.sub(r"(?<=[A-Za-z])-(?=[A-Za-z])", " ", t)
    toks = [
        _DOTTED_CAPS_RE.sub(lambda m: m.group(0).replace(".", ""), tok)
        for tok in _WORD_OR_PUNCT_RE.findall(t)
    ]
    out: list[str] = []
    i = 0
    while i < len(toks):
        letters: list[int] = []  # indices of spelled capitals
        j = i
        while j < len(toks) and len(toks[j]) == 1 and toks[j].isalpha() and toks[j].isupper():
            letters.append(j)
            j += 1
            if j + 1 < len(toks) and toks[j] == "." and len(toks[j + 1]) == 1 and toks[j + 1].isupper():
                j += 1
        if len(letters) >= 2 and toks[letters[-1]] == "I" and j < len(toks) and toks[j][0].islower():
            j = letters.pop()
        if len(letters) >= 2:
            out.append("".join(toks[k] for k in letters))
            i = j
        else:
            out.append(toks[i])
            i += 1
    return out


def _is_negator(word: str) -> bool:
    return word in _NEGATORS or word.endswith("n't")


def _find_mentions(field: FieldSpec, text: str, strict: bool) -> list[_Mention]:
    """The mentions of ``field.values`` in ``text``, in order, with negated ones marked.

    A term matches whole words, case-insensitively; longer terms are matched first and mentions never
    overlap. A term written as two capitals ("CA", "IN", also "C.A.") is a letter code: it matches only
    those capitals in the caller's text ("CA", "C.A.", "C A"), never the ordinary word ("in", "or", "me",
    "oh", "hi"); "OK" is never a letter code, and in strict mode letter codes do not count at all (capital
    pairs in a volunteered sentence are too often part of a spelled code, "P A 4 4 7 1 2").
    """
    cased: list[str] = []
    punct: list[str] = []  # the punctuation just before each word
    pending = ""
    for tok in _match_tokens(text):
        if not tok[0].isalnum():
            pending += tok
        else:
            cased.append(tok)
            punct.append(pending)
            pending = ""
    words = [w.lower() for w in cased]
    s = " ".join(words)
    offsets: list[int] = []
    pos = 0
    for w in words:
        offsets.append(pos)
        pos += len(w) + 1
    terms: list[tuple[int, str, str, bool]] = []  # (length, term, value, is a letter code)
    for ev in field.values or []:
        for term in (ev.value, *ev.synonyms):
            tw = [t for t in _match_tokens(term) if t[0].isalnum()]
            if len(tw) == 1 and _LETTER_CODE_RE.fullmatch(tw[0]):
                if not strict and tw[0] not in _NOT_LETTER_CODES:
                    terms.append((2, tw[0], ev.value, True))
            elif tw:
                joined = " ".join(tw).lower()
                terms.append((len(joined), joined, ev.value, False))
    terms.sort(key=lambda t: t[0], reverse=True)
    spans: list[tuple[int, int, str]] = []
    for _, term, value, code in terms:
        if code:
            found = [(i, i + 1) for i, w in enumerate(cased) if w == term]
        else:
            found = [
                (bisect_right(offsets, m.start()) - 1, bisect_left(offsets, m.end()))
                for m in re.finditer(rf"\b{re.escape(term)}\b", s)
            ]
        for a, b in found:
            if not any(a < y and x < b for x, y, _ in spans):
                spans.append((a, b, value))
    spans.sort()
    return _scope_negation(words, punct, spans)


def _scope_negation(words: list[str], punct: list[str], spans: list[tuple[int, int, str]]) -> list[_Mention]:
    """Turn matched spans into mentions, marking those a negator governs.

    A negator (no, not, never, without, nothing, none, neither, nor, denies, any "n't" word) opens a scope
    that covers a mention starting within ``_NEG_WINDOW`` counted words (articles, "any", "really", "and",
    "or" and fillers are not counted). A negated mention restarts the window, so a list stays negated ("no
    fever or chest pain", "no fever, chills or chest pain"). The scope ends at ``.``/``;``/``!``/``?``; at
    "but", "though", "except", "just", "only", "actually", "wait"...; at a new subject ("no fever, I have
    chest pain"), except after "think", "believe", "say"... ("I don't think I have chest pain" stays
    negated); and at a verb joined by "and"/"or"/a comma ("I don't have a fever and have chest pain"). After
    a comma the scope only goes on in a coordinated list, an "or"/"nor"/"and" between the comma and the
    mention or just after it ("I don't have a fever, headache or chest pain"); otherwise the comma marks a
    correction ("not the sedan, the truck"). A negator standing alone before punctuation is an answer word,
    not a scope ("No, chest pain."; "Not really, just dizzy"); one followed by a hedge is uncertainty, not
    negation ("not sure", "don't know", "no idea"); negators inside a matched term are part of the term
    ("can't breathe").
    """
    starts = {a: (b, v) for a, b, v in spans}
    out: list[_Mention] = []
    scope: int | None = None  # counted words still allowed before a negated mention; None: no scope
    comma = False  # a comma was crossed in the scope and no coordinator followed it yet
    n = len(words)
    i = 0
    while i < n:
        if re.search(r"[.;!?]", punct[i]):
            scope = None
        elif "," in punct[i] and scope is not None:
            comma = True
        w = words[i]
        new_subject = w in _SUBJECTS and (i == 0 or words[i - 1] not in _RAISING)
        if i in starts:
            end, value = starts[i]
            negated = (
                scope is not None and not new_subject and (not comma or _coordinated_after(words, punct, end))
            )
            out.append(_Mention(i, end, value, negated))
            scope, comma = (_NEG_WINDOW if negated else None), False
            i = end
            continue
        if w in _SCOPE_END or new_subject:
            scope = None
        elif w in _NEW_VERBS and scope is not None and ("," in punct[i] or words[i - 1] in ("and", "or")):
            scope = None
        elif _is_negator(w) and not (i + 1 < n and words[i + 1] in _NEG_HEDGES and not punct[i + 1]):
            j = i + 1
            while j < n and not punct[j] and words[j] in _NEG_ANSWER_TAIL:
                j += 1
            scope, comma = (None if j >= n or punct[j] else _NEG_WINDOW), False
        elif w in ("or", "nor", "and"):
            comma = False
        elif scope is not None and w not in _NEG_FREE:
            scope = scope - 1 if scope > 0 else None
        i += 1
    return out


def _coordinated_after(words: list[str], punct: list[str], end: int) -> bool:
    """Whether the words after a mention go on with "or"/"nor"/"and" (commas allowed) before the sentence
    ends: the mention is an item of a coordinated list ("no fever, chills, sweats or cough")."""
    for j in range(end, min(end + 8, len(words))):
        if re.search(r"[.;!?]", punct[j]) or words[j] in _SCOPE_END or words[j] in _SUBJECTS:
            return False
        if words[j] in ("or", "nor", "and"):
            nxt = words[j + 1] if j + 1 < len(words) else ""
            return nxt not in _SUBJECTS and nxt not in _NEW_VERBS
    return False


def _options_hint(field: FieldSpec, count: int) -> str:
    """The first ``count`` values as speech ("sedan, suv or pickup truck"); a letter-code value is named by
    its first synonym ("CA" → "California")."""
    names = [
        ev.synonyms[0] if _LETTER_CODE_RE.fullmatch(ev.value) and ev.synonyms else ev.value.replace("_", " ")
        for ev in (field.values or [])[:count]
    ]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _extract_enum(field: FieldSpec, text: str, strict: bool) -> ExtractResult:
    mentions = _find_mentions(field, text, strict)
    if strict:
        # a volunteered value must be the only one named, and not denied
        values = {m.value for m in mentions}
        if len(values) != 1 or mentions[-1].negated:
            return _fail()
        return ExtractResult(mentions[-1].value)
    kept = [m for m in mentions if not m.negated]
    if not kept:
        n = len(field.values or [])
        if n <= 5:
            return _fail(f"Please say {_options_hint(field, n)}.")
        return _fail(f"Sorry, which one? For example {_options_hint(field, 3)}.")
    return ExtractResult(kept[-1].value)


def _extract_list(field: FieldSpec, text: str, strict: bool) -> ExtractResult:
    """The values named (first mention order, no repeats); ``[]`` for a negative answer (not in strict mode).

    A value's last mention decides: "chest pain, no wait, no chest pain" leaves it out. When nothing is
    named positively, a negated mention ("I don't have chest pain") or a plain no ("no", "none of those",
    "nothing like that", "I don't think so") gives ``[]``.
    """
    mentions = _find_mentions(field, text, strict)
    last = {m.value: m.negated for m in mentions}
    values: list[str] = []
    for m in mentions:
        if not last[m.value] and m.value not in values:
            values.append(m.value)
    if values:
        return ExtractResult(values)
    if strict:
        return _fail()
    if mentions or _verdict(text)[0] is False:
        return ExtractResult([])
    return _fail(f"Please say which ones, for example {_options_hint(field, 2)}, or say none.")


# --------------------------------------------------------------------------------------------------- email

_EMAIL_RE = re.compile(r"[a-z0-9][a-z0-9._%+\-]*@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}")


def _extract_email(text: str, strict: bool) -> ExtractResult:
    t = " " + text.lower().replace("\u2019", "'") + " "
    t = re.sub(r"\s+at\s+", " @ ", t)
    t = re.sub(r"\s+(?:dot|period)\s+", " . ", t)
    t = re.sub(r"\s+underscore\s+", " _ ", t)
    t = re.sub(r"\s+(?:dash|hyphen)\s+", " - ", t)
    t = re.sub(r"\s*([@._\-])\s*", r"\1", t)
    prev = None
    while prev != t:  # "j o h n" → "john"
        prev = t
        t = re.sub(r"(?<![a-z0-9])([a-z0-9])\s+(?=[a-z0-9](?![a-z0-9]))", r"\1", t)
    found = [m.group(0).rstrip(".") for m in _EMAIL_RE.finditer(t)]
    if not found:
        return _fail() if strict else _fail("Sorry, I didn't catch the email address.")
    if strict and len(set(found)) != 1:
        return _fail()
    return ExtractResult(found[-1])


# --------------------------------------------------------------------------------------------------- text

_LEAD_FILLER_RE = re.compile(
    r"^(?:(?:um+|uh+|uhm|er+|erm|ah+|hmm+|mm+|well|so|okay|ok|oh|yeah|yes|yep|sure|right|alright|all right|"
    r"hi|hello|hey)\b[\s,.!;:-]*)+",
    re.I,
)
_LEAD_IN_RE = re.compile(
    r"^(?:(?:my|our|the|his|her|their)\s+(?:[\w']+\s+){0,3}?(?:is|was|are|were)\s+|"
    r"(?:my|our|the|his|her|their)\s+\w+'s\s+|it'?s\s+|it\s+is\s+|"
    r"it\s+was\s+|this\s+is\s+|that'?s\s+|that\s+is\s+|i'?m\s+|i\s+am\s+|name'?s\s+|call\s+me\s+|"
    r"it\s+happened\s+|the\s+name\s+is\s+)",
    re.I,
)
_NOT_A_VALUE = {
    "yes", "no", "yeah", "yep", "nope", "nah", "okay", "ok", "sure", "hi", "hello", "hey", "bye", "goodbye",
    "thanks", "thank", "you", "um", "uh", "hmm", "what", "sorry", "right", "correct", "please", "i", "it",
}  # fmt: skip


def clean_text(text: str) -> str:
    """The utterance without leading fillers ("um, so, ...") and surrounding whitespace/punctuation."""
    t = " ".join(text.split())
    t = _LEAD_FILLER_RE.sub("", t).strip()
    return t.strip(" ,;:-")


def _extract_string(field: FieldSpec, text: str, strict: bool) -> ExtractResult:
    if strict:
        return _fail()
    t = clean_text(text)
    if field.type == "string":
        t = _LEAD_IN_RE.sub("", t).strip()
        t = _LEAD_FILLER_RE.sub("", t).strip()
        t = t.rstrip(" .!?,;:")
    words = words_of(t)
    if not any(len(w) >= 2 or w.isdigit() for w in words) or all(w in _NOT_A_VALUE for w in words):
        return _fail("Sorry, I didn't catch that.")
    if is_non_answer(t):
        return _fail("Sorry, I didn't catch that.")
    return ExtractResult(t)


# --------------------------------------------------------------------------------------------------- dispatch


def extract(field: FieldSpec, text: str, *, today: date | None = None, strict: bool = False) -> ExtractResult:
    """Extract a value of ``field``'s type from ``text`` (see the module docstring).

    ``today`` anchors relative dates ("yesterday") and is required for date fields. ``strict`` accepts only
    unambiguous, distinctive values (for values the caller volunteers unasked).
    """
    t = field.type
    if not text or not text.strip():
        return _fail("Sorry, I didn't hear anything.")
    if t == "code":
        return _extract_code(field, text, strict)
    if t == "phone":
        return _extract_phone(text, strict)
    if t == "date":
        if today is None:
            raise ValueError("extracting a date needs `today`")
        return _extract_date(field, text, today, strict)
    if t == "time":
        return _extract_time(text, strict)
    if t == "boolean":
        return _extract_boolean(field, text, strict)
    if t in ("integer", "number"):
        return _extract_number(field, text, strict)
    if t == "enum":
        return _extract_enum(field, text, strict)
    if t == "list":
        return _extract_list(field, text, strict)
    if t == "email":
        return _extract_email(text, strict)
    return _extract_string(field, text, strict)


# --------------------------------------------------------------------------------------------------- speech


def speak_date(iso: str, today: date | None = None) -> str:
    """``"2026-03-05"`` → ``"Thursday, March 5th"`` (the year added when it is not ``today``'s year)."""
    d = date.fromisoformat(iso)
    out = f"{d.strftime('%A')}, {_MONTH_NAMES[d.month - 1]} {d.day}{ordinal_suffix(d.day)}"
    if today is None or d.year != today.year:
        out += f", {d.year}"
    return out


def speak_time(hhmm: str) -> str:
    """``"15:30"`` → ``"3:30 PM"``, ``"12:00"`` → ``"noon"``, ``"00:00"`` → ``"midnight"``."""
    h, m = (int(x) for x in hhmm.split(":"))
    if (h, m) == (12, 0):
        return "noon"
    if (h, m) == (0, 0):
        return "midnight"
    suffix = "AM" if h < 12 else "PM"
    h12 = h % 12 or 12
    return f"{h12} {suffix}" if m == 0 else f"{h12}:{m:02d} {suffix}"


def speak_phone(e164: str) -> str:
    """``"+14255550123"`` → ``"4 2 5, 5 5 5, 0 1 2 3"``: US numbers in three groups, else digit by digit."""
    digits = re.sub(r"\D", "", e164)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10:
        return ", ".join(" ".join(g) for g in (digits[:3], digits[3:6], digits[6:]))
    return " ".join(digits)


def speak_value(field_type: str, value: Any, today: date | None = None) -> str:
    """How to say a record value: codes and phone numbers spelled out, dates and times in words."""
    if value is None:
        return ""
    if field_type == "code":
        return spell(str(value))
    if field_type == "phone":
        return speak_phone(str(value))
    if field_type == "date":
        return speak_date(str(value), today)
    if field_type == "time":
        return speak_time(str(value))
    if field_type == "boolean":
        return "yes" if value else "no"
    if field_type == "enum":
        return str(value).replace("_", " ")
    if field_type == "list":
        items = [str(v).replace("_", " ") for v in (value if isinstance(value, list | tuple) else [value])]
        return join_words(items) if items else "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def split_clauses(text: str) -> list[str]:
    """Split a reply into speakable clauses at sentence ends (``.``, ``?``, ``!`` followed by a space).

    Abbreviations like "Dr." and dotted initials ("P.A.") do not end a clause.
    """
    parts: list[str] = []
    start = 0
    for m in re.finditer(r"[.?!]+(?=\s+|$)", text):
        before = text[start : m.start()].split()
        last = before[-1] if before else ""
        dotted = re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", last) is not None
        if m.group(0) == "." and (last in ("Dr", "Mr", "Mrs", "Ms", "St", "Jr", "Sr", "Mt") or dotted):
            continue
        piece = text[start : m.end()].strip()
        if piece:
            parts.append(piece)
        start = m.end()
    rest = text[start:].strip()
    if rest:
        parts.append(rest)
    return parts


def join_words(items: Iterable[str]) -> str:
    """``["a", "b", "c"]`` → ``"a, b and c"``."""
    xs = list(items)
    if len(xs) <= 1:
        return "".join(xs)
    return ", ".join(xs[:-1]) + " and " + xs[-1]
