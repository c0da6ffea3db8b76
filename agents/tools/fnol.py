"""Tools of the auto-insurance first-notice-of-loss (FNOL) agent: look up a policy, file the claim.

* ``lookup_policy(policy_number)`` asks a ``PolicyBook``. The sample book (``SampleBook``) holds every policy
  from ``PA10000`` to ``PA99999`` and nothing else; a known number returns the holder's sample data (name,
  vehicle, status), chosen from small lists by a hash of the number, so the same number always gives the
  same holder. A real policy system plugs in as another ``PolicyBook``.
* ``file_claim(record)`` stores the claim in the ``claims`` table of a ``RecordStore`` and returns
  ``{"claim_number": "CLM-" + 6 digits}``. Filing is idempotent: the same record (ignoring a
  ``claim_number`` it may already carry, and empty values) gets the same number and is stored once.

Both raise ``ToolError`` with a speakable message when they cannot help. ``register`` adds them to a
registry; the module-level ``lookup_policy`` and ``file_claim`` use the sample book and the default store.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Protocol

from agents.tools import ToolError, ToolRegistry
from agents.tools.store import RecordStore

__all__ = ["FnolTools", "PolicyBook", "SampleBook", "file_claim", "lookup_policy", "normalize_policy_number"]

FIRST_NAMES = (
    "Maria", "James", "Aisha", "Robert", "Mei", "David", "Sofia", "Michael",
    "Priya", "Daniel", "Elena", "Kwame", "Laura", "Hiroshi", "Grace", "Omar",
)  # fmt: skip
LAST_NAMES = (
    "Garcia", "Johnson", "Khan", "Miller", "Chen", "Okafor", "Rossi", "Nguyen",
    "Patel", "Anderson", "Kowalski", "Mensah", "Silva", "Tanaka", "Brown", "Haddad",
)  # fmt: skip
VEHICLES = (
    "2019 Honda Civic", "2021 Toyota RAV4", "2017 Ford F-150", "2020 Subaru Outback",
    "2022 Tesla Model 3", "2018 Chevrolet Malibu", "2016 Nissan Altima", "2023 Hyundai Tucson",
)  # fmt: skip

CLAIMS = "claims"
"""The store table of filed claims."""

_POLICY_RE = re.compile(r"^PA(\d{5})$")


def _digest(text: str) -> int:
    """A stable integer hash of ``text`` (SHA-256), independent of Python's randomised ``hash``."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def normalize_policy_number(policy_number: str) -> str:
    """``"pa-44712"`` → ``"PA44712"``: upper case, spaces, dots and dashes removed."""
    return re.sub(r"[\s.\-]", "", str(policy_number)).upper()


class PolicyBook(Protocol):
    """Where policies are looked up (the sample book here; a policy administration system in production)."""

    def find(self, policy_number: str) -> Mapping[str, Any] | None:
        """The policy ``policy_number`` (already normalised, e.g. ``PA44712``): at least ``holder_name``,
        ``vehicle`` and ``status``; None if there is no such policy. Blocking is fine (tools run in a
        thread); raise anything but ``ToolError`` for an outage."""
        ...


class SampleBook:
    """The sample book: every ``PA10000``–``PA99999`` exists, active, its holder derived from the number."""

    def find(self, policy_number: str) -> dict[str, Any] | None:
        m = _POLICY_RE.match(policy_number)
        if m is None or int(m.group(1)) < 10000:
            return None
        h = _digest(policy_number)
        first = FIRST_NAMES[h % len(FIRST_NAMES)]
        last = LAST_NAMES[(h // len(FIRST_NAMES)) % len(LAST_NAMES)]
        vehicle = VEHICLES[(h // (len(FIRST_NAMES) * len(LAST_NAMES))) % len(VEHICLES)]
        return {"holder_name": f"{first} {last}", "vehicle": vehicle, "status": "active"}


class FnolTools:
    """The FNOL tools over a policy book and a record store. Blocking (the registry runs them in a thread).

    Inputs: ``store`` (claims are filed there); ``book`` (default: ``SampleBook()``).
    """

    def __init__(self, store: RecordStore, book: PolicyBook | None = None) -> None:
        self.store = store
        self.book: PolicyBook = book if book is not None else SampleBook()

    def lookup_policy(self, policy_number: str) -> dict[str, Any]:
        """Look up an auto policy; returns its holder_name, vehicle and status, or an error if unknown.

        Args:
            policy_number: The policy number, two letters and five digits, e.g. PA44712.
        """
        number = normalize_policy_number(policy_number)
        found = self.book.find(number)
        if found is None:
            raise ToolError("I couldn't find a policy with that number.")
        return {"policy_number": number, **found}

    def file_claim(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """File a claim for the record; returns its claim_number (CLM- and six digits, stable per record).

        Args:
            record: The completed first-notice-of-loss record; it must hold the policy_number.
        """
        if not record.get("policy_number"):
            raise ToolError("I can't file the claim without a policy number.")
        filed = self.store.file(CLAIMS, record, prefix="CLM", exclude=("claim_number",))
        return {"claim_number": filed.number}


def register(registry: ToolRegistry, store: RecordStore, book: PolicyBook | None = None) -> FnolTools:
    """Add ``lookup_policy`` and ``file_claim`` (over ``store`` and ``book``) to ``registry``."""
    tools = FnolTools(store, book)
    registry.add("lookup_policy", tools.lookup_policy, filler="One moment while I look up that policy.")
    registry.add("file_claim", tools.file_claim, filler="One moment while I file your claim.")
    return tools


def lookup_policy(policy_number: str) -> dict[str, Any]:
    """Look up an auto policy in the sample book; returns its holder_name, vehicle and status, or raises
    ToolError if unknown."""
    return FnolTools(RecordStore(), SampleBook()).lookup_policy(policy_number)


def file_claim(record: Mapping[str, Any]) -> dict[str, Any]:
    """File a claim for the record in the default store (``RecordStore()``); returns its claim_number."""
    return FnolTools(RecordStore()).file_claim(record)
