"""Repository: load and save aggregates with the loaded version as the expected version."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from accounts import Account, Deposited, Tagged
from examples.orders.domain import Order, OrderStatus
from order_fixtures import ITEMS, confirmed, created

import eventledger as el
from backends import Backend
from eventledger.versioning import UpcasterRegistry, use_upcasters

OPENED_AT = datetime(2024, 5, 1, tzinfo=UTC)


async def stored_events(store: el.EventStore, stream_id: str) -> list[el.Event]:
    return [recorded.event async for recorded in store.read_stream(stream_id)]


async def test_saving_a_new_aggregate_appends_its_events_to_a_new_stream(store: el.EventStore) -> None:
    orders = el.Repository(store, Order)
    order = Order.create("order-1", ITEMS)
    result = await orders.save(order)
    assert (result.stream_id, result.version, len(result.positions)) == ("order-1", 1, 1)
    assert await stored_events(store, "order-1") == [created()]


async def test_a_successful_save_clears_the_uncommitted_events(store: el.EventStore) -> None:
    order = Order.create("order-1", ITEMS)
    await el.Repository(store, Order).save(order)
    assert (order.uncommitted_events, order.version, order.committed_version) == ((), 1, 1)


async def test_loading_rebuilds_the_aggregate_from_its_stored_events(store: el.EventStore) -> None:
    await store.append("order-1", [created(), confirmed()], expected_version=el.NO_STREAM)
    order = await el.Repository(store, Order).load("order-1")
    assert (order.id, order.version, order.status, order.items) == (
        "order-1",
        2,
        OrderStatus.CONFIRMED,
        ITEMS,
    )
    assert order.uncommitted_events == ()


async def test_loading_an_empty_stream_raises_aggregate_not_found(store: el.EventStore) -> None:
    with pytest.raises(el.AggregateNotFound) as raised:
        await el.Repository(store, Order).load("order-404")
    assert (raised.value.stream_id, raised.value.aggregate_type) == ("order-404", "Order")
    assert str(raised.value) == "Order 'order-404' not found: its stream has no events"


async def test_a_save_expects_the_version_the_aggregate_was_loaded_at(store: el.EventStore) -> None:
    orders = el.Repository(store, Order)
    await orders.save(Order.create("order-1", ITEMS))
    first, second = await orders.load("order-1"), await orders.load("order-1")
    first.confirm()
    await orders.save(first)
    second.cancel("changed my mind")
    with pytest.raises(el.ConcurrencyError) as raised:
        await orders.save(second)
    assert (raised.value.stream_id, raised.value.expected, raised.value.actual) == ("order-1", 1, 2)
    assert await stored_events(store, "order-1") == [created(), confirmed()]
    assert len(second.uncommitted_events) == 1


async def test_saving_a_new_aggregate_over_an_existing_stream_raises_concurrency_error(
    store: el.EventStore,
) -> None:
    orders = el.Repository(store, Order)
    await orders.save(Order.create("order-1", ITEMS))
    with pytest.raises(el.ConcurrencyError, match=r"expected version no stream \(0\), actual version 1"):
        await orders.save(Order.create("order-1", ITEMS[:1]))
    assert await stored_events(store, "order-1") == [created()]


async def test_saving_an_aggregate_with_nothing_uncommitted_writes_nothing(store: el.EventStore) -> None:
    orders = el.Repository(store, Order)
    await orders.save(Order.create("order-1", ITEMS))
    order = await orders.load("order-1")
    head = await store.head_position()
    result = await orders.save(order)
    assert (result.version, result.positions) == (1, ())
    assert await store.head_position() == head


async def test_a_repository_saves_only_its_own_aggregate_class(store: el.EventStore) -> None:
    with pytest.raises(TypeError, match="this repository saves Order, not Account"):
        await el.Repository(store, Order).save(Account.open("acc-1", "ada", OPENED_AT))  # type: ignore[arg-type]


async def test_a_repository_needs_an_aggregate_class(store: el.EventStore) -> None:
    with pytest.raises(TypeError, match="Repository needs an Aggregate subclass"):
        el.Repository(store, dict)  # type: ignore[type-var]


async def test_metadata_given_to_save_is_stored_with_every_event(store: el.EventStore) -> None:
    account = Account.open("acc-1", "ada", OPENED_AT)
    account.deposit(Decimal(3))
    await el.Repository(store, Account).save(account, metadata={"correlation_id": "c-1", "user": "ada"})
    recorded = [r async for r in store.read_stream("acc-1")]
    assert [(r.correlation_id, r.metadata["user"]) for r in recorded] == [("c-1", "ada"), ("c-1", "ada")]


async def test_update_loads_runs_the_decision_saves_and_returns_the_aggregate(store: el.EventStore) -> None:
    orders = el.Repository(store, Order)
    await orders.save(Order.create("order-1", ITEMS))
    order = await orders.update("order-1", Order.confirm, metadata={"correlation_id": "c-9"})
    assert (order.status, order.version, order.uncommitted_events) == (OrderStatus.CONFIRMED, 2, ())
    [_, confirmation] = [r async for r in store.read_stream("order-1")]
    assert (confirmation.event, confirmation.correlation_id) == (confirmed(), "c-9")


async def test_update_accepts_an_async_decision(store: el.EventStore) -> None:
    accounts = el.Repository(store, Account)
    await accounts.save(Account.open("acc-1", "ada", OPENED_AT))

    async def deposit(account: Account) -> None:
        account.deposit(Decimal("2.50"))

    account = await accounts.update("acc-1", deposit)
    assert account.balance == Decimal("2.50")


async def test_update_retries_on_a_conflict_from_another_writer_and_decides_on_fresh_state(
    rival: el.EventStore, store: el.EventStore
) -> None:
    accounts = el.Repository(store, Account, retry=el.RetryPolicy(attempts=3, first_delay=0.001))
    await accounts.save(Account.open("acc-1", "ada", OPENED_AT))
    balances_seen: list[Decimal] = []

    async def deposit(account: Account) -> None:
        balances_seen.append(account.balance)
        if len(balances_seen) == 1:
            # Another writer appends between this load and its save.
            await rival.append("acc-1", [Deposited(amount=Decimal(100))], expected_version=1)
        account.deposit(Decimal(1))

    account = await accounts.update("acc-1", deposit)
    assert balances_seen == [Decimal(0), Decimal(100)]
    assert (account.balance, account.version) == (Decimal(101), 3)
    assert accounts.statistics.conflicts == 1
    assert [type(e) for e in await stored_events(store, "acc-1")][1:] == [Deposited, Deposited]


async def test_update_gives_up_after_the_last_attempt_with_the_stream_in_the_error(
    rival: el.EventStore, store: el.EventStore
) -> None:
    accounts = el.Repository(store, Account, retry=el.RetryPolicy(attempts=3, first_delay=0.001))
    await accounts.save(Account.open("acc-1", "ada", OPENED_AT))
    attempts = 0

    async def always_overtaken(account: Account) -> None:
        nonlocal attempts
        attempts += 1
        await rival.append("acc-1", [Tagged(tag=f"rival-{attempts}")], expected_version=el.ANY)
        account.deposit(Decimal(1))

    with pytest.raises(el.ConcurrencyError) as raised:
        await accounts.update("acc-1", always_overtaken)
    assert attempts == 3
    assert raised.value.stream_id == "acc-1"
    assert raised.value.__notes__ == ["gave up after 3 attempt(s) on stream 'acc-1'"]
    assert [type(e) for e in await stored_events(store, "acc-1")][1:] == [Tagged, Tagged, Tagged]


async def test_update_does_not_retry_a_broken_business_rule(store: el.EventStore) -> None:
    orders = el.Repository(store, Order)
    await orders.save(Order.create("order-1", ITEMS))
    await orders.update("order-1", Order.confirm)
    calls = 0

    def confirm_again(order: Order) -> None:
        nonlocal calls
        calls += 1
        order.confirm()

    with pytest.raises(el.DomainError, match=r"^Cannot confirm order 'order-1': it is confirmed"):
        await orders.update("order-1", confirm_again)
    assert calls == 1
    assert len(await stored_events(store, "order-1")) == 2


async def test_update_of_a_missing_aggregate_raises_aggregate_not_found(store: el.EventStore) -> None:
    with pytest.raises(el.AggregateNotFound, match="'order-404'"):
        await el.Repository(store, Order).update("order-404", Order.confirm)


async def test_loading_a_stream_with_a_retired_event_type_raises_unhandled_event(
    backend: Backend, store: el.EventStore
) -> None:
    registry = UpcasterRegistry()
    registry.retire("test.repository.account-audited", reason="audits moved to their own service")
    await el.Repository(store, Account).save(Account.open("acc-1", "ada", OPENED_AT))
    await backend.insert_raw("acc-1", 2, "test.repository.account-audited", 1, '{"by": "eve"}')
    with use_upcasters(registry), pytest.raises(el.UnhandledEvent) as raised:
        await el.Repository(store, Account).load("acc-1")
    error = raised.value
    assert (error.aggregate_id, error.event_type, error.version) == (
        "acc-1",
        "test.repository.account-audited",
        2,
    )
    assert error.retired_reason == "audits moved to their own service"
    assert "a retired type (audits moved to their own service)" in str(error)
