"""``open_store(url)``: one string chooses and configures the backend.

>>> async def example() -> None:
...     store = await open_store("sqlite:///orders.db")      # a file relative to the cwd
...     async with open_store("memory://") as scratch:         # also an async context manager
...         ...
"""

from __future__ import annotations

from collections.abc import Generator
from types import TracebackType
from typing import Any, Final

from eventledger.errors import InvalidStoreURL
from eventledger.store.base import EventStore

SUPPORTED: Final = (
    "memory://",
    "sqlite:///relative/path.db",
    "sqlite:////absolute/path.db",
    "postgresql://user@host:port/dbname?schema=NAME",
)


class StoreOpener:
    """What :func:`open_store` returns: await it, or use it as an async context manager."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self._url = url
        self._options = options
        self._store: EventStore | None = None

    def __await__(self) -> Generator[Any, None, EventStore]:
        return _open(self._url, self._options).__await__()

    async def __aenter__(self) -> EventStore:
        self._store = await _open(self._url, self._options)
        return self._store

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._store is not None:
            await self._store.close()


def open_store(url: str, **options: Any) -> StoreOpener:
    """Open the event store that ``url`` names.

    - ``memory://``: in-process, nothing persists.
    - ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``: the embedded store;
      query options ``synchronous`` (``full`` by default, or ``normal``), ``lock_timeout``,
      ``poll_interval``, ``prefix`` and ``mode`` (``ro`` to open read-only).
    - ``postgresql://user@host:port/dbname?schema=NAME``: PostgreSQL (``eventledger[postgres]``).

    Keyword ``options`` override query options and are checked the same way. A malformed URL,
    an unknown scheme, or an unknown or bad option (say a ``poll_interval`` that is not a
    finite number above 0) raises :class:`InvalidStoreURL` naming the URL, the option and the
    supported forms.
    """
    if not isinstance(url, str) or "://" not in url:
        raise InvalidStoreURL(str(url), "expected scheme://...", SUPPORTED)
    return StoreOpener(url, options)


async def _open(url: str, options: dict[str, Any]) -> EventStore:
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        from eventledger.store.memory import MemoryEventStore

        if url.split("://", 1)[1] not in ("", "/"):
            raise InvalidStoreURL(url, "memory:// takes no path", SUPPORTED)
        if options:
            raise InvalidStoreURL(url, f"memory:// takes no options (given: {', '.join(options)})", SUPPORTED)
        return MemoryEventStore()
    if scheme == "sqlite":
        return await _open_sqlite(url, options)
    if scheme in ("postgresql", "postgres"):
        try:
            from eventledger.store import postgres
        except ImportError as error:
            raise InvalidStoreURL(
                url,
                f"the PostgreSQL backend needs its extra: pip install 'eventledger[postgres]' ({error})",
                SUPPORTED,
            ) from error
        return await postgres.open_postgres_store(url, **options)
    raise InvalidStoreURL(url, f"unknown scheme {scheme!r}", SUPPORTED)


async def _open_sqlite(url: str, options: dict[str, Any]) -> EventStore:
    from eventledger.store.drivers.sqlite import parse_sqlite_url
    from eventledger.store.sqlite import SQLiteEventStore

    # The URL's text and keyword arguments meet the same checks, the store's own.
    path, settings = parse_sqlite_url(url, options, SUPPORTED)
    store = SQLiteEventStore(path, **settings)
    try:
        return await store.open()
    except BaseException:
        await store.close()
        raise
