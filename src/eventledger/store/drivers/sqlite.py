"""SQLite plumbing, shared by the event store and the SQLite read-model target.

Everything that touches ``sqlite3`` below the SQL itself lives here once:

- **Settings**: the options a SQLite URL or keyword may carry, each with its check, and the
  URL parsed into a path and checked options (:func:`parse_sqlite_url`).
- **Connecting** (:func:`connect`, :func:`configure`): connections run on the event loop's
  thread (a thread hop per call would cost more than an insert), so the driver's own busy
  wait is cut to 20 ms and a lock held by another connection is waited out asynchronously by
  :class:`LockWait`. WAL mode lets readers go on while one connection writes; ``synchronous``
  is ``full`` by default, so an acknowledged write survives power loss (``normal`` syncs only
  at checkpoints: a crash of the process loses nothing, a power cut can lose the last commits).
- **Waiting out a lock** (:class:`LockWait`): retry while another connection holds the lock,
  sleeping with :data:`LOCK_BACKOFF` between attempts, until the caller's ``lock_timeout``.
- **What an error means** (:func:`store_error`). SQLite reports every failure as a result
  code; it becomes the error a caller can act on, so no ``sqlite3`` exception leaves the store:

  - busy or locked: the operation waits and retries (see :func:`is_busy`); past its
    ``lock_timeout`` it is :class:`StoreUnavailable`, like any other fault of the file or disk
    (I/O error, disk full, out of memory, cannot open);
  - a write through a read-only connection or onto a read-only file: :class:`ReadOnlyStore`,
    never :class:`StoreUnavailable`, because retrying cannot help;
  - anything else the database refused (a trigger, a constraint that is not a version
    conflict, a damaged file): :class:`StoreError` with SQLite's own message.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit

from eventledger.backoff import Backoff
from eventledger.errors import (
    EventLedgerError,
    InvalidArgument,
    InvalidStoreURL,
    ReadOnlyStore,
    StoreError,
    StoreUnavailable,
)
from eventledger.store.drivers.options import one_of, positive_seconds, table_prefix

_T = TypeVar("_T")

SYNCHRONOUS_MODES: Final = ("off", "normal", "full", "extra")
DEFAULT_SYNCHRONOUS: Final = "full"
"""Durable against power loss; see the module docstring."""
OPEN_MODES: Final = ("rwc", "ro")
"""``rwc`` (read, write, create: the default) or ``ro`` (read only: never writes the file)."""
LOCK_BACKOFF: Final = Backoff(first=0.001, maximum=0.05)
"""Pauses between attempts while another connection holds the lock. Exact (no jitter): the
other side is not retrying in step with us, it is holding the lock, and short first pauses
keep a briefly held lock from costing a whole 50 ms."""


def synchronous_mode(value: object) -> str:
    """One of :data:`SYNCHRONOUS_MODES` (lower-cased)."""
    return one_of(value, SYNCHRONOUS_MODES)


def open_mode(value: object) -> str:
    """One of :data:`OPEN_MODES` (lower-cased)."""
    return one_of(value, OPEN_MODES)


def store_prefix(value: object) -> str:
    """The store's table-name prefix (empty by default)."""
    return table_prefix(value, allow_empty=True)


OPTIONS: Final[dict[str, Callable[[object], object]]] = {
    "synchronous": synchronous_mode,
    "lock_timeout": positive_seconds,
    "poll_interval": positive_seconds,
    "prefix": store_prefix,
    "mode": open_mode,
}
"""The store's options and their checks: the URL's text and keyword arguments are checked alike."""


def parse_sqlite_url(
    url: str, options: Mapping[str, Any], supported: tuple[str, ...]
) -> tuple[str, dict[str, Any]]:
    """The file path of a ``sqlite:///path`` URL and its options, checked (keywords override).

    Raises :class:`InvalidStoreURL` (listing the ``supported`` forms) for a URL with a host or
    without a file, and for an unknown or bad option, naming it.
    """
    parts = urlsplit(url)
    if parts.netloc:
        raise InvalidStoreURL(
            url, "a SQLite URL has no host: use sqlite:///relative.db or sqlite:////abs.db", supported
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path or path.endswith("/"):
        raise InvalidStoreURL(url, "the SQLite URL names no file", supported)
    settings: dict[str, Any] = {}
    for key, value in [*parse_qsl(parts.query, keep_blank_values=True), *options.items()]:
        check = OPTIONS.get(key)
        if check is None:
            raise InvalidStoreURL(url, f"unknown option {key!r} (known: {', '.join(OPTIONS)})", supported)
        try:
            settings[key] = check(value)
        except InvalidArgument as error:
            raise InvalidStoreURL(url, f"option {key}={value!r}: {error}", supported) from None
    return path, settings


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection on the event loop's thread: autocommit, 20 ms busy wait (raises sqlite3.Error).

    ``read_only`` opens with ``mode=ro``, which never writes the file (SQLite's URI form is the
    only way to ask for that).
    """
    target = f"file:{quote(str(path.absolute()))}?mode=ro" if read_only else path
    db = sqlite3.connect(target, uri=read_only, isolation_level=None, check_same_thread=False, timeout=0.02)
    try:
        db.execute("PRAGMA busy_timeout = 20")
    except BaseException:
        db.close()
        raise
    return db


def configure(db: sqlite3.Connection, *, synchronous: str, wal: bool, where: str) -> None:
    """Set the ``synchronous`` mode and, when ``wal``, WAL journaling (run it under :class:`LockWait`)."""
    if wal:
        use_wal(db, where)
    db.execute(f"PRAGMA synchronous = {synchronous}")


def use_wal(db: sqlite3.Connection, where: str) -> None:
    """Turn on WAL journaling (it needs the file's lock: run it under :class:`LockWait`).

    A file that refuses it (say, on a file system without shared memory) raises
    :class:`StoreUnavailable` naming ``where``.
    """
    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreUnavailable(f"{where} refused WAL mode ({mode})")


@dataclass(frozen=True, slots=True)
class LockWait:
    """How one connection waits out another connection's lock on a SQLite file.

    ``where`` names the file in errors. ``explain`` turns any other ``sqlite3`` error met while
    ``doing`` something into the caller's error; without it, such errors pass unchanged.
    """

    timeout: float
    where: str
    explain: Callable[[sqlite3.Error, str], Exception] | None = None

    async def run(self, operation: Callable[[], _T], doing: str) -> _T:
        """Run ``operation``; while another connection holds the lock, sleep (async) and retry.

        Past ``timeout`` seconds it raises :class:`StoreUnavailable` saying what it was
        ``doing``.
        """
        deadline = time.monotonic() + self.timeout
        attempt = 0
        while True:
            try:
                return operation()
            except sqlite3.Error as error:
                if not is_busy(error):
                    if self.explain is None:
                        raise
                    raise self.explain(error, doing) from error
                if time.monotonic() >= deadline:
                    raise StoreUnavailable(
                        f"{self.where}: cannot {doing}: the file stayed locked by another connection "
                        f"for {self.timeout}s"
                    ) from error
            attempt += 1
            await asyncio.sleep(LOCK_BACKOFF.delay(attempt))


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
