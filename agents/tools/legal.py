"""Tools of the legal-intake agent: check the opposing party for conflicts, save the intake.

* ``conflict_check(opposing_party)`` asks a ``PartyList`` whether the firm already acts for or against the
  party, and returns ``{"opposing_party": <the name cleaned up>, "conflict": bool}``. A conflict is an answer,
  not an error: the agent's rules end the intake politely (and never name the firm's clients). The sample
  list (``CsvParties``) reads ``data/legal_parties.csv`` and matches names loosely, see ``party_key``.
* ``create_intake(record)`` stores the intake in the ``intakes`` table of a ``RecordStore`` and returns
  ``{"intake_number": "LGL-" + 6 digits}``; idempotent like ``file_claim``.

Both raise ``ToolError`` with a speakable message when they cannot help. ``register`` adds them to a registry.
"""

from __future__ import annotations

import csv
import difflib
import re
import threading
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from agents.tools import ToolError, ToolRegistry
from agents.tools.store import RecordStore

__all__ = ["CsvParties", "LegalTools", "PartyList", "clean_party_name", "party_key", "register"]

DATA_DIR = Path(__file__).parent / "data"
"""The sample data files shipped with the tools."""

INTAKES = "intakes"
"""The store table of legal intakes."""

_SUFFIXES = frozenset(
    "inc incorporated corp corporation co company llc llp lp pllc ltd limited plc gmbh".split()
)
"""Legal-form words that do not tell two parties apart ("Globex Corp." is "Globex Corporation")."""
_HONORIFICS = frozenset("mr mrs ms miss mx dr prof sir madam".split())


def _swap_comma(name: str) -> str:
    """``"Smith, John"`` → ``"John Smith"``; ``"Initech, Inc."`` and other comma forms are left alone."""
    parts = [p.strip() for p in name.split(",")]
    if len(parts) == 2 and parts[0] and parts[1]:
        tail = re.findall(r"[a-z0-9]+", parts[1].lower())
        if tail and not all(w in _SUFFIXES for w in tail):
            return f"{parts[1]} {parts[0]}"
    return name


def party_key(name: str) -> str:
    """A matching key for a party's name: equal keys are treated as the same party.

    Accents, case and punctuation are ignored, ``&`` is ``and``; "Last, First" is "First Last"; a leading
    "the", honorifics ("Dr.") and legal-form suffixes ("Inc", "Corp", "LLC", ...) are dropped, and so are
    middle initials; the remaining words are sorted, so word order does not matter. Errs towards matching:
    a false conflict costs a lawyer's look, a missed one costs far more.
    """
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = _swap_comma(text.replace("&", " and "))
    words = re.findall(r"[a-z0-9]+", re.sub(r"['`]", "", text.lower()))
    while words and (words[0] == "the" or words[0] in _HONORIFICS):
        words.pop(0)
    while len(words) > 1 and words[-1] in _SUFFIXES:
        words.pop()
    if len([w for w in words if len(w) > 1]) >= 2:
        words = [w for w in words if len(w) > 1]  # middle initials: "Hank J. Scorpio"
    return " ".join(sorted(words))


def clean_party_name(name: str) -> str:
    """The name as the caller meant it: spaces collapsed, stray punctuation trimmed, "Last, First" turned
    round, and all-lower-case text capitalised (``" smith,  john. "`` → ``"John Smith"``)."""
    text = " ".join(name.split()).strip(" ,;:.!?")
    text = _swap_comma(text)
    return text.title() if text.islower() else text


class PartyList(Protocol):
    """The firm's current clients and adverse parties (a CSV file here; a conflicts system in production)."""

    def is_listed(self, name: str) -> bool:
        """Whether ``name`` is a current client or adverse party. Blocking is fine."""
        ...


class CsvParties:
    """Parties from a CSV file (``name,role``, role ``client`` or ``adverse``), read on first use; a name is
    listed when its ``party_key`` equals a listed name's."""

    def __init__(self, path: Path = DATA_DIR / "legal_parties.csv") -> None:
        self.path = path
        self._keys: frozenset[str] | None = None
        self._lock = threading.Lock()

    def _load(self) -> frozenset[str]:
        with self._lock:
            if self._keys is None:
                with self.path.open(newline="", encoding="utf-8") as f:
                    self._keys = frozenset(party_key(row["name"]) for row in csv.DictReader(f))
            return self._keys

    def is_listed(self, name: str) -> bool:
        """Whether ``name`` is, or nearly is, a listed party. Near matches count: a name misheard or
        misspelled by one or two letters must not slip past a conflict check (an attorney reviews it)."""
        key = party_key(name)
        if not key:
            return False
        keys = self._load()
        return key in keys or any(_near(key, k) for k in keys)


NEAR_MATCH_RATIO = 0.85
"""How alike two party keys must be (``difflib`` ratio) to count as the same party."""


def _near(a: str, b: str) -> bool:
    return len(a) >= 6 and difflib.SequenceMatcher(None, a, b).ratio() >= NEAR_MATCH_RATIO


class LegalTools:
    """The legal-intake tools over a record store and a party list. Blocking (the registry runs them in a
    thread).

    Inputs: ``store`` (intakes are stored there); ``parties`` (default: ``CsvParties()``).
    """

    def __init__(self, store: RecordStore, parties: PartyList | None = None) -> None:
        self.store = store
        self.parties: PartyList = parties if parties is not None else CsvParties()

    def conflict_check(self, opposing_party: str) -> dict[str, Any]:
        """Check the opposing party against the firm's clients and adverse parties; returns the cleaned-up
        opposing_party and conflict (true if the firm cannot take the matter).

        Args:
            opposing_party: The name of the person or company on the other side of the matter.
        """
        name = clean_party_name(opposing_party)
        if not party_key(name):
            raise ToolError("I didn't catch the name of the other party.")
        return {"opposing_party": name, "conflict": self.parties.is_listed(name)}

    def create_intake(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Save the legal intake for review by an attorney; returns its intake_number (LGL- and six digits,
        stable per record).

        Args:
            record: The completed intake record.
        """
        if not any(v not in (None, "") for k, v in record.items() if k != "intake_number"):
            raise ToolError("I can't save the intake without any details.")
        filed = self.store.file(INTAKES, record, prefix="LGL", exclude=("intake_number",))
        return {"intake_number": filed.number}


def register(registry: ToolRegistry, store: RecordStore, parties: PartyList | None = None) -> LegalTools:
    """Add ``conflict_check`` and ``create_intake`` (over ``store`` and ``parties``) to ``registry``."""
    tools = LegalTools(store, parties)
    registry.add("conflict_check", tools.conflict_check, filler="One moment while I check that name.")
    registry.add("create_intake", tools.create_intake, filler="One moment while I save your details.")
    return tools
