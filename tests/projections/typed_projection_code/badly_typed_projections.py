"""Mistakes mypy must catch in projection code, each marked with the error it must report."""

from __future__ import annotations

from well_typed_projections import AnySQLTotals, Counts, Totals

from eventledger.projections import MemoryReadModel, MemoryTarget, Projection, SQLiteTarget
from eventledger.projections.targets.postgres import PostgresTarget


class MemoryOnly(Projection[MemoryReadModel], name="memory-only"):
    pass


def wrong_targets() -> None:
    Totals(PostgresTarget("postgresql://localhost/test"))  # expect: arg-type
    Counts(SQLiteTarget("read.db"))  # expect: arg-type
    MemoryOnly(SQLiteTarget("read.db"))  # expect: arg-type
    AnySQLTotals(MemoryTarget())  # expect: arg-type


async def reading_through_an_unnamed_target(totals: AnySQLTotals) -> None:
    async with totals.target.read() as sql:  # expect: attr-defined
        await sql.execute("SELECT 1")


def a_concrete_target_is_not_another(totals: Totals) -> PostgresTarget:
    return totals.target  # expect: return-value


def sessions_still_checked(totals: Totals) -> Projection[MemoryReadModel]:
    return totals  # expect: return-value
