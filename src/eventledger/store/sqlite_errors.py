"""What a ``sqlite3`` error means to a caller: one member of the library's error family.

SQLite reports every failure as a result code; this module turns the code into the error a
caller can act on, so no ``sqlite3`` exception leaves the library:

- busy or locked: the caller's operation waits and retries (see ``is_busy``); past its
  ``lock_timeout`` it is :class:`StoreUnavailable`, like any other fault of the file or disk
  (I/O error, disk full, out of memory, cannot open);
- a write through a read-only connection or onto a read-only file: :class:`ReadOnlyStore`,
  never :class:`StoreUnavailable`, because retrying cannot help;
- anything else the database refused (a trigger, a constraint that is not a version conflict,
  a damaged file): :class:`StoreError` with SQLite's own message.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from eventledger.errors import EventLedgerError, ReadOnlyStore, StoreError, StoreUnavailable

# SQLite's primary result codes (the low byte of an extended code) that are told apart here.
_BUSY: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_FAULTS: Final = frozenset(
    {sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL}
)
_WAL_COMPANIONS_MISSING: Final = (
    "reading a WAL-mode file needs its -shm and -wal files, which are missing and cannot be "
    "created here (read-only directory or file system); keep a writer's connection open, or "
    "make the directory writable"
)


def _code(error: sqlite3.Error) -> int | None:
    """SQLite's primary result code of ``error`` (None for errors the sqlite3 module made up)."""
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_busy(error: sqlite3.Error) -> bool:
    """Does ``error`` mean another connection holds the lock (worth waiting and retrying)?"""
    return _code(error) in _BUSY


def store_error(
    error: sqlite3.Error, where: str, doing: str, *, read_only: bool, exists: bool
) -> EventLedgerError:
    """The family member for ``error``, raised at ``where`` (the file) while ``doing`` something.

    ``read_only``: the connection was opened with ``mode=ro``. ``exists``: the file exists, so
    SQLite's "cannot open" is about its WAL companions, not the file itself.
    """
    code = _code(error)
    if code == sqlite3.SQLITE_READONLY or (code == sqlite3.SQLITE_CANTOPEN and exists):
        if code == sqlite3.SQLITE_CANTOPEN or error.sqlite_errorcode == sqlite3.SQLITE_READONLY_DIRECTORY:
            reason = _WAL_COMPANIONS_MISSING
        elif read_only:
            reason = "opened with ?mode=ro"
        else:
            reason = f"{error}: the file or its directory is not writable; open it with ?mode=ro to read it"
        return ReadOnlyStore(where, doing, reason)
    if code in _BUSY or code in _FAULTS or code == sqlite3.SQLITE_CANTOPEN:
        return StoreUnavailable(f"{where}: cannot {doing}: {error}")
    # Not a fault that goes away by retrying, and not the caller's arguments.
    return StoreError(f"{where}: cannot {doing}: the database refused it ({error})")
