"""Snapshots shorten loads and are never more than an optimisation."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from accounts import Account, Deposited, Tagged

import eventledger as el
from backends import BACKENDS, Backend
from eventledger.store import Snapshot

OPENED_AT = datetime(2024, 5, 1, tzinfo=UTC)


async def open_account(store: el.EventStore, account_id: str = "acc-1") -> None:
    await el.Repository(store, Account).save(Account.open(account_id, "ada", OPENED_AT))


async def deposit(accounts: el.Repository[Account], count: int, account_id: str = "acc-1") -> Account:
    def deposit_many(account: Account) -> None:
        for _ in range(count):
            account.deposit(Decimal(1))

    return await accounts.update(account_id, deposit_many)


async def test_a_save_that_carries_the_stream_past_a_multiple_of_n_takes_a_snapshot(
    store: el.EventStore,
) -> None:
    accounts = el.Repository(store, Account, snapshot_every=10)
    await open_account(store)
    await deposit(accounts, 8)  # version 9: no multiple of 10 crossed
    assert await store.load_snapshot("acc-1") is None
    await deposit(accounts, 3)  # version 12
    snapshot = await store.load_snapshot("acc-1")
    assert snapshot is not None
    assert (snapshot.version, snapshot.aggregate_type, snapshot.schema_version) == (12, "test.account", 1)
    assert snapshot.state["balance"] == "11"
    assert accounts.statistics.snapshots_saved == 1


async def test_loading_starts_from_the_latest_snapshot_and_reads_only_later_events(
    store: el.EventStore,
) -> None:
    accounts = el.Repository(store, Account, snapshot_every=10)
    await open_account(store)
    await deposit(accounts, 11)  # version 12, snapshot at 12
    await store.append("acc-1", [Tagged(tag="a"), Tagged(tag="b")], expected_version=12)
    reader = el.Repository(store, Account, snapshot_every=10)
    account = await reader.load("acc-1")
    assert (reader.statistics.events_read, reader.statistics.snapshots_used) == (2, 1)
    assert (account.version, account.balance, account.tags) == (14, Decimal(11), ["a", "b"])


async def test_loading_10000_events_with_snapshot_every_100_reads_at_most_100_events(
    store: el.EventStore,
) -> None:
    accounts = el.Repository(store, Account, snapshot_every=100)
    await open_account(store)
    # 10,000 events written by commands, 333 at a time, as a busy aggregate would be.
    for _ in range(30):
        await deposit(accounts, 333)
    await deposit(accounts, 9)
    await store.append("acc-1", [Tagged(tag="late")] * 37, expected_version=10_000)

    reader = el.Repository(store, Account, snapshot_every=100)
    account = await reader.load("acc-1")
    assert account.version == 10_037
    assert account.balance == Decimal(9_999)
    assert reader.statistics.events_read == 37
    assert reader.statistics.events_read <= 100
    # Every load along the way was short too: never a full replay.
    assert accounts.statistics.events_read <= 100 * accounts.statistics.loads


async def test_a_load_that_replays_n_events_or_more_takes_a_fresh_snapshot(store: el.EventStore) -> None:
    await store.append(
        "acc-1", Account.open("acc-1", "ada", OPENED_AT).uncommitted_events, expected_version=0
    )
    await store.append("acc-1", [Deposited(amount=Decimal(1))] * 24, expected_version=1)
    accounts = el.Repository(store, Account, snapshot_every=25)
    await accounts.load("acc-1")
    snapshot = await store.load_snapshot("acc-1")
    assert snapshot is not None and snapshot.version == 25
    await accounts.load("acc-1")
    assert accounts.statistics.events_read == 25


class AccountV2(Account, type_name="test.account", schema_version=2):
    """The same aggregate after a change to its state's shape."""


async def test_a_snapshot_of_another_schema_version_is_ignored_and_replaced(
    store: el.EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    old = el.Repository(store, Account, snapshot_every=10)
    await open_account(store)
    await deposit(old, 11)
    new = el.Repository(store, AccountV2, snapshot_every=10)
    with caplog.at_level(logging.INFO, logger="eventledger.domain.snapshots"):
        account = await new.load("acc-1")
    assert (
        "it holds test.account schema version 1, the loader is test.account schema version 2" in caplog.text
    )
    assert (new.statistics.snapshots_ignored, new.statistics.events_read) == (1, 12)
    assert account.balance == Decimal(11)
    snapshot = await store.load_snapshot("acc-1")
    assert snapshot is not None and (snapshot.version, snapshot.schema_version) == (12, 2)


async def test_a_stale_snapshot_is_replaced_even_when_few_events_follow_it(store: el.EventStore) -> None:
    await open_account(store)
    await store.save_snapshot(Snapshot("acc-1", 1, "test.account", 1, {"owner": "ada"}))
    new = el.Repository(store, AccountV2, snapshot_every=100)
    await new.load("acc-1")
    snapshot = await store.load_snapshot("acc-1")
    assert snapshot is not None and (snapshot.version, snapshot.schema_version) == (1, 2)
    await new.load("acc-1")
    assert (new.statistics.snapshots_ignored, new.statistics.snapshots_used) == (1, 1)


async def test_a_snapshot_of_another_aggregate_type_is_ignored(store: el.EventStore) -> None:
    await open_account(store)
    await store.save_snapshot(Snapshot("acc-1", 1, "Order", 1, {"status": "pending"}))
    accounts = el.Repository(store, Account, snapshot_every=10)
    account = await accounts.load("acc-1")
    assert (account.owner, accounts.statistics.snapshots_ignored) == ("ada", 1)


async def test_a_snapshot_whose_state_no_longer_fits_is_ignored_and_the_events_rebuild_it(
    store: el.EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    await open_account(store)
    await store.save_snapshot(Snapshot("acc-1", 1, "test.account", 1, {"balance": "lots"}))
    accounts = el.Repository(store, Account, snapshot_every=10)
    with caplog.at_level(logging.WARNING, logger="eventledger.domain.snapshots"):
        account = await accounts.load("acc-1")
    assert "its state does not restore" in caplog.text
    assert (account.owner, account.balance, accounts.statistics.snapshots_ignored) == ("ada", Decimal(0), 1)


class BrokenSnapshots(Account, type_name="test.broken-snapshots"):
    def snapshot_state(self) -> dict[str, Any]:
        raise RuntimeError("cannot serialise today")


async def test_failing_to_take_a_snapshot_never_fails_the_command(
    store: el.EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = el.Repository(store, BrokenSnapshots, snapshot_every=2)
    await accounts.save(BrokenSnapshots.open("acc-1", "ada", OPENED_AT))
    with caplog.at_level(logging.WARNING, logger="eventledger.domain.snapshots"):
        account = await accounts.update("acc-1", lambda account: account.deposit(Decimal(5)))
    assert account.version == 2
    assert "could not save a snapshot of test.broken-snapshots 'acc-1' at version 2" in caplog.text
    assert "cannot serialise today" in caplog.text
    assert accounts.statistics.snapshot_failures == 1
    assert await store.load_snapshot("acc-1") is None
    assert len([r async for r in store.read_stream("acc-1")]) == 2


@pytest.fixture(params=[name for name in BACKENDS if name != "memory"])
async def database_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """The backends with a real database whose snapshots table can be taken away."""
    made = BACKENDS[request.param](tmp_path)
    yield made
    await made.close()


async def drop_snapshots_table(backend: Backend) -> None:
    table = backend.events_table.removesuffix("events") + "snapshots"
    refused = await backend.tamper(f"DROP TABLE {table}")
    assert refused is None, refused


async def test_a_database_that_refuses_the_snapshot_does_not_fail_the_command(
    database_backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    store = await database_backend.open()
    accounts = el.Repository(store, Account, snapshot_every=2)
    await accounts.save(Account.open("acc-1", "ada", OPENED_AT))
    await drop_snapshots_table(database_backend)
    with caplog.at_level(logging.WARNING):
        account = await accounts.update("acc-1", lambda account: account.deposit(Decimal(5)))
    assert account.version == 2
    assert "could not read the snapshot of 'acc-1'; loading from events" in caplog.text
    assert "could not save a snapshot of test.account 'acc-1' at version 2" in caplog.text
    assert accounts.statistics.snapshot_failures == 1
    reloaded = await el.Repository(store, Account).load("acc-1")
    assert (reloaded.version, reloaded.balance) == (2, Decimal(5))
    await store.close()


async def test_without_snapshot_every_no_snapshot_is_read_or_written(store: el.EventStore) -> None:
    await open_account(store)
    await store.save_snapshot(Snapshot("acc-1", 1, "test.account", 1, {"owner": "from the snapshot"}))
    accounts = el.Repository(store, Account)
    await deposit(accounts, 300)
    account = await accounts.load("acc-1")
    assert account.owner == "ada"
    assert accounts.statistics.snapshots_used == accounts.statistics.snapshots_saved == 0
    snapshot = await store.load_snapshot("acc-1")
    assert snapshot is not None and snapshot.version == 1


async def test_a_snapshot_can_be_taken_on_demand_of_a_saved_aggregate(store: el.EventStore) -> None:
    accounts = el.Repository(store, Account, snapshot_every=1000)
    await open_account(store)
    account = await deposit(accounts, 3)
    assert await accounts.take_snapshot(account) is True
    snapshot = await store.load_snapshot("acc-1")
    assert snapshot is not None and snapshot.version == 4


async def test_a_snapshot_is_refused_while_events_are_uncommitted(store: el.EventStore) -> None:
    account = Account.open("acc-1", "ada", OPENED_AT)
    with pytest.raises(ValueError, match="has uncommitted events; save it before taking a snapshot"):
        await el.Repository(store, Account, snapshot_every=5).take_snapshot(account)


async def test_snapshot_every_must_be_a_positive_int(store: el.EventStore) -> None:
    with pytest.raises(ValueError, match="snapshot_every must be an int >= 1 or None, not 0"):
        el.Repository(store, Account, snapshot_every=0)
