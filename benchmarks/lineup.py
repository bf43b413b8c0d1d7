"""The contenders, by name: eventledger, the incumbent and the raw driver of each backend."""

from __future__ import annotations

from typing import Final

from benchmarks.contender import Contender
from benchmarks.places import Place

CONTENDERS: Final = ("eventledger", "eventsourcing", "raw")
"""Every contender, in the order the report lists them."""
FASTEST_RAW: Final = "raw-asyncpg"
"""On PostgreSQL, the fastest raw driver measured (asyncpg), a contender in every workload; the
targets against "raw" are judged against the faster of it and psycopg."""
RAW_DRIVERS: Final = ("raw", FASTEST_RAW)
SAME_SQL: Final = "raw-same-sql"
"""asyncpg running eventledger's own append statement on eventledger's table, no library: the
limit for the store's SQL, which the single-event write targets on PostgreSQL (W1, W2, C1) are
judged against (see benchmarks/raw_same_sql.py)."""


def open_contender(name: str, place: Place, *, tables_exist: bool = False) -> Contender:
    """Open contender ``name`` on ``place`` (imports only what that contender needs).

    ``tables_exist``: another process has created the contender's tables already, so it must
    not try to again (the incumbent's table creation races with itself across processes).
    """
    if name == "eventledger":
        from benchmarks.ledger import LedgerContender

        return LedgerContender(place)
    if name == "eventsourcing":
        from benchmarks.incumbent import IncumbentContender

        return IncumbentContender(place, create_tables=not tables_exist)
    if name == "raw" and place.backend == "sqlite":
        from benchmarks.raw_sqlite import RawSQLiteContender

        return RawSQLiteContender(place)
    if name == "raw" and place.backend == "postgres":
        from benchmarks.raw_postgres import RawPostgresContender

        return RawPostgresContender(place)
    if name == FASTEST_RAW and place.backend == "postgres":
        from benchmarks.raw_asyncpg import RawAsyncpgContender

        return RawAsyncpgContender(place)
    if name == SAME_SQL and place.backend == "postgres":
        from benchmarks.raw_same_sql import RawSameSQLContender

        return RawSameSQLContender(place)
    raise ValueError(f"no contender {name!r} for {place.backend}")
