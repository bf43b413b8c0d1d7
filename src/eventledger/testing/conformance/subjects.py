"""What a backend hands the store kit: a fresh database to open stores on, and raw access to it.

A third-party event store provides one pytest fixture, ``store_under_test``, returning a
:class:`StoreUnderTest` on a database of its own for each test (and removing it afterwards).
The kit opens stores through it, one object per connection, and closes every store it opened
(:class:`OpenedStores`).

Two specifications need to reach past the store: one stores a row the way an older release or
another program would have (an unknown type, data that no longer fits its class), the other
tries to change or remove a stored event behind the store's back. They run when the object
also implements :class:`RawAccess`; a backend that has no raw access (a hosted service, a store
whose rows only its own code can reach) leaves it out and runs ``StoreConformance``;
``RawStoreConformance`` adds the tests that need it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol, runtime_checkable

from eventledger.store import EventStore

REWRITES: dict[str, str] = {
    "update": "UPDATE the first stored event",
    "delete": "DELETE the first stored event",
    "delete every row": "DELETE FROM the table without WHERE (SQLite's truncate optimisation)",
    "truncate": "TRUNCATE the table",
    "replace the position": "REPLACE / INSERT OR REPLACE a row at the first event's position",
    "replace the event id": "REPLACE a row with the first event's event id",
    "replace the stream version": "INSERT OR REPLACE a row at the first event's stream and version",
    "upsert on the position": "INSERT ... ON CONFLICT (position) DO UPDATE",
    "upsert on the event id": "INSERT ... ON CONFLICT (event_id) DO UPDATE",
    "upsert on the stream version": "INSERT ... ON CONFLICT (stream_id, version) DO UPDATE",
    "merge": "MERGE ... WHEN MATCHED THEN UPDATE",
    "merge delete": "MERGE ... WHEN MATCHED THEN DELETE",
}
"""Every way a program can send SQL that would change or remove a stored event.

A backend names the forms its database has in ``rewrite_forms`` of its conformance class
(REPLACE is SQLite's; TRUNCATE and MERGE PostgreSQL's) and performs them in
:meth:`RawAccess.rewrite`.
"""


class StoreUnderTest(ABC):
    """One fresh database of the event store under test, for one test."""

    @abstractmethod
    async def open(self) -> EventStore:
        """Open a store on this test's database: another connection each call, where it has them.

        Every store sees the same events. The kit closes the stores it opens.
        """

    async def open_polling_every_minute(self) -> EventStore:
        """A store whose subscribers re-read only once a minute unless woken in this process.

        The default sets ``poll_interval`` on a store from :meth:`open`. Override it when your
        store can also be woken from outside (PostgreSQL's NOTIFY), to turn that off: the test
        using it proves that an append wakes a waiting subscriber of the same store object.
        """
        store = await self.open()
        store.poll_interval = 60.0
        return store


@runtime_checkable
class RawAccess(Protocol):
    """Raw access to the database of a :class:`StoreUnderTest`, bypassing the store.

    Implement both methods on the object your ``store_under_test`` fixture returns.
    """

    async def insert_raw(
        self, stream_id: str, version: int, type_name: str, schema_version: int, data: str
    ) -> None:
        """Store a row as an older release (or another program) would: the given type name,
        schema version and JSON ``data``, at the next position, without the store's checks.

        Return once readers of the global log can see it.
        """

    async def rewrite(self, form: str) -> Exception | None:
        """Try to change or remove the first stored event by ``form`` (a key of :data:`REWRITES`).

        Send it the way another program would: a plain driver connection that sets no option
        of the store's. Return the error the database raised, or None when it accepted.
        """


class OpenedStores:
    """The stores a test opened through its :class:`StoreUnderTest`; the kit closes them all."""

    def __init__(self, subject: StoreUnderTest) -> None:
        self.subject = subject
        self._opened: list[EventStore] = []

    async def open(self) -> EventStore:
        """Another store on the test's database (see :meth:`StoreUnderTest.open`)."""
        return self._keep(await self.subject.open())

    async def open_polling_every_minute(self) -> EventStore:
        """See :meth:`StoreUnderTest.open_polling_every_minute`."""
        return self._keep(await self.subject.open_polling_every_minute())

    def _keep(self, store: EventStore) -> EventStore:
        self._opened.append(store)
        return store

    async def close_all(self) -> None:
        """Close every store opened here (closing is idempotent, so tests may close them first)."""
        for store in reversed(self._opened):
            await store.close()
        self._opened.clear()
