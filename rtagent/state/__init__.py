"""The state store: call records, transcripts, structured records and caller memory.

One async interface (``StateStore``, in ``base``), two stores: ``SqliteStore`` (local, one file in the
data folder) and ``CosmosStore`` (Azure Cosmos DB, in ``rtagent.state.cosmos``, imported only when
used so the local path never loads the Azure SDK). ``open_store`` picks one from ``StoreSettings``.
See ``docs/State.md``.
"""

from __future__ import annotations

from rtagent.settings import StoreSettings, data_dir
from rtagent.state.base import (
    CallerMemory,
    CallState,
    CallView,
    PastCall,
    SessionRecord,
    StateStore,
    StoreError,
    TranscriptEntry,
)
from rtagent.state.memory import past_call, summarize_call
from rtagent.state.sqlite import DB_NAME, SqliteStore

__all__ = [
    "CallState",
    "CallView",
    "CallerMemory",
    "PastCall",
    "SessionRecord",
    "SqliteStore",
    "StateStore",
    "StoreError",
    "TranscriptEntry",
    "open_store",
    "past_call",
    "summarize_call",
]


def open_store(settings: StoreSettings, *, create_if_missing: bool = False) -> StateStore:
    """The store ``settings`` name; makes no request and opens no file (both happen on first use).

    ``sqlite``: ``SqliteStore`` on ``state.sqlite3`` in ``settings.data_dir`` (None: ``RTAGENT_DATA_DIR``,
    else ``.rtagent``). ``cosmos``: ``CosmosStore`` on ``settings.cosmos_endpoint`` with the key, or Entra
    ID when there is none; ``create_if_missing`` creates its database and containers on first use (a local
    emulator only: deployed ones come from the infrastructure). Raises ``StoreError`` for settings that
    cannot work (no endpoint, a key that is not a key).
    """
    if settings.kind == "sqlite":
        return SqliteStore((settings.data_dir or data_dir()) / DB_NAME)
    if settings.kind == "cosmos":
        from rtagent.state.cosmos import CosmosStore

        return CosmosStore.from_settings(settings, create_if_missing=create_if_missing)
    raise StoreError(f"RTAGENT_STORE must be sqlite or cosmos, got {settings.kind!r}")
