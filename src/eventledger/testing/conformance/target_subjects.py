"""What a read-model target hands the target kit: target objects on a fresh database, and how
the kit's ledger projection writes and reads a table in it.

The kit cannot know a target's session type (SQL, a document store, a dict), so the object a
backend's ``target_under_test`` fixture returns carries the three operations the ledger needs:
create its ``totals`` table in a build, add to a total in a batch, and read the totals readers
see. :class:`SQLTargetUnderTest` does them for any target whose handlers write through an
:class:`~eventledger.projections.SQLTransaction` and whose readers use ``target.read()``
(SQLite, PostgreSQL, a third party's SQL target); :class:`DocumentTargetUnderTest` keeps the
same totals as typed documents (:mod:`eventledger.projections.documents`) in such a target;
:class:`MemoryTargetUnderTest` for :class:`~eventledger.projections.MemoryTarget`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Generic, Protocol, TypeVar, runtime_checkable

import pydantic

from eventledger.projections import MemoryReadModel, MemoryTarget, SQLTransaction, Target
from eventledger.projections.documents import DocumentCollection, DocumentReader, Documents

S = TypeVar("S")

Totals = dict[str, tuple[int, int]]
"""What the ledger holds per account: the sum of the amounts applied, and how many were applied.

Both are increments, so an event applied twice (or lost) shows in them."""


class TargetUnderTest(ABC, Generic[S]):
    """One fresh read-model database of the target under test, for one test."""

    @abstractmethod
    def new_target(self) -> Target[S]:
        """A target object on this test's database.

        The kit asks for several (one per runner, one for reading), as separate processes
        would hold them, and closes each after the test. A target that keeps its read model
        inside the object (memory) returns the same object every time.
        """

    @abstractmethod
    async def create_totals(self, session: S) -> None:
        """In a projection's ``setup``: create the build's table ``totals`` (an account, a
        running total, a count of events applied)."""

    @abstractmethod
    async def add(self, session: S, account: str, amount: int) -> None:
        """In a batch: add ``amount`` to the account's total and 1 to its count."""

    @abstractmethod
    async def read_totals(self, target: Target[S], projection: str) -> Totals:
        """What readers of ``projection`` see in ``totals`` now (the serving build; empty before one)."""


@runtime_checkable
class ReadableSQLTarget(Protocol):
    """A SQL target readers query through ``read()`` (the stable table names, on the serving build)."""

    def read(self) -> AbstractAsyncContextManager[SQLTransaction]:
        """A read-only transaction whose ``table(name)`` is the name readers query."""


class SQLTargetUnderTest(TargetUnderTest[SQLTransaction]):
    """Any SQL target: ``new_target`` makes a target object on the test's database."""

    def __init__(self, new_target: Callable[[], Target[SQLTransaction]]) -> None:
        self._new_target = new_target

    def new_target(self) -> Target[SQLTransaction]:
        return self._new_target()

    async def create_totals(self, session: SQLTransaction) -> None:
        await session.execute(
            f"CREATE TABLE {session.table('totals')} "
            "(account TEXT PRIMARY KEY, total BIGINT NOT NULL, events BIGINT NOT NULL)"
        )

    async def add(self, session: SQLTransaction, account: str, amount: int) -> None:
        await session.execute(
            f"INSERT INTO {session.table('totals')} AS t (account, total, events) VALUES (%s, %s, 1) "
            "ON CONFLICT (account) DO UPDATE SET total = t.total + excluded.total, events = t.events + 1",
            (account, amount),
        )

    async def read_totals(self, target: Target[SQLTransaction], projection: str) -> Totals:
        if not isinstance(target, ReadableSQLTarget):
            raise TypeError(f"{target!r} has no read() for readers; SQLTargetUnderTest needs one")
        async with target.read() as sql:
            rows = await sql.fetch_all(f"SELECT account, total, events FROM {sql.table('totals')}")
        return {str(row[0]): (int(row[1]), int(row[2])) for row in rows}


class Total(pydantic.BaseModel):
    """One account's total, as a document."""

    total: int = 0
    events: int = 0


class DocumentTargetUnderTest(SQLTargetUnderTest):
    """Any SQL target, with the ledger's totals kept as :class:`Total` documents (collection ``totals``).

    What the kit proves of the target then holds for document read models in it: their writes
    commit with the checkpoint, rebuilds and blue/green switch the documents too.
    """

    collection = DocumentCollection("totals", Total)

    async def create_totals(self, session: SQLTransaction) -> None:
        for statement in self.collection.create_statements(session):
            await session.execute(statement)

    async def add(self, session: SQLTransaction, account: str, amount: int) -> None:
        totals = Documents(self.collection, lambda: nullcontext(session))
        current = await totals.get(account) or Total()
        await totals.put(account, Total(total=current.total + amount, events=current.events + 1))

    async def read_totals(self, target: Target[SQLTransaction], projection: str) -> Totals:
        items = await DocumentReader(target, {"totals": self.collection})[Total].items()
        return {account: (total.total, total.events) for account, total in items}


class MemoryTargetUnderTest(TargetUnderTest[MemoryReadModel]):
    """:class:`~eventledger.projections.MemoryTarget`: one object holds the whole read model."""

    def __init__(self) -> None:
        self.target = MemoryTarget()

    def new_target(self) -> Target[MemoryReadModel]:
        return self.target

    async def create_totals(self, session: MemoryReadModel) -> None:
        """Nothing to create: a memory table is a dict that exists once written."""

    async def add(self, session: MemoryReadModel, account: str, amount: int) -> None:
        totals = session.table("totals")
        total, events = totals.get(account, (0, 0))
        totals[account] = (total + amount, events + 1)

    async def read_totals(self, target: Target[MemoryReadModel], projection: str) -> Totals:
        assert isinstance(target, MemoryTarget)
        return dict(target.table(projection, "totals"))


class OpenedTargets(Generic[S]):
    """The target objects a test made through its :class:`TargetUnderTest`; the kit closes them."""

    def __init__(self, subject: TargetUnderTest[S]) -> None:
        self.subject = subject
        self._made: list[Target[S]] = []

    def new(self) -> Target[S]:
        """Another target object on the test's database."""
        target = self.subject.new_target()
        self._made.append(target)
        return target

    async def read_totals(self, projection: str) -> Totals:
        """What a reader with a target object of its own sees now."""
        return await self.subject.read_totals(self.new(), projection)

    async def close_all(self) -> None:
        """Close every target made here."""
        for target in reversed(self._made):
            await target.close()
        self._made.clear()
