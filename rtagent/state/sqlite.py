"""The local state store: one SQLite file in the data folder (``state.sqlite3``).

* **Never blocks the event loop.** Each operation runs in a worker thread (``asyncio.to_thread``) on one
  connection per store, opened on first use; a lock serialises the threads on it.
* **Several processes, one file.** The local stack sometimes runs the control plane and the media worker
  as separate processes. WAL lets readers run beside the one writer; writers take the write lock up front
  (``BEGIN IMMEDIATE``) and wait up to ``busy_timeout_s`` for each other instead of failing.
* **One table per writer**, so the control plane and the media worker never write the same row:
  ``call_state`` (control plane), ``call_session`` and ``transcript`` (media worker), ``caller_calls``
  (caller memory). Every write is ``INSERT ... ON CONFLICT DO UPDATE`` on the record's own key.
* **Created on first use**: the folder, the file and the tables (``PRAGMA user_version`` holds the schema
  version).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rtagent.state.base import (
    CallState,
    CallView,
    PastCall,
    SessionRecord,
    StateStore,
    StoreError,
    TranscriptEntry,
    json_text,
)
from rtagent.state.memory import normalize_number, utc_iso

__all__ = ["DB_NAME", "SqliteStore"]

DB_NAME = "state.sqlite3"
"""The file's name inside the data folder."""
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS call_state (
    call_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,   -- len(history): an older snapshot never replaces a newer one
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS call_session (
    call_id TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transcript (
    call_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    t_ms INTEGER NOT NULL,
    interrupted INTEGER NOT NULL,
    PRIMARY KEY (call_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS caller_calls (
    number TEXT NOT NULL,
    call_id TEXT NOT NULL,
    ended_at TEXT NOT NULL,     -- UTC, fixed width: sorts as text
    doc TEXT NOT NULL,
    PRIMARY KEY (number, call_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS caller_calls_newest ON caller_calls (number, ended_at DESC, call_id DESC);
"""

_R = TypeVar("_R")


class SqliteStore(StateStore):
    """``StateStore`` over one SQLite file (see the module docstring).

    Inputs: ``path`` of the file (its folder is created on first use); ``busy_timeout_s``, how long a
    writer waits for another process's write lock before ``StoreError``.
    Raises ``StoreError`` naming the file when it cannot be opened, is locked for too long, or is not a
    SQLite database.
    """

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path).expanduser()
        self.busy_timeout_s = busy_timeout_s
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # ------------------------------------------------------------------------------------- plumbing

    def _connect(self) -> sqlite3.Connection:
        """Open the file and make sure the schema is there (in the calling worker thread)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit: transactions are begun explicitly; check_same_thread off: ``_lock`` serialises use
        db = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            self._use_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, and no fsync per turn
            if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                db.execute("BEGIN IMMEDIATE")
                # statement by statement: executescript would commit the transaction first
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db

    def _use_wal(self, db: sqlite3.Connection) -> None:
        """Switch the file to WAL once. The switch fails at once (no busy wait) while another connection
        opens the new file, so it is retried until ``busy_timeout_s``."""
        deadline = time.monotonic() + self.busy_timeout_s
        while db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _blocking(self, work: Callable[[sqlite3.Connection], _R]) -> _R:
        with self._lock:
            if self._closed:
                raise StoreError(f"SQLite at {self.path}: the store is closed")
            try:
                if self._db is None:
                    self._db = self._connect()
                return work(self._db)
            except sqlite3.Error as e:
                if self._db is not None and self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the error raised below says what went wrong
                raise self._error(e) from e
            except OSError as e:  # the folder cannot be made
                raise StoreError(
                    f"SQLite at {self.path}: cannot create its folder {self.path.parent} ({e.strerror or e})"
                ) from e

    async def _run(self, work: Callable[[sqlite3.Connection], _R]) -> _R:
        return await asyncio.to_thread(self._blocking, work)

    def _error(self, e: sqlite3.Error) -> StoreError:
        text = str(e)
        where = f"SQLite at {self.path}"
        if "unable to open" in text:
            return StoreError(f"{where}: cannot open the file; check that its folder is writable ({text})")
        if "locked" in text or "busy" in text:
            return StoreError(
                f"{where}: another process held the write lock for over {self.busy_timeout_s:g} s ({text})"
            )
        if "not a database" in text or "malformed" in text:
            return StoreError(f"{where}: the file is not a usable SQLite database; move it aside ({text})")
        if "readonly" in text:
            return StoreError(f"{where}: the file is read-only; check its permissions ({text})")
        return StoreError(f"{where}: {text}")

    @staticmethod
    def _write(db: sqlite3.Connection, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Run ``statements`` as one transaction that holds the write lock from its start."""
        db.execute("BEGIN IMMEDIATE")
        for sql, params in statements:
            db.execute(sql, params)
        db.execute("COMMIT")

    # -------------------------------------------------------------------------------------- writes

    async def save_call_state(self, state: CallState) -> None:
        doc = json_text(state.to_dict(), f"call state of {state.call_id}")
        sql = (
            "INSERT INTO call_state (call_id, version, doc) VALUES (?, ?, ?)"
            " ON CONFLICT (call_id) DO UPDATE SET version = excluded.version, doc = excluded.doc"
            " WHERE excluded.version >= call_state.version"
        )
        await self._run(lambda db: self._write(db, [(sql, (state.call_id, state.version, doc))]))

    async def save_session(self, session: SessionRecord) -> None:
        doc = json_text(session.to_dict(), f"session of {session.call_id}")
        sql = (
            "INSERT INTO call_session (call_id, doc) VALUES (?, ?)"
            " ON CONFLICT (call_id) DO UPDATE SET doc = excluded.doc"
        )
        await self._run(lambda db: self._write(db, [(sql, (session.call_id, doc))]))

    async def append_transcript(self, call_id: str, entries: list[TranscriptEntry]) -> None:
        if not entries:
            return
        sql = (
            "INSERT INTO transcript (call_id, seq, role, text, t_ms, interrupted) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (call_id, seq) DO UPDATE SET role = excluded.role, text = excluded.text,"
            " t_ms = excluded.t_ms, interrupted = excluded.interrupted"
        )
        rows = [(sql, (call_id, e.seq, e.role, e.text, e.t_ms, int(e.interrupted))) for e in entries]
        await self._run(lambda db: self._write(db, rows))

    async def remember_caller(self, number: str, call: PastCall) -> None:
        key = normalize_number(number)
        if not key:
            return
        try:
            ended_at = utc_iso(call.ended_at)
        except ValueError as e:
            raise StoreError(f"past call {call.call_id}: ended_at {call.ended_at!r} is not ISO 8601") from e
        remembered = PastCall(call.call_id, call.agent, ended_at, dict(call.record), call.summary)
        doc = json_text(remembered.to_dict(), f"past call {call.call_id}")
        sql = (
            "INSERT INTO caller_calls (number, call_id, ended_at, doc) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (number, call_id) DO UPDATE SET ended_at = excluded.ended_at, doc = excluded.doc"
        )
        await self._run(lambda db: self._write(db, [(sql, (key, call.call_id, ended_at, doc))]))

    # --------------------------------------------------------------------------------------- reads

    async def get_call(self, call_id: str) -> CallView | None:
        def read(db: sqlite3.Connection) -> tuple[Any, Any, list[Any]]:
            db.execute("BEGIN")  # one snapshot for the three reads
            state = db.execute("SELECT doc FROM call_state WHERE call_id = ?", (call_id,)).fetchone()
            session = db.execute("SELECT doc FROM call_session WHERE call_id = ?", (call_id,)).fetchone()
            turns = db.execute(
                "SELECT seq, role, text, t_ms, interrupted FROM transcript WHERE call_id = ? ORDER BY seq",
                (call_id,),
            ).fetchall()
            db.execute("COMMIT")
            return state, session, turns

        state, session, turns = await self._run(read)
        if state is None and session is None and not turns:
            return None
        try:
            return CallView(
                call_id=call_id,
                state=CallState.from_dict(json.loads(state[0])) if state else None,
                session=SessionRecord.from_dict(json.loads(session[0])) if session else None,
                transcript=[TranscriptEntry(s, r, t, ms, bool(i)) for s, r, t, ms, i in turns],
            )
        except ValueError as e:
            raise StoreError(
                f"SQLite at {self.path}: call {call_id} is stored in a shape not understood: {e}"
            ) from e

    async def _past_calls(self, number: str, limit: int) -> list[PastCall]:
        key = number
        rows = await self._run(
            lambda db: db.execute(
                "SELECT doc FROM caller_calls WHERE number = ? ORDER BY ended_at DESC, call_id DESC LIMIT ?",
                (key, limit),
            ).fetchall()
        )
        try:
            calls = [PastCall.from_dict(json.loads(doc)) for (doc,) in rows]
        except ValueError as e:
            raise StoreError(
                f"SQLite at {self.path}: caller memory is stored in a shape not understood: {e}"
            ) from e
        return calls

    async def ping(self) -> str:
        await self._run(lambda db: db.execute("SELECT count(*) FROM call_state").fetchone())
        return f"SQLite at {self.path}"

    async def close(self) -> None:
        def shut() -> None:
            with self._lock:
                self._closed = True
                if self._db is not None:
                    self._db.close()
                    self._db = None

        await asyncio.to_thread(shut)
