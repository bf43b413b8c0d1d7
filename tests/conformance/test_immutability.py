"""Stored events are immutable against any SQL a program can send, not only the store's own.

Each rewrite comes from a plain driver connection that sets no option of ours (no
``recursive_triggers`` on SQLite, no session settings on PostgreSQL), as another program
holding the database would send it. The database itself must refuse it, and every stored event
must read back exactly as it was.
"""

from __future__ import annotations

import pytest

import eventledger as el
from backends import REWRITE_FORMS, REWRITES, Backend
from events import noted


async def stored(store: el.EventStore) -> list[tuple[object, ...]]:
    """Everything that identifies each stored event, in log order."""
    return [
        (r.position, r.stream_id, r.version, r.event_id, r.type, r.event, r.recorded_at)
        async for r in store.read_all()
    ]


@pytest.mark.parametrize(
    ("backend", "form"),
    [(name, form) for name, forms in REWRITE_FORMS.items() for form in forms],
    indirect=["backend"],
)
async def test_the_database_refuses_to_change_or_remove_a_stored_event(
    backend: Backend, store: el.EventStore, form: str
) -> None:
    await store.append("s", [noted("a"), noted("b")], expected_version=0)
    await store.append("t", [noted("c")], expected_version=0)
    before = await stored(store)
    error = await backend.rewrite(form)
    assert error is not None, f"the database accepted: {REWRITES[form]}"
    if backend.name != "memory":
        assert "immutable" in str(error)
    assert await stored(store) == before
