"""The PostgreSQL store's append statements, written out: one per batch size and expected-version
form, and one for several streams at once (``append_many``).

**An append is one statement.** It checks the expected version and inserts the whole batch, so
a success costs one round trip, and a batch is stored entirely or not at all. There is no lost
update between "check the version" and "insert": the unique ``(stream_id, version)``
constraint settles a race between two appenders aiming at the same version (the loser waits
for the winner's commit, then fails on the constraint and is told of the conflict, or, for
``ANY`` and ``STREAM_EXISTS``, which are still satisfied, runs again).

**The lock-first rule holds for each of them on its own** (see
:mod:`eventledger.store.postgres_statements`): as one autocommit statement, it takes the
events table's ROW EXCLUSIVE lock when it is parsed and planned (or, for the prepared plan,
when the plan's locks are acquired before execution), and its transaction gets an id only when
it first writes (the identity's ``nextval`` or the row). So the visibility barrier sees every
append's transaction from the moment it has an id.

Each single-stream form returns a row per inserted event (position, version, writing
transaction id) and no rows when the expected version did not match. The transaction id lets
the store's own later reads of the global log wait until the barrier has passed what it wrote.
Batch rows are numbered and inserted in order, so positions rise with versions. The texts are
templates over the store's events table (``{events}``, a validated schema name); values always
travel as parameters, and the store prepares each statement on first use.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Final

from eventledger.events import EncodedEvent
from eventledger.store.appends import EncodedAppend
from eventledger.store.expected_version import ANY, STREAM_EXISTS, ExpectedVersion

STREAM_VERSION_CONSTRAINT: Final = "events_stream_version"
"""The unique ``(stream_id, version)`` constraint that settles a race between two appenders."""

APPEND_ONE_EXACT: Final = """\
INSERT INTO {events} (stream_id, version, event_id, type, schema_version, data, metadata)
SELECT %(stream)s, %(expected)s::bigint + 1,
       %(event_id)s, %(type)s, %(schema_version)s, %(data)s::json, %(metadata)s::json
WHERE (%(expected)s::bigint = 0
       OR EXISTS (SELECT FROM {events} WHERE stream_id = %(stream)s AND version = %(expected)s::bigint))
RETURNING position, version, pg_current_xact_id()::text"""
"""One event, expected version exactly n: it becomes version n + 1 when version n exists (or
n is 0). No read of the stream's maximum: if the stream is already past n, the unique
``(stream_id, version)`` refuses the insert."""

APPEND_ONE_ANY: Final = """\
INSERT INTO {events} (stream_id, version, event_id, type, schema_version, data, metadata)
SELECT %(stream)s, current.version + 1,
       %(event_id)s, %(type)s, %(schema_version)s, %(data)s::json, %(metadata)s::json
FROM (SELECT coalesce(max(version), 0) AS version FROM {events} WHERE stream_id = %(stream)s) AS current
RETURNING position, version, pg_current_xact_id()::text"""
"""One event, expected version ANY: after the stream's current maximum (1 for a new stream)."""

APPEND_ONE_EXISTING: Final = """\
INSERT INTO {events} (stream_id, version, event_id, type, schema_version, data, metadata)
SELECT %(stream)s, current.version + 1,
       %(event_id)s, %(type)s, %(schema_version)s, %(data)s::json, %(metadata)s::json
FROM (SELECT coalesce(max(version), 0) AS version FROM {events} WHERE stream_id = %(stream)s) AS current
WHERE current.version > 0
RETURNING position, version, pg_current_xact_id()::text"""
"""One event, expected version STREAM_EXISTS: as ANY, but no row (refused) for an empty stream."""

# A batch arrives as four parallel arrays; unnest ... WITH ORDINALITY numbers its events 1..n
# in the caller's order, and ORDER BY that number inserts them (and hands out positions) so.
APPEND_MANY_EXACT: Final = """\
INSERT INTO {events} (stream_id, version, event_id, type, schema_version, data, metadata)
SELECT %(stream)s, %(expected)s::bigint + batch.number,
       batch.event_id, batch.type, batch.schema_version, batch.data::json, %(metadata)s::json
FROM unnest(%(event_ids)s::uuid[], %(types)s::text[], %(schema_versions)s::int[], %(datas)s::text[])
     WITH ORDINALITY AS batch(event_id, type, schema_version, data, number)
WHERE (%(expected)s::bigint = 0
       OR EXISTS (SELECT FROM {events} WHERE stream_id = %(stream)s AND version = %(expected)s::bigint))
ORDER BY batch.number
RETURNING position, version, pg_current_xact_id()::text"""
"""A batch, expected version exactly n: versions n + 1 .. n + k, refused as for one event."""

APPEND_MANY_ANY: Final = """\
INSERT INTO {events} (stream_id, version, event_id, type, schema_version, data, metadata)
SELECT %(stream)s, current.version + batch.number,
       batch.event_id, batch.type, batch.schema_version, batch.data::json, %(metadata)s::json
FROM (SELECT coalesce(max(version), 0) AS version FROM {events} WHERE stream_id = %(stream)s) AS current,
     unnest(%(event_ids)s::uuid[], %(types)s::text[], %(schema_versions)s::int[], %(datas)s::text[])
     WITH ORDINALITY AS batch(event_id, type, schema_version, data, number)
ORDER BY batch.number
RETURNING position, version, pg_current_xact_id()::text"""
"""A batch, expected version ANY: numbered after the stream's current maximum."""

APPEND_MANY_EXISTING: Final = """\
INSERT INTO {events} (stream_id, version, event_id, type, schema_version, data, metadata)
SELECT %(stream)s, current.version + batch.number,
       batch.event_id, batch.type, batch.schema_version, batch.data::json, %(metadata)s::json
FROM (SELECT coalesce(max(version), 0) AS version FROM {events} WHERE stream_id = %(stream)s) AS current,
     unnest(%(event_ids)s::uuid[], %(types)s::text[], %(schema_versions)s::int[], %(datas)s::text[])
     WITH ORDINALITY AS batch(event_id, type, schema_version, data, number)
WHERE current.version > 0
ORDER BY batch.number
RETURNING position, version, pg_current_xact_id()::text"""
"""A batch, expected version STREAM_EXISTS: as ANY, but no rows (refused) for an empty stream."""

# A multi-stream append (append_many) in one statement, so one round trip and one transaction:
# - ``request`` reads every stream's current version, all from the statement's one snapshot;
# - ``verdict`` holds only if every request's expected version does (forms as above: ``exact``
#   n, ``any``, ``exists``);
# - ``numbered`` gives every event its position, in the caller's order (request by request,
#   each request's events in order), or, when the verdict fails, has no rows: nothing is
#   written;
# - ``inserted`` writes the events at the versions right after the ones read, in the order of
#   their stream ids, NOT the caller's: two appends that share streams then take those streams'
#   (stream_id, version) keys in one order, so neither can hold a key the other waits for while
#   waiting for one the other holds (in the caller's order, [a, b] racing [b, a] deadlocked);
# - the result is one row per request (stream, version read, NULL, NULL), so that a refusal
#   can name EVERY stream that did not hold, then one row per event written (stream, version,
#   position, transaction id).
# Another appender may take one of those versions after the snapshot: the unique
# (stream_id, version) then makes this statement wait for it and fail if it commits, and the
# whole statement (every stream) is undone; the store runs it again, reading the versions anew.
# Run alone it takes the events table's ROW EXCLUSIVE lock before it has a transaction id, as
# the single-stream forms do (the lock-first rule); inside a writing transaction the lock is
# already held.
APPEND_TO_STREAMS: Final = """\
WITH request AS MATERIALIZED (
    SELECT request.stream_id, request.form, request.expected, request.metadata,
           coalesce((SELECT max(stored.version) FROM {events} AS stored
                     WHERE stored.stream_id = request.stream_id), 0) AS actual
    FROM unnest(%(streams)s::text[], %(forms)s::text[], %(expected)s::bigint[], %(metadatas)s::text[])
         AS request(stream_id, form, expected, metadata)),
verdict AS MATERIALIZED (
    SELECT coalesce(bool_and(CASE request.form WHEN 'any' THEN true
                                               WHEN 'exists' THEN request.actual > 0
                                               ELSE request.actual = request.expected END), true) AS holds
    FROM request),
numbered AS MATERIALIZED (
    SELECT event.*, nextval((SELECT pg_get_serial_sequence('{events}', 'position')::regclass)) AS position
    FROM (SELECT * FROM unnest(%(event_streams)s::text[], %(offsets)s::bigint[], %(event_ids)s::uuid[],
                               %(types)s::text[], %(schema_versions)s::int[], %(datas)s::text[])
                 WITH ORDINALITY
                 AS event(stream_id, offset_in_stream, event_id, type, schema_version, data, number)
          ORDER BY event.number) AS event
    WHERE (SELECT verdict.holds FROM verdict)),
inserted AS (
    INSERT INTO {events} (position, stream_id, version, event_id, type, schema_version, data, metadata)
    SELECT numbered.position, request.stream_id, request.actual + numbered.offset_in_stream,
           numbered.event_id, numbered.type, numbered.schema_version, numbered.data::json,
           request.metadata::json
    FROM numbered JOIN request ON request.stream_id = numbered.stream_id
    ORDER BY numbered.stream_id, numbered.number
    RETURNING stream_id, version, position, pg_current_xact_id()::text AS transaction_id)
SELECT request.stream_id, request.actual, NULL::bigint, NULL::text FROM request
UNION ALL
SELECT inserted.stream_id, inserted.version, inserted.position, inserted.transaction_id FROM inserted"""
"""Several streams, each with its own expected version, in one statement: all of it or nothing."""


class AppendForms:
    """The six append statements of one store, as bytes ready for psycopg."""

    __slots__ = ("many", "one", "streams")

    def __init__(self, events: str) -> None:
        def text(template: str) -> bytes:
            return template.format(events=events).encode()

        # (exact, ANY, STREAM_EXISTS) for one event and for a batch.
        self.one = (text(APPEND_ONE_EXACT), text(APPEND_ONE_ANY), text(APPEND_ONE_EXISTING))
        self.many = (text(APPEND_MANY_EXACT), text(APPEND_MANY_ANY), text(APPEND_MANY_EXISTING))
        self.streams = text(APPEND_TO_STREAMS)

    def statement(
        self, stream_id: str, events: list[EncodedEvent], expected: ExpectedVersion, metadata: str | None
    ) -> tuple[bytes, dict[str, Any]]:
        """The append statement for this batch and expected-version form, with its parameters."""
        parameters: dict[str, Any] = {"stream": stream_id, "metadata": metadata}
        if len(events) == 1:
            event = events[0]
            parameters.update(
                event_id=uuid.uuid4(), type=event.type, schema_version=event.schema_version, data=event.data
            )
            forms = self.one
        else:
            parameters.update(
                event_ids=[uuid.uuid4() for _ in events],
                types=[event.type for event in events],
                schema_versions=[event.schema_version for event in events],
                datas=[event.data for event in events],
            )
            forms = self.many
        if expected is ANY:
            return forms[1], parameters
        if expected is STREAM_EXISTS:
            return forms[2], parameters
        parameters["expected"] = expected
        return forms[0], parameters

    def to_streams(self, requests: Sequence[EncodedAppend]) -> tuple[bytes, dict[str, Any]]:
        """The multi-stream statement (:data:`APPEND_TO_STREAMS`) for ``requests``, with its parameters."""
        forms: list[str] = []
        expected: list[int | None] = []
        event_streams: list[str] = []
        offsets: list[int] = []
        for request in requests:
            if request.expected is ANY:
                forms.append("any")
                expected.append(None)
            elif request.expected is STREAM_EXISTS:
                forms.append("exists")
                expected.append(None)
            else:
                forms.append("exact")
                expected.append(request.expected)
            event_streams.extend([request.stream_id] * len(request.events))
            offsets.extend(range(1, len(request.events) + 1))
        events = [event for request in requests for event in request.events]
        return self.streams, {
            "streams": [request.stream_id for request in requests],
            "forms": forms,
            "expected": expected,
            "metadatas": [request.metadata for request in requests],
            "event_streams": event_streams,
            "offsets": offsets,
            "event_ids": [uuid.uuid4() for _ in events],
            "types": [event.type for event in events],
            "schema_versions": [event.schema_version for event in events],
            "datas": [event.data for event in events],
        }
