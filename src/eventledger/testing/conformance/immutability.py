"""Stored events are immutable against any SQL a program can send, not only the store's own.

Each rewrite comes from a plain driver connection that sets no option of ours (no
``recursive_triggers`` on SQLite, no session settings on PostgreSQL), as another program
holding the database would send it. The database itself must refuse it, and every stored event
must read back exactly as it was.

A backend declares the forms of :data:`~eventledger.testing.conformance.subjects.REWRITES` its
database has in ``rewrite_forms``; the test runs once per form. It is part of
:class:`~eventledger.testing.conformance.RawStoreConformance`, for backends with
:class:`~eventledger.testing.conformance.subjects.RawAccess`; declaring no form there is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pytest

import eventledger as el
from eventledger.testing.conformance.events import noted
from eventledger.testing.conformance.fixtures import StoreFixtures
from eventledger.testing.conformance.subjects import REWRITES, RawAccess


async def stored(store: el.EventStore) -> list[tuple[object, ...]]:
    """Everything that identifies each stored event, in log order."""
    return [
        (r.position, r.stream_id, r.version, r.event_id, r.type, r.event, r.recorded_at)
        async for r in store.read_all()
    ]


class ImmutabilitySpecification(StoreFixtures):
    """Stored events are immutable against any SQL a program can send."""

    #: The forms of REWRITES the backend's database has; each must be refused.
    rewrite_forms: ClassVar[Sequence[str]] = ()
    #: Whether the database's refusal names immutability (the SQL triggers' messages do).
    refusals_name_immutability: ClassVar[bool] = True

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """One test per declared rewrite form (pytest calls this hook on test classes)."""
        if "form" not in metafunc.fixturenames:
            return
        forms = list(type(self).rewrite_forms)
        unknown = [form for form in forms if form not in REWRITES]
        if unknown:
            raise ValueError(f"rewrite_forms names forms that REWRITES does not have: {unknown}")
        if not forms:
            raise ValueError(
                f"{type(self).__name__} declares no rewrite_forms: list the forms of REWRITES its "
                "database has (every database has at least UPDATE and DELETE, or their like)"
            )
        metafunc.parametrize("form", forms)

    async def test_the_database_refuses_to_change_or_remove_a_stored_event(
        self, raw: RawAccess, store: el.EventStore, form: str
    ) -> None:
        await store.append("s", [noted("a"), noted("b")], expected_version=0)
        await store.append("t", [noted("c")], expected_version=0)
        before = await stored(store)
        error = await raw.rewrite(form)
        assert error is not None, f"the database accepted: {REWRITES[form]}"
        if self.refusals_name_immutability:
            assert "immutable" in str(error)
        assert await stored(store) == before
