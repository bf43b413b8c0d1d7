"""A multi-stream append on PostgreSQL: every stream's events in one statement, or none.

The statement (:data:`~eventledger.store.postgres_appends.APPEND_TO_STREAMS`) reads every
stream's version, checks every request's expected version and inserts every event, so the
whole append is one round trip and one transaction: all its events share one transaction id,
and readers of the global log, which go in (transaction id, position) order, see the whole
append at once and together. Run alone (the store's ``append_many``) it is its own autocommit
transaction and keeps the lock-first rule by itself; :func:`append_in_transaction` runs it
inside a :meth:`~eventledger.store.postgres.PostgresEventStore.writing_transaction`, beside the
caller's other writes (a reactor's checkpoint).

A refusal names every stream whose expected version did not hold, having written nothing.
Another appender may still take one of the versions the statement aims at (appenders are not
serialised): the unique ``(stream_id, version)`` constraint makes the statement wait for it and
fail, and everything is undone (:class:`Raced`); the append is then made again, reading the
versions anew, which either succeeds (``ANY`` and ``STREAM_EXISTS`` still hold) or names every
stream that no longer holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import psycopg.errors

from eventledger.errors import StoreError
from eventledger.store.appends import EncodedAppend, check_versions
from eventledger.store.postgres_appends import STREAM_VERSION_CONSTRAINT
from eventledger.store.postgres_statements import Statements
from eventledger.store.records import AppendResult

Connection = psycopg.AsyncConnection[Any]


class Raced(Exception):
    """Another appender took a version of ``stream_id`` this transaction aimed at.

    Nothing of the append will commit: roll the transaction back and make it again.
    """

    def __init__(self, stream_id: str) -> None:
        super().__init__(stream_id)
        self.stream_id = stream_id


async def append_in_transaction(
    connection: Connection, statements: Statements, requests: list[EncodedAppend]
) -> tuple[list[AppendResult], int]:
    """Write ``requests`` in the connection's open writing transaction, in one statement.

    Returns the results and the transaction id they were written under (0 when no request
    had events). Raises :class:`ConcurrencyError` (naming every stream that does not hold) or
    :class:`Raced`, having written nothing that will commit; after :class:`Raced` the
    transaction is aborted and must be rolled back.
    """
    statement, parameters = statements.appends.to_streams(requests)
    try:
        cursor = await connection.execute(statement, parameters, prepare=True)
    except psycopg.errors.UniqueViolation as error:
        if error.diag.constraint_name != STREAM_VERSION_CONSTRAINT:
            raise
        raise Raced(raced_stream(error, requests)) from None
    except psycopg.errors.DeadlockDetected as error:
        # A writer of its own order (the caller's other SQL, or another's) deadlocked with this
        # statement, and PostgreSQL chose it as the victim: as a race, make the whole thing again.
        raise Raced(raced_stream(error, requests)) from None
    return appended(requests, await cursor.fetchall())


def appended(requests: list[EncodedAppend], rows: Sequence[Sequence[Any]]) -> tuple[list[AppendResult], int]:
    """The results of the multi-stream statement's ``rows``, and the transaction id they were
    written under; :class:`ConcurrencyError` naming every stream that did not hold."""
    actual: dict[str, int] = {}
    written: dict[str, list[tuple[int, int]]] = {}
    transaction_id = 0
    for stream_id, version, position, transaction in rows:
        if position is None:  # a request's row: the version the statement read
            actual[str(stream_id)] = int(version)
        else:
            written.setdefault(str(stream_id), []).append((int(version), int(position)))
            transaction_id = int(transaction)
    check_versions(requests, actual)
    results = []
    for request in requests:
        events = sorted(written.get(request.stream_id, ()))
        if len(events) != len(request.events):
            # The statement's verdict and this check disagree: a defect, not a conflict.
            raise StoreError(
                f"stream {request.stream_id!r}: {len(events)} of {len(request.events)} events were "
                "written by a multi-stream append whose every expected version held"
            )
        version = events[-1][0] if events else actual[request.stream_id]
        results.append(AppendResult(request.stream_id, version, tuple(position for _, position in events)))
    return results, transaction_id


def raced_stream(error: psycopg.Error, requests: list[EncodedAppend]) -> str:
    """The stream whose version another appender took, as the server's detail names it.

    The detail reads ``Key (stream_id, version)=(<stream>, <version>) already exists.``; when
    the server leaves it out (a role without SELECT on the table), the first stream written.
    """
    detail = error.diag.message_detail or ""
    named = [
        request.stream_id
        for request in requests
        if detail.startswith(f"Key (stream_id, version)=({request.stream_id}, ")
    ]
    if named:
        return max(named, key=len)  # "a" and "a, 1" both match a detail about "a, 1"
    return next((request.stream_id for request in requests if request.events), requests[0].stream_id)
