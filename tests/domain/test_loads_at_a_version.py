"""Repository.load(id, version=N) and load(id, as_of=moment): an aggregate as it was then."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from accounts import Account, AccountOpened, Deposited

import eventledger as el
from eventledger.events import encode_event
from eventledger.store import Snapshot
from eventledger.store.memory import MemoryEventStore, StoredEvent

OPENED_AT = datetime(2024, 5, 1, tzinfo=UTC)


def deposits(*amounts: int) -> list[el.Event]:
    return [Deposited(amount=Decimal(amount)) for amount in amounts]


async def account_with_history(store: el.EventStore, *amounts: int) -> None:
    """acc-1: opened (version 1), then one deposit per amount (versions 2, 3, ...)."""
    await store.append(
        "acc-1",
        [AccountOpened(owner="ada", at=OPENED_AT), *deposits(*amounts)],
        expected_version=el.NO_STREAM,
    )


async def save_snapshot_at(store: el.EventStore, version: int) -> None:
    """A true snapshot of acc-1 at ``version`` (its state replayed from the first events)."""
    events = [recorded async for recorded in store.read_stream("acc-1", limit=version)]
    account = Account.from_history("acc-1", events)
    await store.save_snapshot(
        Snapshot("acc-1", version, Account.__aggregate_type__, 1, account.snapshot_state())
    )


async def test_a_load_at_a_version_gives_the_state_its_first_events_made(store: el.EventStore) -> None:
    await account_with_history(store, 1, 2, 4, 8)
    account = await el.Repository(store, Account).load("acc-1", version=3)
    assert (account.version, account.committed_version, account.balance) == (3, 3, Decimal(3))
    assert account.deposits_by_memo == {"": Decimal(3)}


async def test_a_load_at_the_current_version_equals_a_plain_load(store: el.EventStore) -> None:
    await account_with_history(store, 1, 2)
    accounts = el.Repository(store, Account)
    assert await accounts.load("acc-1", version=3) == await accounts.load("acc-1")


async def test_a_load_at_version_0_raises_aggregate_not_found(store: el.EventStore) -> None:
    await account_with_history(store, 1)
    with pytest.raises(el.AggregateNotFound) as raised:
        await el.Repository(store, Account).load("acc-1", version=0)
    assert raised.value.stream_id == "acc-1"
    assert raised.value.__notes__ == ["version 0 is before the stream's first event"]


async def test_a_load_at_a_version_of_an_empty_stream_raises_aggregate_not_found(
    store: el.EventStore,
) -> None:
    with pytest.raises(el.AggregateNotFound, match="'acc-404'"):
        await el.Repository(store, Account).load("acc-404", version=3)


async def test_a_load_at_a_version_the_stream_never_reached_is_refused(store: el.EventStore) -> None:
    await account_with_history(store, 1, 2)
    with pytest.raises(el.InvalidArgument) as raised:
        await el.Repository(store, Account).load("acc-1", version=4)
    assert str(raised.value) == "test.account 'acc-1' was never at version 4: its stream has 3 event(s)"


@pytest.mark.parametrize("version", [-1, True, "2", 2.0])
async def test_a_version_that_is_not_an_int_of_at_least_0_is_refused(
    store: el.EventStore, version: object
) -> None:
    with pytest.raises(el.InvalidArgument, match=r"^version must be an int from 0 to"):
        await el.Repository(store, Account).load("acc-1", version=version)  # type: ignore[arg-type]


async def test_a_load_at_a_version_and_a_moment_at_once_is_refused(store: el.EventStore) -> None:
    with pytest.raises(el.InvalidArgument, match="at a version or as of a moment, not both"):
        await el.Repository(store, Account).load("acc-1", version=1, as_of=datetime.now(UTC))


async def test_a_load_at_a_version_starts_from_a_snapshot_below_it(store: el.EventStore) -> None:
    await account_with_history(store, 1, 2, 4, 8, 16)
    await save_snapshot_at(store, 2)
    accounts = el.Repository(store, Account, snapshot_every=100)
    account = await accounts.load("acc-1", version=4)
    assert (accounts.statistics.snapshots_used, accounts.statistics.events_read) == (1, 2)
    assert account == await el.Repository(store, Account).load("acc-1", version=4)
    assert (account.version, account.balance) == (4, Decimal(7))


async def test_a_load_at_a_version_uses_a_snapshot_taken_at_exactly_that_version(
    store: el.EventStore,
) -> None:
    await account_with_history(store, 1, 2, 4)
    await save_snapshot_at(store, 3)
    accounts = el.Repository(store, Account, snapshot_every=100)
    account = await accounts.load("acc-1", version=3)
    assert (accounts.statistics.snapshots_used, accounts.statistics.events_read) == (1, 0)
    assert (account.version, account.balance) == (3, Decimal(3))


async def test_a_load_at_a_version_never_uses_a_snapshot_above_it(store: el.EventStore) -> None:
    await account_with_history(store, 1, 2, 4, 8)
    await save_snapshot_at(store, 5)
    accounts = el.Repository(store, Account, snapshot_every=100)
    account = await accounts.load("acc-1", version=3)
    assert (account.version, account.balance) == (3, Decimal(3))
    assert accounts.statistics.snapshots_used == 0
    assert accounts.statistics.snapshots_ignored == 0
    assert accounts.statistics.events_read == 3


async def test_a_load_at_a_version_writes_no_snapshot(store: el.EventStore) -> None:
    await account_with_history(store, 1, 2, 4, 8)
    accounts = el.Repository(store, Account, snapshot_every=2)
    await accounts.load("acc-1", version=4)
    assert await store.load_snapshot("acc-1") is None
    assert accounts.statistics.snapshots_saved == 0


async def test_saving_an_aggregate_loaded_at_a_past_version_fails_as_a_stale_save(
    store: el.EventStore,
) -> None:
    await account_with_history(store, 1, 2)
    accounts = el.Repository(store, Account)
    account = await accounts.load("acc-1", version=2)
    account.deposit(Decimal(5))
    with pytest.raises(el.ConcurrencyError) as raised:
        await accounts.save(account)
    assert (raised.value.expected, raised.value.actual) == (2, 3)


async def recorded_times(store: el.EventStore) -> list[datetime]:
    return [recorded.recorded_at async for recorded in store.read_stream("acc-1")]


async def append_one_by_one(store: el.EventStore, count: int) -> list[datetime]:
    """acc-1 opened, then ``count`` deposits of 1, 2, 4, ... each in its own append; their times."""
    await store.append("acc-1", [AccountOpened(owner="ada", at=OPENED_AT)], expected_version=el.NO_STREAM)
    for index in range(count):
        # Apart in time, so that each event's recorded time is its own.
        await asyncio.sleep(0.002)
        await store.append("acc-1", deposits(2**index), expected_version=index + 1)
    times = await recorded_times(store)
    assert times == sorted(set(times)), "each append is recorded at a later time than the one before"
    return times


async def test_a_load_as_of_a_moment_gives_the_state_of_the_events_recorded_until_then(
    store: el.EventStore,
) -> None:
    times = await append_one_by_one(store, 3)
    accounts = el.Repository(store, Account)
    at_second = await accounts.load("acc-1", as_of=times[1])
    between = await accounts.load("acc-1", as_of=times[2] - (times[2] - times[1]) / 2)
    assert (at_second.version, at_second.balance) == (2, Decimal(1))
    assert (between.version, between.balance) == (2, Decimal(1))


async def test_a_load_as_of_a_moment_after_the_last_event_equals_a_plain_load(store: el.EventStore) -> None:
    times = await append_one_by_one(store, 2)
    accounts = el.Repository(store, Account)
    assert await accounts.load("acc-1", as_of=times[-1] + timedelta(days=1)) == await accounts.load("acc-1")


async def test_a_load_as_of_a_moment_takes_any_timezone(store: el.EventStore) -> None:
    times = await append_one_by_one(store, 2)
    elsewhere = times[1].astimezone(timezone(timedelta(hours=-5)))
    account = await el.Repository(store, Account).load("acc-1", as_of=elsewhere)
    assert account.version == 2


async def test_a_load_as_of_a_moment_before_the_first_event_raises_aggregate_not_found(
    store: el.EventStore,
) -> None:
    times = await append_one_by_one(store, 1)
    before = times[0] - timedelta(microseconds=1)
    with pytest.raises(el.AggregateNotFound) as raised:
        await el.Repository(store, Account).load("acc-1", as_of=before)
    assert raised.value.__notes__ == [
        f"no event of the stream was recorded at or before {before.isoformat()}"
    ]


async def test_a_load_as_of_a_moment_does_not_start_from_a_snapshot(store: el.EventStore) -> None:
    times = await append_one_by_one(store, 3)
    await save_snapshot_at(store, 2)
    accounts = el.Repository(store, Account, snapshot_every=100)
    account = await accounts.load("acc-1", as_of=times[2])
    assert (account.version, account.balance) == (3, Decimal(3))
    assert (accounts.statistics.snapshots_used, accounts.statistics.events_read) == (0, 3)


@pytest.mark.parametrize("as_of", [datetime(2024, 5, 1), "2024-05-01T00:00:00+00:00", 1714521600])
async def test_a_moment_must_be_a_timezone_aware_datetime(store: el.EventStore, as_of: object) -> None:
    with pytest.raises(el.InvalidArgument, match="as_of must be a timezone-aware datetime"):
        await el.Repository(store, Account).load("acc-1", as_of=as_of)  # type: ignore[arg-type]


async def test_a_load_as_of_a_moment_stops_at_the_first_event_recorded_later() -> None:
    # On PostgreSQL an event's time is its transaction's start, so a later version can carry an
    # earlier time. The state as of a moment is then the prefix up to the first later event,
    # never a state built by skipping it (that state never existed).
    store = MemoryEventStore()
    start = datetime(2024, 6, 1, tzinfo=UTC)
    history = [
        (AccountOpened(owner="ada", at=OPENED_AT), start),
        (Deposited(amount=Decimal(1)), start + timedelta(seconds=10)),
        (Deposited(amount=Decimal(2)), start + timedelta(seconds=5)),
    ]
    for version, (event, moment) in enumerate(history, start=1):
        encoded = encode_event("acc-1", event)
        store.insert_stored_event(
            StoredEvent(version, "acc-1", version, uuid.uuid4(), encoded.type, 1, encoded.data, None, moment)
        )
    account = await el.Repository(store, Account).load("acc-1", as_of=start + timedelta(seconds=7))
    assert (account.version, account.balance) == (1, Decimal(0))
