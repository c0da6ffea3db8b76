"""The sample tools' record store: one SQLite file, a table per kind of record (claims, triage notes...).

Stands in for the system of record a deployment would call instead (a claims system, a practice-management
API); tools reach it only through ``RecordStore.file`` and ``RecordStore.get``.

* **Idempotent.** A record's key is a SHA-256 of its canonical JSON (sorted keys; ``None`` values and the
  fields the tool fills, such as the number, left out). Filing the same content again returns the number it
  got the first time and adds no row, so a retried tool call never files twice.
* **Numbers** are ``<PREFIX>-`` and six digits, the digits taken from the key (so the same record gets the
  same number in any store), moved on to the next free number in the rare case another record holds them.
* **Blocking.** Every method opens its own short-lived connection and blocks; call it from a worker thread
  (the tool registry runs sync tools in one). Writers are serialised by SQLite (``BEGIN IMMEDIATE``), so
  several threads or processes may share a file.
* **Where.** ``data_dir`` (default: ``$RTAGENT_DATA_DIR``, else ``.rtagent`` under the current directory)
  holds ``records.sqlite3``. Neither is created until the first record is filed; reads of a store that does
  not exist yet find nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rtagent import settings

__all__ = ["DATA_DIR_ENV", "DB_NAME", "Filed", "RecordStore", "canonical_json", "default_data_dir"]

DATA_DIR_ENV = "RTAGENT_DATA_DIR"
"""Environment variable naming the data folder."""
DB_NAME = "records.sqlite3"
"""The SQLite file inside the data folder."""

_KIND = re.compile(r"^[a-z][a-z0-9_]*$")
_PREFIX = re.compile(r"^[A-Z]{2,5}$")
_SPACE = 1_000_000  # six digits


def default_data_dir() -> Path:
    """``$RTAGENT_DATA_DIR`` if set, else ``.rtagent`` under the current directory (not created here)."""
    return settings.data_dir()


def canonical_json(record: Mapping[str, Any], exclude: Iterable[str] = ()) -> str:
    """The record as JSON with sorted keys, without ``exclude`` keys and ``None`` values (dates in ISO)."""
    skip = set(exclude)
    content = {k: v for k, v in record.items() if k not in skip and v is not None}
    return json.dumps(content, sort_keys=True, default=str, ensure_ascii=True)


def _digest(text: str) -> int:
    """A stable integer hash of ``text`` (SHA-256), independent of Python's randomised ``hash``."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


@dataclass(frozen=True, slots=True)
class Filed:
    """The outcome of ``RecordStore.file``: the record's ``number`` and whether this call ``created`` it."""

    number: str
    created: bool


class RecordStore:
    """Records by kind in one SQLite file; see the module docstring. Blocking: use from a worker thread.

    Inputs: ``data_dir`` (None: ``default_data_dir()``, resolved now).
    """

    def __init__(self, data_dir: Path | str | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()

    @property
    def path(self) -> Path:
        """The SQLite file (it may not exist yet)."""
        return self.data_dir / DB_NAME

    def __repr__(self) -> str:
        return f"RecordStore({str(self.data_dir)!r})"

    def _connect(self) -> sqlite3.Connection:
        # autocommit mode: transactions are begun explicitly below
        return sqlite3.connect(self.path, timeout=5.0, isolation_level=None)

    @staticmethod
    def _table(kind: str) -> str:
        if not _KIND.match(kind):
            raise ValueError(f"record kind must be a lower-case identifier, got {kind!r}")
        return kind

    def file(
        self, kind: str, record: Mapping[str, Any], *, prefix: str, exclude: Iterable[str] = ()
    ) -> Filed:
        """Store ``record`` in table ``kind`` unless the same content is there already; its number either way.

        ``prefix`` (e.g. ``"CLM"``) starts the number; ``exclude`` names fields left out of the content key
        and of the stored record: the number field itself and anything else the tool fills (a record that
        already carries them files as the same record).
        Creates the folder, file and table if needed. Raises ``ValueError`` for a bad kind or prefix,
        ``sqlite3.Error`` if the database cannot be written.
        """
        table = self._table(kind)
        if not _PREFIX.match(prefix):
            raise ValueError(f"number prefix must be 2-5 capital letters, got {prefix!r}")
        content = canonical_json(record, exclude)
        key = hashlib.sha256(content.encode("utf-8")).hexdigest()
        first = _digest(content) % _SPACE
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db:
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {table} ("
                " number TEXT PRIMARY KEY, content_key TEXT NOT NULL UNIQUE,"
                " record TEXT NOT NULL, filed_at TEXT NOT NULL)"
            )
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(f"SELECT number FROM {table} WHERE content_key = ?", (key,)).fetchone()
                if row is not None:
                    db.execute("COMMIT")
                    return Filed(number=row[0], created=False)
                for step in range(_SPACE):
                    number = f"{prefix}-{(first + step) % _SPACE:06d}"
                    taken = db.execute(f"SELECT 1 FROM {table} WHERE number = ?", (number,)).fetchone()
                    if taken is None:
                        break
                else:
                    raise RuntimeError(f"no free {prefix} number left in {table}")
                filed_at = datetime.now(UTC).isoformat(timespec="seconds")
                db.execute(
                    f"INSERT INTO {table} (number, content_key, record, filed_at) VALUES (?, ?, ?, ?)",
                    (number, key, content, filed_at),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return Filed(number=number, created=True)

    def get(self, kind: str, number: str) -> dict[str, Any] | None:
        """The record filed as ``number`` in ``kind`` (as stored: no ``None`` values), or None."""
        table = self._table(kind)
        if not self.path.exists():
            return None
        with closing(self._connect()) as db:
            try:
                row = db.execute(f"SELECT record FROM {table} WHERE number = ?", (number,)).fetchone()
            except sqlite3.OperationalError:  # no such table: nothing of this kind filed yet
                return None
        return json.loads(row[0]) if row is not None else None

    def count(self, kind: str) -> int:
        """How many records of ``kind`` are stored."""
        table = self._table(kind)
        if not self.path.exists():
            return 0
        with closing(self._connect()) as db:
            try:
                return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            except sqlite3.OperationalError:
                return 0
