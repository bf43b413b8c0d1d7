"""A snapshot row is only ever an optimisation: whatever the snapshot table holds, the events decide.

Each test plants a row the library would never write (by another program, an old bug, a
restored backup) straight into the snapshots table, and loads the aggregate through a
repository that uses snapshots.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from accounts import Account

import eventledger as el
from backends import Backend
from eventledger.store import Snapshot
from eventledger.store.memory import MemoryEventStore

OPENED_AT = datetime(2024, 5, 1, tzinfo=UTC)


async def plant_snapshot(
    backend: Backend, store: el.EventStore, stream_id: str, version: object, state: object
) -> None:
    """Write a snapshot row as another program could, bypassing the store's own checks."""
    if isinstance(store, MemoryEventStore):
        store._snapshots[stream_id] = Snapshot(stream_id, version, "test.account", 1, state)  # type: ignore[arg-type]
        return
    table = backend.events_table.removesuffix("events") + "snapshots"
    literal = f"'{version}'" if isinstance(version, str) else str(version)
    recorded_at = "0" if backend.name == "sqlite" else "now()"
    refused = await backend.tamper(
        f"INSERT INTO {table} (stream_id, version, aggregate_type, schema_version, state, recorded_at) "
        f"VALUES ('{stream_id}', {literal}, 'test.account', 1, '{json.dumps(state)}', {recorded_at})"
    )
    assert refused is None, refused


async def account_with_deposits(store: el.EventStore, *amounts: int, account_id: str = "acc-1") -> Account:
    accounts = el.Repository(store, Account)
    account = Account.open(account_id, "ada", OPENED_AT)
    for amount in amounts:
        account.deposit(Decimal(amount))
    await accounts.save(account)
    return account


async def test_a_snapshot_at_version_0_is_ignored_so_no_event_is_applied_twice(
    backend: Backend, store: el.EventStore
) -> None:
    account = await account_with_deposits(store, 12, 30, 36)
    await plant_snapshot(backend, store, "acc-1", 0, account.snapshot_state())
    loaded = await el.Repository(store, Account, snapshot_every=100).load("acc-1")
    assert (loaded.version, loaded.balance) == (4, Decimal(78))


async def test_a_snapshot_beyond_the_stream_is_ignored_and_updates_keep_working(
    backend: Backend, store: el.EventStore
) -> None:
    account = await account_with_deposits(store, 12, 30, 36)
    await plant_snapshot(backend, store, "acc-1", 1000, account.snapshot_state())
    accounts = el.Repository(store, Account, snapshot_every=100)
    loaded = await accounts.load("acc-1")
    assert (loaded.version, loaded.balance) == (4, Decimal(78))
    updated = await accounts.update("acc-1", lambda account: account.deposit(Decimal(2)))
    assert (updated.version, updated.balance) == (5, Decimal(80))
    assert accounts.statistics.conflicts == 0


async def test_a_snapshot_inside_the_stream_is_still_used(backend: Backend, store: el.EventStore) -> None:
    account = await account_with_deposits(store, 12, 30, 36)
    await plant_snapshot(backend, store, "acc-1", 4, account.snapshot_state())
    accounts = el.Repository(store, Account, snapshot_every=100)
    loaded = await accounts.load("acc-1")
    assert (loaded.version, loaded.balance) == (4, Decimal(78))
    assert (accounts.statistics.snapshots_used, accounts.statistics.events_read) == (1, 0)


async def test_a_snapshot_at_a_negative_version_is_ignored(backend: Backend, store: el.EventStore) -> None:
    account = await account_with_deposits(store, 12, 30, 36)
    await plant_snapshot(backend, store, "acc-1", -5, account.snapshot_state())
    loaded = await el.Repository(store, Account, snapshot_every=100).load("acc-1")
    assert (loaded.version, loaded.balance) == (4, Decimal(78))


# PostgreSQL's bigint column cannot hold text, so only these backends can be given such a row.
@pytest.mark.parametrize("backend", ["memory", "sqlite"], indirect=True)
async def test_a_snapshot_whose_version_is_text_is_ignored(backend: Backend, store: el.EventStore) -> None:
    account = await account_with_deposits(store, 12, 30, 36)
    await plant_snapshot(backend, store, "acc-1", "ten", account.snapshot_state())
    loaded = await el.Repository(store, Account, snapshot_every=100).load("acc-1")
    assert (loaded.version, loaded.balance) == (4, Decimal(78))


async def test_a_snapshot_without_events_does_not_load_a_ghost(
    backend: Backend, store: el.EventStore
) -> None:
    ghost = Account.open("ghost", "nobody", OPENED_AT)
    await plant_snapshot(backend, store, "ghost", 1, ghost.snapshot_state())
    with pytest.raises(el.AggregateNotFound, match="'ghost' not found"):
        await el.Repository(store, Account, snapshot_every=100).load("ghost")


async def test_an_ignored_snapshot_is_logged_once_not_at_every_load(
    backend: Backend, store: el.EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    account_id = f"acc-{uuid.uuid4().hex}"  # the log remembers streams for the whole process
    account = await account_with_deposits(store, 5, account_id=account_id)
    await plant_snapshot(backend, store, account_id, 1000, account.snapshot_state())
    with caplog.at_level(logging.WARNING, logger="eventledger.domain.snapshots"):
        for _ in range(3):
            await el.Repository(store, Account, snapshot_every=100).load(account_id)
    warnings = [record for record in caplog.records if "ignoring the snapshot" in record.getMessage()]
    assert len(warnings) == 1
    assert f"{account_id!r} at version 1000: the stream has no event at that version" in (
        warnings[0].getMessage()
    )
