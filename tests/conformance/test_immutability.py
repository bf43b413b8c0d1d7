"""Stored events are immutable: the database itself refuses UPDATE and DELETE."""

from __future__ import annotations

import pytest

import eventledger as el
from backends import Backend
from events import noted


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {table} SET type = 'Tampered'",
        "DELETE FROM {table}",
    ],
)
async def test_raw_update_or_delete_of_stored_events_is_refused(
    backend: Backend, store: el.EventStore, statement: str
) -> None:
    await store.append("s", [noted("a"), noted("b")], expected_version=0)
    error = await backend.tamper(statement.format(table=backend.events_table))
    assert error is not None, "the database accepted a change to a stored event"
    if backend.name != "memory":
        assert "immutable" in str(error)
    assert [(r.version, r.type) async for r in store.read_stream("s")] == [
        (1, "test.order-noted"),
        (2, "test.order-noted"),
    ]
