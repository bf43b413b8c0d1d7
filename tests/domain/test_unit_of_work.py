"""UnitOfWork: several aggregates saved in one atomic append, and decisions retried as a whole."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from accounts import Account, Deposited, Withdrawn
from examples.orders.domain import Order, OrderStatus
from order_fixtures import ITEMS, created

import eventledger as el
from backends import Backend
from eventledger.domain import UnitOfWork
from eventledger.store.memory import MemoryEventStore

OPENED_AT = datetime(2024, 5, 1, tzinfo=UTC)
FAST_RETRY = el.RetryPolicy(attempts=3, first_delay=0.001)


async def types_in(store: el.EventStore, stream_id: str) -> list[type[el.Event]]:
    return [type(recorded.event) async for recorded in store.read_stream(stream_id)]


async def open_accounts(store: el.EventStore, *balances: int) -> el.Repository[Account]:
    """acc-1, acc-2, ... opened with the given balances (version 2 each, 1 when the balance is 0)."""
    accounts = el.Repository(store, Account)
    for number, balance in enumerate(balances, start=1):
        account = Account.open(f"acc-{number}", "ada", OPENED_AT)
        if balance:
            account.deposit(Decimal(balance))
        await accounts.save(account)
    return accounts


async def test_commit_saves_the_changed_aggregates_of_several_types_in_one_append(
    store: el.EventStore,
) -> None:
    accounts = await open_accounts(store, 10)
    orders = el.Repository(store, Order)
    appends: list[int] = []
    store.add_append_observer(lambda events, _seconds, _conflicted: appends.append(events))
    work = UnitOfWork(store)
    account = await work.load(accounts, "acc-1")
    account.withdraw(Decimal(3))
    work.add(orders, Order.create("order-1", ITEMS))
    results = await work.commit()
    assert [(result.stream_id, result.version) for result in results] == [("acc-1", 3), ("order-1", 1)]
    assert appends == [2]
    assert (await types_in(store, "acc-1"))[-1] is Withdrawn
    assert [recorded.event async for recorded in store.read_stream("order-1")] == [created()]
    assert account.uncommitted_events == ()


async def test_loading_an_aggregate_twice_gives_the_same_object(store: el.EventStore) -> None:
    accounts = await open_accounts(store, 10)
    work = UnitOfWork(store)
    first = await work.load(accounts, "acc-1")
    first.withdraw(Decimal(4))
    again = await work.load(accounts, "acc-1")
    assert again is first
    assert again.balance == Decimal(6)


async def test_loads_of_one_aggregate_running_at_once_give_one_object(store: el.EventStore) -> None:
    accounts = await open_accounts(store, 10)
    work = UnitOfWork(store)
    first, second = await asyncio.gather(work.load(accounts, "acc-1"), work.load(accounts, "acc-1"))
    assert first is second
    assert work.aggregates == (first,)


async def test_find_gives_none_for_a_stream_with_no_events_and_the_aggregate_otherwise(
    store: el.EventStore,
) -> None:
    accounts = await open_accounts(store, 10)
    work = UnitOfWork(store)
    assert await work.find(accounts, "acc-404") is None
    assert await work.find(accounts, "acc-1") is await work.load(accounts, "acc-1")


async def test_an_added_new_aggregate_is_saved_expecting_no_stream(store: el.EventStore) -> None:
    accounts = await open_accounts(store, 10)
    work = UnitOfWork(store)
    (await work.load(accounts, "acc-1")).withdraw(Decimal(1))
    work.add(accounts, Account.open("acc-1-copy", "bob", OPENED_AT))
    work.add(el.Repository(store, Order), Order.create("order-1", ITEMS))
    await store.append("order-1", [created()], expected_version=el.NO_STREAM)
    with pytest.raises(el.ConcurrencyError) as raised:
        await work.commit()
    assert raised.value.conflicts == (("order-1", 0, 1),)
    assert "expected version no stream (0), actual version 1" in str(raised.value)
    assert await types_in(store, "acc-1-copy") == []


async def test_a_stale_aggregate_among_several_writes_nothing_and_is_named(
    rival: el.EventStore, store: el.EventStore
) -> None:
    accounts = await open_accounts(store, 10, 10, 10)
    work = UnitOfWork(store)
    loaded = [await work.load(accounts, f"acc-{number}") for number in (1, 2, 3)]
    await rival.append("acc-2", [Deposited(amount=Decimal(1))], expected_version=2)
    for account in loaded:
        account.deposit(Decimal(5))
    head = await store.head_position()
    with pytest.raises(el.ConcurrencyError) as raised:
        await work.commit()
    assert raised.value.conflicts == (("acc-2", 2, 3),)
    assert await store.head_position() == head
    assert [len(await types_in(store, f"acc-{number}")) for number in (1, 2, 3)] == [2, 3, 2]
    assert [len(account.uncommitted_events) for account in loaded] == [1, 1, 1]


async def test_every_stale_aggregate_is_named(rival: el.EventStore, store: el.EventStore) -> None:
    accounts = await open_accounts(store, 10, 10, 10)
    work = UnitOfWork(store)
    loaded = [await work.load(accounts, f"acc-{number}") for number in (1, 2, 3)]
    for stream_id in ("acc-1", "acc-3"):
        await rival.append(stream_id, [Deposited(amount=Decimal(1))], expected_version=2)
    for account in loaded:
        account.deposit(Decimal(5))
    with pytest.raises(el.ConcurrencyError) as raised:
        await work.commit()
    assert sorted(raised.value.conflicts) == [("acc-1", 2, 3), ("acc-3", 2, 3)]


async def test_a_unit_of_work_with_nothing_changed_writes_nothing(store: el.EventStore) -> None:
    accounts = await open_accounts(store, 10, 10)
    appends: list[int] = []
    store.add_append_observer(lambda events, _seconds, _conflicted: appends.append(events))
    work = UnitOfWork(store)
    await work.load(accounts, "acc-1")
    await work.load(accounts, "acc-2")
    assert await work.commit() == []
    assert appends == []


async def test_only_the_changed_aggregates_are_written(rival: el.EventStore, store: el.EventStore) -> None:
    accounts = await open_accounts(store, 10, 10)
    work = UnitOfWork(store)
    read_only = await work.load(accounts, "acc-1")
    changed = await work.load(accounts, "acc-2")
    await rival.append("acc-1", [Deposited(amount=Decimal(1))], expected_version=2)
    changed.deposit(Decimal(1))
    [result] = await work.commit()
    assert (result.stream_id, result.version, read_only.version) == ("acc-2", 3, 2)


async def test_metadata_is_stored_with_every_event_of_the_commit(store: el.EventStore) -> None:
    accounts = await open_accounts(store, 10, 0)
    work = UnitOfWork(store, metadata={"correlation_id": "c-1", "causation_id": "cmd-7"})
    (await work.load(accounts, "acc-1")).withdraw(Decimal(4))
    (await work.load(accounts, "acc-2")).deposit(Decimal(4))
    await work.commit()
    withdrawal = [recorded async for recorded in store.read_stream("acc-1", from_version=3)]
    deposit = [recorded async for recorded in store.read_stream("acc-2", from_version=2)]
    assert [(r.correlation_id, r.causation_id) for r in withdrawal + deposit] == [("c-1", "cmd-7")] * 2


async def test_a_unit_of_work_can_commit_again_after_a_commit(store: el.EventStore) -> None:
    accounts = await open_accounts(store, 10)
    work = UnitOfWork(store)
    account = await work.load(accounts, "acc-1")
    account.withdraw(Decimal(1))
    await work.commit()
    account.withdraw(Decimal(1))
    [result] = await work.commit()
    assert (result.version, account.balance) == (4, Decimal(8))


async def test_snapshots_follow_each_repositorys_snapshot_every_after_the_commit(
    store: el.EventStore,
) -> None:
    accounts = el.Repository(store, Account, snapshot_every=3)
    orders = el.Repository(store, Order)
    await accounts.save(Account.open("acc-1", "ada", OPENED_AT))
    work = UnitOfWork(store)
    account = await work.load(accounts, "acc-1")
    account.deposit(Decimal(1))
    account.deposit(Decimal(2))
    work.add(orders, Order.create("order-1", ITEMS))
    await work.commit()
    snapshot = await store.load_snapshot("acc-1")
    assert snapshot is not None
    assert (snapshot.version, snapshot.state["balance"]) == (3, "3")
    assert await store.load_snapshot("order-1") is None
    saves = (accounts.statistics.saves, accounts.statistics.snapshots_saved, orders.statistics.saves)
    assert saves == (2, 1, 1)


async def test_adding_another_object_for_a_held_stream_is_refused(store: el.EventStore) -> None:
    accounts = await open_accounts(store, 10)
    work = UnitOfWork(store)
    await work.load(accounts, "acc-1")
    with pytest.raises(el.InvalidArgument, match="already holds another object for stream 'acc-1'"):
        work.add(accounts, Account.open("acc-1", "eve", OPENED_AT))


async def test_loading_a_held_stream_as_another_type_is_refused(store: el.EventStore) -> None:
    accounts = await open_accounts(store, 10)
    work = UnitOfWork(store)
    await work.load(accounts, "acc-1")
    with pytest.raises(
        el.InvalidArgument, match="'acc-1' is held in this unit of work as Account, not Order"
    ):
        await work.load(el.Repository(store, Order), "acc-1")


async def test_a_repository_on_another_store_is_refused(store: el.EventStore) -> None:
    elsewhere = el.Repository(MemoryEventStore(), Account)
    with pytest.raises(el.InvalidArgument, match="on another store than this unit of work"):
        await UnitOfWork(store).load(elsewhere, "acc-1")


async def test_adding_an_aggregate_its_repository_does_not_save_is_refused(store: el.EventStore) -> None:
    with pytest.raises(el.InvalidArgument, match="this repository saves Order, not Account"):
        UnitOfWork(store).add(el.Repository(store, Order), Account.open("acc-1", "ada", OPENED_AT))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- run


async def test_run_commits_the_decision_and_returns_its_outcome(store: el.EventStore) -> None:
    accounts = await open_accounts(store, 10, 0)

    async def move(work: UnitOfWork) -> Decimal:
        source, target = await work.load(accounts, "acc-1"), await work.load(accounts, "acc-2")
        source.withdraw(Decimal(4))
        target.deposit(Decimal(4))
        return source.balance

    assert await UnitOfWork.run(store, move, metadata={"correlation_id": "c-2"}) == Decimal(6)
    reloaded = [await accounts.load(f"acc-{number}") for number in (1, 2)]
    assert [account.balance for account in reloaded] == [Decimal(6), Decimal(4)]
    last = [recorded async for recorded in store.read_stream("acc-2", backwards=True, limit=1)]
    assert last[0].correlation_id == "c-2"


async def test_run_reloads_every_aggregate_and_decides_again_after_a_conflict(
    rival: el.EventStore, store: el.EventStore
) -> None:
    accounts = await open_accounts(store, 10, 0)
    seen: list[tuple[Account, Account]] = []

    async def move(work: UnitOfWork) -> None:
        source, target = await work.load(accounts, "acc-1"), await work.load(accounts, "acc-2")
        seen.append((source, target))
        if len(seen) == 1:
            # Another writer moves the source on between this decision's loads and its commit.
            await rival.append("acc-1", [Withdrawn(amount=Decimal(7))], expected_version=2)
        source.withdraw(Decimal(3))
        target.deposit(Decimal(3))

    await UnitOfWork.run(store, move, retry=FAST_RETRY)
    (first_source, first_target), (second_source, second_target) = seen
    assert second_source is not first_source and second_target is not first_target
    assert (second_source.version, second_target.version) == (4, 2)
    assert (await accounts.load("acc-1")).balance == Decimal(0)
    assert (await accounts.load("acc-2")).balance == Decimal(3)
    assert accounts.statistics.conflicts == 1


async def test_run_does_not_retry_a_broken_rule_and_writes_nothing(store: el.EventStore) -> None:
    accounts = await open_accounts(store, 10, 0)
    calls = 0

    async def overdraw(work: UnitOfWork) -> None:
        nonlocal calls
        calls += 1
        (await work.load(accounts, "acc-2")).deposit(Decimal(50))
        (await work.load(accounts, "acc-1")).withdraw(Decimal(50))

    head = await store.head_position()
    with pytest.raises(el.DomainError, match="insufficient funds"):
        await UnitOfWork.run(store, overdraw, retry=FAST_RETRY)
    assert calls == 1
    assert await store.head_position() == head


async def test_run_decides_again_when_a_rule_broke_on_a_stream_that_moved_since_its_load(
    rival: el.EventStore, store: el.EventStore
) -> None:
    """A refusal judged on a mixed view (one stream read before another writer's commit, another
    after) is not final: the decision runs again on fresh loads."""
    accounts = await open_accounts(store, 10, 0)
    calls = 0

    async def move_all(work: UnitOfWork) -> None:
        nonlocal calls
        calls += 1
        source = await work.load(accounts, "acc-1")
        if calls == 1:
            # A deposit lands after the source was read: this attempt sees a balance of 10.
            await rival.append("acc-1", [Deposited(amount=Decimal(40))], expected_version=2)
        source.withdraw(Decimal(50))
        (await work.load(accounts, "acc-2")).deposit(Decimal(50))

    await UnitOfWork.run(store, move_all, retry=FAST_RETRY)
    assert calls == 2
    assert [(await accounts.load(stream)).balance for stream in ("acc-1", "acc-2")] == [0, 50]
    assert accounts.statistics.conflicts == 1


async def test_run_gives_up_after_the_last_attempt_naming_every_stream(
    rival: el.EventStore, store: el.EventStore
) -> None:
    accounts = await open_accounts(store, 10, 10)
    attempts = 0

    async def always_overtaken(work: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        loaded = [await work.load(accounts, stream_id) for stream_id in ("acc-1", "acc-2")]
        for account in loaded:
            await rival.append(account.id, [Deposited(amount=Decimal(1))], expected_version=el.ANY)
            account.deposit(Decimal(1))

    with pytest.raises(el.ConcurrencyError) as raised:
        await UnitOfWork.run(store, always_overtaken, retry=FAST_RETRY)
    assert attempts == 3
    assert sorted(stream for stream, _, _ in raised.value.conflicts) == ["acc-1", "acc-2"]
    assert raised.value.__notes__ == ["gave up after 3 attempt(s) on streams 'acc-1', 'acc-2'"]
    assert accounts.statistics.conflicts == 3


async def test_a_conflict_counts_in_the_repository_whose_stream_conflicted(
    rival: el.EventStore, store: el.EventStore
) -> None:
    accounts = await open_accounts(store, 10)
    orders = el.Repository(store, Order)
    await orders.save(Order.create("order-1", ITEMS))
    attempts = 0

    async def confirm_and_charge(work: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        order = await work.load(orders, "order-1")
        (await work.load(accounts, "acc-1")).withdraw(Decimal(1))
        if attempts == 1:
            await rival.append("order-1", [created()], expected_version=1)
        order.cancel("paid elsewhere")

    await UnitOfWork.run(store, confirm_and_charge, retry=FAST_RETRY)
    assert (orders.statistics.conflicts, accounts.statistics.conflicts) == (1, 0)
    assert (await orders.load("order-1")).status is OrderStatus.CANCELLED


# ------------------------------------------------------------------------------- a race


def transfer(
    accounts: el.Repository[Account], source: str, target: str, amount: Decimal
) -> Callable[[UnitOfWork], Awaitable[None]]:
    """The decision of one transfer: withdraw from ``source``, deposit into ``target``."""

    async def move(work: UnitOfWork) -> None:
        paying, receiving = await work.load(accounts, source), await work.load(accounts, target)
        # A decision may await other things (a service, a clock) between loading and deciding;
        # here other transfers run meanwhile, on every backend.
        await asyncio.sleep(0)
        paying.withdraw(amount)
        receiving.deposit(amount)

    return move


async def test_concurrent_transfers_on_their_own_connections_never_create_or_lose_money(
    backend: Backend, store: el.EventStore
) -> None:
    """8 tasks, each on its own store (its own connection on SQLite and PostgreSQL), move money
    among 3 accounts at once; every transfer is a withdrawal and a deposit in one commit."""
    await open_accounts(store, 1000, 1000, 1000)
    tasks, transfers_each = 8, 6
    outcomes: list[str] = []

    async def worker(number: int) -> int:
        own_store = await backend.open()
        accounts = el.Repository(own_store, Account)
        conflicts_before = accounts.statistics.conflicts
        for index in range(transfers_each):
            source, target = f"acc-{(number + index) % 3 + 1}", f"acc-{(number + index + 1) % 3 + 1}"

            try:
                await UnitOfWork.run(
                    own_store,
                    transfer(accounts, source, target, Decimal(number + 1)),
                    retry=el.RetryPolicy(attempts=100, first_delay=0.001, max_delay=0.02),
                    metadata={"correlation_id": f"transfer-{number}-{index}"},
                )
                outcomes.append("done")
            except el.ConcurrencyError:
                outcomes.append("gave up")
        return accounts.statistics.conflicts - conflicts_before

    conflicts = await asyncio.gather(*(worker(number) for number in range(tasks)))
    accounts = el.Repository(store, Account)
    balances = [(await accounts.load(f"acc-{number}")).balance for number in (1, 2, 3)]
    assert sum(balances) == Decimal(3000)
    # Every committed transfer wrote both halves: each correlation id has one withdrawal and
    # one deposit, never one without the other.
    halves: dict[str, list[type[el.Event]]] = {}
    async for recorded in store.read_all():
        if recorded.correlation_id is not None:
            halves.setdefault(recorded.correlation_id, []).append(type(recorded.event))
    assert all(
        sorted(kinds, key=lambda kind: kind.__name__) == [Deposited, Withdrawn] for kinds in halves.values()
    )
    assert len(halves) == outcomes.count("done") > 0
    print(f"{backend.name}: {outcomes.count('done')} transfers, {sum(conflicts)} conflicts retried")
