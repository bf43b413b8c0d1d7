"""The PostgreSQL append statements are what ``eventledger.store.postgres_appends`` says they are.

Checks on the SQL text, one claim of the module each; the store's behaviour under real
concurrent connections is specified in test_postgres_concurrency.py.
"""

from __future__ import annotations

import pytest

import eventledger as el
from eventledger.events import EncodedEvent
from eventledger.store.postgres_appends import (
    APPEND_MANY_ANY,
    APPEND_MANY_EXACT,
    APPEND_MANY_EXISTING,
    APPEND_ONE_ANY,
    APPEND_ONE_EXACT,
    APPEND_ONE_EXISTING,
    AppendForms,
)

EXACT = [APPEND_ONE_EXACT, APPEND_MANY_EXACT]
AFTER_MAXIMUM = [APPEND_ONE_ANY, APPEND_ONE_EXISTING, APPEND_MANY_ANY, APPEND_MANY_EXISTING]
EXISTING = [APPEND_ONE_EXISTING, APPEND_MANY_EXISTING]
BATCHES = [APPEND_MANY_EXACT, APPEND_MANY_ANY, APPEND_MANY_EXISTING]
EVERY = EXACT + AFTER_MAXIMUM
RETURNING = "RETURNING position, version, pg_current_xact_id()::text"


def words(statement: str) -> str:
    return " ".join(statement.split())


@pytest.mark.parametrize("statement", EXACT)
def test_an_exact_form_does_not_read_the_streams_maximum(statement: str) -> None:
    assert "max(version)" not in statement
    assert "%(expected)s::bigint = 0 OR EXISTS" in words(statement)


@pytest.mark.parametrize("statement", AFTER_MAXIMUM)
def test_the_any_and_stream_exists_forms_number_after_the_streams_maximum(statement: str) -> None:
    current = "(SELECT coalesce(max(version), 0) AS version FROM {events} WHERE stream_id = %(stream)s)"
    assert current in words(statement)
    assert "current.version + " in statement


@pytest.mark.parametrize("statement", EVERY)
def test_only_the_stream_exists_forms_refuse_an_empty_stream(statement: str) -> None:
    assert ("WHERE current.version > 0" in statement) == (statement in EXISTING)


@pytest.mark.parametrize("statement", BATCHES)
def test_a_batch_is_numbered_and_inserted_in_the_callers_order(statement: str) -> None:
    assert "WITH ORDINALITY AS batch(event_id, type, schema_version, data, number)" in statement
    assert words(statement).endswith("ORDER BY batch.number " + RETURNING)


@pytest.mark.parametrize("statement", EVERY)
def test_every_form_is_one_insert_returning_position_version_and_transaction_id(statement: str) -> None:
    assert words(statement).startswith("INSERT INTO {events} ")
    assert statement.count("INSERT") == 1
    assert words(statement).endswith(RETURNING)


ONE = [EncodedEvent("t", 1, "{}")]
TWO = ONE * 2


@pytest.mark.parametrize(
    ("events", "expected", "template"),
    [
        (ONE, 3, APPEND_ONE_EXACT),
        (ONE, el.NO_STREAM, APPEND_ONE_EXACT),
        (ONE, el.ANY, APPEND_ONE_ANY),
        (ONE, el.STREAM_EXISTS, APPEND_ONE_EXISTING),
        (TWO, 3, APPEND_MANY_EXACT),
        (TWO, el.ANY, APPEND_MANY_ANY),
        (TWO, el.STREAM_EXISTS, APPEND_MANY_EXISTING),
    ],
)
def test_each_batch_size_and_expected_version_form_runs_its_own_statement(
    events: list[EncodedEvent], expected: el.ExpectedVersion, template: str
) -> None:
    statement, parameters = AppendForms('"s".events').statement("stream", events, expected, None)

    assert statement == template.format(events='"s".events').encode()
    assert parameters["stream"] == "stream"
