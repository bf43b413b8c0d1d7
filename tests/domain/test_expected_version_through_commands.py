"""A version the caller saw (an HTTP If-Match) passed through a command: checked once, never retried.

CommandHandler.handle, Repository.update and UnitOfWork.load take ``expected_version``; a stream
that moved on raises ConcurrencyError naming the stream, the expected and the actual version,
and nothing is decided or written. Without it, conflicts are retried as before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from accounts import Account
from examples.orders.domain import ConfirmOrder, OrderCommand, OrderEvent, OrderState, order_decider
from order_fixtures import cancelled, created

import eventledger as el
from eventledger.domain import NO_RETRY, UnitOfWork

OPENED_AT = datetime(2024, 5, 1, tzinfo=UTC)


async def test_handle_at_the_current_version_appends_and_gives_the_new_version(store: el.EventStore) -> None:
    await store.append("order-1", [created()], expected_version=el.NO_STREAM)
    handler = el.CommandHandler(store, order_decider)
    result = await handler.handle("order-1", ConfirmOrder(order_id="order-1"), expected_version=1)
    assert (result.version, await store.stream_version("order-1")) == (2, 2)


async def test_handle_with_a_stale_version_raises_without_deciding_or_retrying(store: el.EventStore) -> None:
    await store.append("order-1", [created()], expected_version=el.NO_STREAM)
    decided: list[object] = []

    def decide(command: object, state: object) -> list[OrderEvent]:
        decided.append(command)
        return []

    spying = el.Decider(order_decider.initial_state, order_decider.evolve, decide)
    handler = el.CommandHandler(store, spying, retry=el.RetryPolicy(attempts=5, first_delay=0.001))
    with pytest.raises(el.ConcurrencyError) as raised:
        await handler.handle("order-1", ConfirmOrder(order_id="order-1"), expected_version=3)
    assert (raised.value.stream_id, raised.value.expected, raised.value.actual) == ("order-1", 3, 1)
    assert decided == []
    assert handler.conflicts == 1


async def test_handle_expecting_no_stream_refuses_a_stream_that_exists(store: el.EventStore) -> None:
    await store.append("order-1", [created()], expected_version=el.NO_STREAM)
    with pytest.raises(el.ConcurrencyError, match=r"expected version no stream \(0\), actual version 1"):
        await el.CommandHandler(store, order_decider).handle(
            "order-1", ConfirmOrder(order_id="order-1"), expected_version=el.NO_STREAM
        )


async def test_handle_refuses_an_expected_version_that_is_not_one(store: el.EventStore) -> None:
    with pytest.raises(el.InvalidArgument, match="order-1"):
        await el.CommandHandler(store, order_decider).handle(
            "order-1",
            ConfirmOrder(order_id="order-1"),
            expected_version=-2,
        )


async def test_a_writer_between_the_check_and_the_append_is_refused_not_retried(store: el.EventStore) -> None:
    await store.append("order-1", [created()], expected_version=el.NO_STREAM)

    class Interleaved(el.CommandHandler[OrderCommand, OrderState, OrderEvent]):
        async def load(self, stream_id: str) -> tuple[OrderState, int]:
            loaded = await super().load(stream_id)
            await store.append(stream_id, [cancelled()], expected_version=el.ANY)  # another writer
            return loaded

    handler = Interleaved(store, order_decider, retry=el.RetryPolicy(attempts=5, first_delay=0.001))
    with pytest.raises(el.ConcurrencyError) as raised:
        await handler.handle("order-1", ConfirmOrder(order_id="order-1"), expected_version=1)
    assert (raised.value.expected, raised.value.actual) == (1, 2)
    assert await store.stream_version("order-1") == 2


async def saved_account(store: el.EventStore) -> el.Repository[Account]:
    accounts = el.Repository(store, Account, retry=el.RetryPolicy(attempts=5, first_delay=0.001))
    account = Account.open("acc-1", "ada", OPENED_AT)
    account.deposit(Decimal(10))
    await accounts.save(account)  # version 2
    return accounts


async def test_repository_update_at_the_current_version_saves(store: el.EventStore) -> None:
    accounts = await saved_account(store)
    account = await accounts.update("acc-1", lambda account: account.withdraw(Decimal(3)), expected_version=2)
    assert account.version == 3


async def test_repository_update_at_a_stale_version_raises_and_saves_nothing(store: el.EventStore) -> None:
    accounts = await saved_account(store)
    with pytest.raises(el.ConcurrencyError) as raised:
        await accounts.update("acc-1", lambda account: account.withdraw(Decimal(3)), expected_version=1)
    assert (raised.value.stream_id, raised.value.expected, raised.value.actual) == ("acc-1", 1, 2)
    assert accounts.statistics.loads == 1
    assert await store.stream_version("acc-1") == 2


async def test_a_unit_of_work_load_at_a_stale_version_raises(store: el.EventStore) -> None:
    accounts = await saved_account(store)

    async def withdraw(work: UnitOfWork) -> None:
        account = await work.load(accounts, "acc-1", expected_version=1)
        account.withdraw(Decimal(3))

    with pytest.raises(el.ConcurrencyError, match="expected version 1, actual version 2"):
        await UnitOfWork.run(store, withdraw, retry=NO_RETRY)
    assert await store.stream_version("acc-1") == 2


async def test_a_unit_of_work_load_at_the_current_version_commits(store: el.EventStore) -> None:
    accounts = await saved_account(store)
    work = UnitOfWork(store)
    (await work.load(accounts, "acc-1", expected_version=2)).withdraw(Decimal(3))
    [result] = await work.commit()
    assert result.version == 3
