"""Tools of the nurse-triage agent: write the triage note, find a clinic.

* ``create_triage_note(record)`` stores the note (the triage record) in the ``triage_notes`` table of a
  ``RecordStore`` and returns ``{"ticket_number": "TRI-" + 6 digits, "callback_window": ...}``. The window
  follows the record's ``disposition``: ``emergency`` → "now", ``urgent`` → "within the hour", ``routine`` →
  "within one business day". Idempotent like ``file_claim``: the same record gets the same ticket, once.
* ``find_clinic(zip_code=None)`` asks a ``ClinicDirectory`` for the clinic nearest a ZIP code (the sample
  directory reads ``data/clinics.csv`` and takes the nearest ZIP number); without a ZIP code, the main clinic.

Both raise ``ToolError`` with a speakable message when they cannot help. ``register`` adds them to a registry.
"""

from __future__ import annotations

import csv
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from agents.tools import ToolError, ToolRegistry
from agents.tools.store import RecordStore

__all__ = ["CALLBACK_WINDOWS", "ClinicDirectory", "CsvClinics", "TriageTools", "register"]

DATA_DIR = Path(__file__).parent / "data"
"""The sample data files shipped with the tools."""

TRIAGE_NOTES = "triage_notes"
"""The store table of triage notes."""

CALLBACK_WINDOWS: Mapping[str, str] = {
    "emergency": "now",
    "urgent": "within the hour",
    "routine": "within one business day",
}
"""When a nurse calls back, by the record's ``disposition``."""

_ZIP = re.compile(r"^\d{5}(\d{4})?$")


class ClinicDirectory(Protocol):
    """Where clinics are found (a CSV file here; a provider directory in production)."""

    def nearest(self, zip_code: str | None) -> Mapping[str, Any] | None:
        """The clinic nearest ``zip_code`` (five digits), or the default clinic for None: at least ``name``,
        ``address``, ``phone`` and ``hours``; None if the directory is empty. Blocking is fine."""
        ...


class CsvClinics:
    """Clinics from a CSV file (``name,address,zip_code,phone,hours``), read on first use; "nearest" is the
    smallest difference of ZIP numbers (good enough for a sample) and the default is the first row."""

    def __init__(self, path: Path = DATA_DIR / "clinics.csv") -> None:
        self.path = path
        self._rows: list[dict[str, str]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> list[dict[str, str]]:
        with self._lock:
            if self._rows is None:
                with self.path.open(newline="", encoding="utf-8") as f:
                    self._rows = [dict(row) for row in csv.DictReader(f)]
            return self._rows

    def nearest(self, zip_code: str | None) -> dict[str, str] | None:
        rows = self._load()
        if not rows:
            return None
        if zip_code is None:
            return rows[0]
        return min(rows, key=lambda row: abs(int(row["zip_code"]) - int(zip_code)))


class TriageTools:
    """The triage tools over a record store and a clinic directory. Blocking (the registry runs them in a
    thread).

    Inputs: ``store`` (notes are stored there); ``clinics`` (default: ``CsvClinics()``).
    """

    def __init__(self, store: RecordStore, clinics: ClinicDirectory | None = None) -> None:
        self.store = store
        self.clinics: ClinicDirectory = clinics if clinics is not None else CsvClinics()

    def create_triage_note(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Save the triage note for a nurse; returns its ticket_number (TRI- and six digits) and the
        callback_window that follows the disposition (emergency, urgent or routine).

        Args:
            record: The completed triage record; its disposition is emergency, urgent or routine.
        """
        disposition = str(record.get("disposition") or "").strip().lower()
        window = CALLBACK_WINDOWS.get(disposition)
        if window is None:
            raise ToolError("I couldn't save the note without knowing how urgent this is.")
        filed = self.store.file(
            TRIAGE_NOTES, record, prefix="TRI", exclude=("ticket_number", "callback_window")
        )
        return {"ticket_number": filed.number, "callback_window": window}

    def find_clinic(self, zip_code: str | None = None) -> dict[str, Any]:
        """Find the clinic nearest the caller's ZIP code (or the main clinic if none is given); returns
        clinic_name, clinic_address, clinic_phone and clinic_hours.

        Args:
            zip_code: The caller's five-digit ZIP code, if known.
        """
        if zip_code is not None:
            digits = re.sub(r"[\s\-]", "", zip_code)  # "98101", "98 101", "98101-1234"
            if not _ZIP.match(digits):
                raise ToolError("That doesn't sound like a ZIP code. Could you say the five digits?")
            zip_code = digits[:5]
        clinic = self.clinics.nearest(zip_code)
        if clinic is None:
            raise ToolError("I couldn't find a clinic near you.")
        return {
            "clinic_name": clinic["name"],
            "clinic_address": clinic["address"],
            "clinic_phone": clinic["phone"],
            "clinic_hours": clinic["hours"],
        }


def register(
    registry: ToolRegistry, store: RecordStore, clinics: ClinicDirectory | None = None
) -> TriageTools:
    """Add ``create_triage_note`` and ``find_clinic`` (over ``store`` and ``clinics``) to ``registry``."""
    tools = TriageTools(store, clinics)
    registry.add("create_triage_note", tools.create_triage_note, filler="One moment while I write that up.")
    registry.add("find_clinic", tools.find_clinic, filler="One moment while I find a clinic near you.")
    return tools
