"""Sample tools for the auto-insurance first-notice-of-loss (FNOL) agent; deterministic, no I/O.

* ``lookup_policy(policy_number)``: the sample book of business holds every policy from ``PA10000`` to
  ``PA99999`` and nothing else. Known numbers return the holder's sample data (name, vehicle, status), chosen
  from small lists by a hash of the number, so the same number always gives the same holder.
* ``file_claim(record)``: files the claim and returns ``{"claim_number": "CLM-" + 6 digits}``, the digits
  derived from a hash of the record's content, so the same record always gives the same claim number.

Both raise ``ToolError`` with a speakable message when they cannot help.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from agents.tools import ToolError

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

_POLICY_RE = re.compile(r"^PA(\d{5})$")


def _digest(text: str) -> int:
    """A stable integer hash of ``text`` (SHA-256), independent of Python's randomised ``hash``."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def normalize_policy_number(policy_number: str) -> str:
    """``"pa-44712"`` → ``"PA44712"``: upper case, spaces, dots and dashes removed."""
    return re.sub(r"[\s.\-]", "", str(policy_number)).upper()


def lookup_policy(policy_number: str) -> dict[str, Any]:
    """Look up an auto policy; returns its holder_name, vehicle and status, or raises ToolError if unknown."""
    number = normalize_policy_number(policy_number)
    m = _POLICY_RE.match(number)
    if m is None or int(m.group(1)) < 10000:
        raise ToolError("I couldn't find a policy with that number.")
    h = _digest(number)
    first = FIRST_NAMES[h % len(FIRST_NAMES)]
    last = LAST_NAMES[(h // len(FIRST_NAMES)) % len(LAST_NAMES)]
    vehicle = VEHICLES[(h // (len(FIRST_NAMES) * len(LAST_NAMES))) % len(VEHICLES)]
    return {"policy_number": number, "holder_name": f"{first} {last}", "vehicle": vehicle, "status": "active"}


def file_claim(record: Mapping[str, Any]) -> dict[str, Any]:
    """File a claim for the record; returns its claim_number (CLM- and six digits, stable per record)."""
    if not record.get("policy_number"):
        raise ToolError("I can't file the claim without a policy number.")
    content = {k: v for k, v in record.items() if k != "claim_number" and v is not None}
    canonical = json.dumps(content, sort_keys=True, default=str, ensure_ascii=True)
    return {"claim_number": f"CLM-{_digest(canonical) % 1_000_000:06d}"}
