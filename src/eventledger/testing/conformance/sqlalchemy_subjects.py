"""The target kit's ledger for :class:`~eventledger.projections.targets.sqlalchemy_target.SQLAlchemyTarget`.

Kept apart from :mod:`.target_subjects` so the kit imports SQLAlchemy only where it is used
(``eventledger[sqlalchemy]``). The ledger's ``totals`` table is an SQLAlchemy ``Table``; the
handlers write it with Core statements through ``sql.run`` and readers select it through
``target.read()``, so the kit proves exactly once, rebuilds and blue/green of that path, on
whatever engine (sync or async, SQLite or PostgreSQL) ``new_target`` is given.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import BigInteger, Column, MetaData, String, Table, insert, select, update

from eventledger.projections.targets.base import Target
from eventledger.projections.targets.sqlalchemy_session import AlchemySession
from eventledger.projections.targets.sqlalchemy_target import SQLAlchemyTarget
from eventledger.testing.conformance.target_subjects import TargetUnderTest, Totals

METADATA = MetaData()
"""The ledger's read model."""

TOTALS = Table(
    "totals",
    METADATA,
    Column("account", String, primary_key=True),
    Column("total", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),
)
"""An account, its running total and how many events were applied to it."""


class SQLAlchemyTargetUnderTest(TargetUnderTest[AlchemySession]):
    """An SQLAlchemy target on the test's database: ``new_target(METADATA)`` makes one."""

    def __init__(self, new_target: Callable[[MetaData], SQLAlchemyTarget]) -> None:
        self._new_target = new_target

    def new_target(self) -> Target[AlchemySession]:
        return self._new_target(METADATA)

    async def create_totals(self, session: AlchemySession) -> None:
        await session.create_tables(TOTALS)

    async def add(self, session: AlchemySession, account: str, amount: int) -> None:
        totals = session.table(TOTALS)
        query = select(totals.c.total, totals.c.events).where(totals.c.account == account)
        found = (await session.run(query)).first()
        if found is None:
            await session.run(insert(totals).values(account=account, total=amount, events=1))
            return
        await session.run(
            update(totals)
            .where(totals.c.account == account)
            .values(total=totals.c.total + amount, events=totals.c.events + 1)
        )

    async def read_totals(self, target: Target[AlchemySession], projection: str) -> Totals:
        assert isinstance(target, SQLAlchemyTarget)
        async with target.read() as sql:
            rows = (await sql.run(select(TOTALS))).all()
        return {str(row.account): (int(row.total), int(row.events)) for row in rows}
