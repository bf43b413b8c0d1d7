"""A multi-stream append on PostgreSQL: every stream's events in one transaction, or none.

The transaction is a :meth:`PostgresEventStore.writing_transaction`, so it locks the events
table before it has a transaction id (the lock-first rule that keeps readers from skipping) and
all its events share one transaction id: readers of the global log, which go in (transaction
id, position) order, see the whole append at once and together.

Inside it, every stream's version is read first, so that a refusal can name every stream whose
expected version does not hold, with nothing written. The inserts then aim at exactly the
versions read. Another appender may still take one of those versions meanwhile (appenders are
not serialised): the unique ``(stream_id, version)`` constraint makes one of the two wait for
the other and fail, and this transaction rolls back whole (:class:`Raced`). The caller tries
again when the raced stream's expected version was ``ANY`` or ``STREAM_EXISTS``, which a newer
version still satisfies, and reports a conflict otherwise.
"""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg.errors

from eventledger.errors import ConcurrencyError
from eventledger.store.appends import EncodedAppend
from eventledger.store.expected_version import ANY, STREAM_EXISTS, expected_version_matches
from eventledger.store.postgres_statements import Statements
from eventledger.store.records import AppendResult

Connection = psycopg.AsyncConnection[Any]


class Raced(Exception):
    """Another appender took a version of ``stream_id`` this transaction aimed at."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(stream_id)
        self.stream_id = stream_id


async def append_in_transaction(
    connection: Connection, statements: Statements, requests: list[EncodedAppend]
) -> tuple[list[AppendResult], int]:
    """Write ``requests`` in the connection's open writing transaction; the results and the
    transaction id they were written under. Raises :class:`ConcurrencyError` (every stream that
    does not hold) or :class:`Raced`, having written nothing that will commit."""
    cursor = await connection.execute(
        statements.stream_versions, ([request.stream_id for request in requests],), prepare=True
    )
    actual = {str(stream): int(version) for stream, version in await cursor.fetchall()}
    conflicts = [
        (request.stream_id, request.expected, actual.get(request.stream_id, 0))
        for request in requests
        if not expected_version_matches(request.expected, actual.get(request.stream_id, 0))
    ]
    if conflicts:
        raise ConcurrencyError(*conflicts[0], also=tuple(conflicts[1:]))
    results: list[AppendResult] = []
    transaction_id = 0
    for request in requests:
        version = actual.get(request.stream_id, 0)
        if not request.events:
            results.append(AppendResult(request.stream_id, version, ()))
            continue
        # The exact form at the version just read: right after it, or a unique violation. ANY and
        # STREAM_EXISTS (checked above) take their own forms, which read the version in the
        # insert itself: a busy stream's other appenders then have a statement's time to race it,
        # not the round trips since the read.
        own_form = request.expected is ANY or request.expected is STREAM_EXISTS
        expected = request.expected if own_form else version
        statement, parameters = statements.appends.statement(
            request.stream_id, request.events, expected, request.metadata
        )
        try:
            cursor = await connection.execute(statement, parameters, prepare=True)
        except psycopg.errors.UniqueViolation:
            raise Raced(request.stream_id) from None
        rows = sorted(await cursor.fetchall(), key=lambda row: int(row[1]))
        if not rows:
            raise Raced(request.stream_id)
        transaction_id = int(rows[0][2])
        results.append(AppendResult(request.stream_id, int(rows[-1][1]), tuple(int(row[0]) for row in rows)))
    return results, transaction_id
