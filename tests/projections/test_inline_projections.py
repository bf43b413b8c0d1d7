"""Inline projections: the read model is written in the append's own transaction, exactly once.

Each test runs on SQLite (the store's file holds the read model) and on PostgreSQL (the store's
schema does). The ledger read model reveals a lost or doubled event (increments, and a row per
applied event without a key), so "equals a replay of the log" is the whole of exactly-once.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from inline_rig import AppenderProcess, InlineRig, make_inline_rig
from projection_rig import Deposited, Faults, SQLLedger, Withdrawn, expected_view, ledger_view

import eventledger as el
from eventledger.errors import InvalidArgument
from eventledger.events import EncodedEvent
from eventledger.projections import ProjectionState, SQLiteTarget, stored_status
from eventledger.projections.inline import PAGE, InlineProjectionFailed, InlineProjections, run_inline
from eventledger.store.appends import EncodedAppend, encode_requests
from eventledger.store.postgres_many import append_in_transaction


@pytest.fixture(params=["sqlite", "postgres"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InlineRig]:
    async for made in make_inline_rig(request.param, tmp_path):
        yield made


class LedgerV2(SQLLedger, name="ledger", version=2):
    """The ledger at a raised schema version: same handlers, built anew beside version 1."""


async def appliers_in_log_order(rig: InlineRig) -> list[str]:
    """Which writer applied each event of the ledger, in the log's order."""
    target = rig.target()
    async with target.read() as sql:
        rows = await sql.fetch_all(f"SELECT runner FROM {sql.table('applied')} ORDER BY position")
    return [str(row[0]) for row in rows]


async def deposit(store: el.EventStore, account: str, amount: int) -> None:
    await store.append(account, [Deposited(account=account, amount=amount)], expected_version=el.ANY)


async def test_the_read_model_has_an_append_when_the_append_returns(rig: InlineRig) -> None:
    ledger = rig.ledger()
    await run_inline(rig.store, ledger)

    await rig.store.append("acct-1", [Deposited(account="acct-1", amount=5)], expected_version=0)

    view = await ledger_view(ledger.target)
    assert view.balances == {"acct-1": (5, 1)}


async def test_a_multi_stream_append_is_applied_whole_in_its_transaction(rig: InlineRig) -> None:
    ledger = rig.ledger()
    await run_inline(rig.store, ledger)

    await rig.store.append_many(
        [
            el.AppendRequest("acct-1", [Withdrawn(account="acct-1", amount=3)], el.NO_STREAM),
            el.AppendRequest("acct-2", [Deposited(account="acct-2", amount=3)], el.NO_STREAM),
        ]
    )

    assert await ledger_view(ledger.target) == await expected_view(rig.store)
    assert (await ledger_view(ledger.target)).balances == {"acct-1": (-3, 1), "acct-2": (3, 1)}


async def test_history_appended_before_going_inline_is_applied_first(rig: InlineRig) -> None:
    for amount in range(1, 6):
        await deposit(rig.store, "acct-1", amount)
    ledger = rig.ledger()

    await run_inline(rig.store, ledger)
    await rig.store.append("acct-2", [Deposited(account="acct-2", amount=7)], expected_version=0)

    assert await ledger_view(ledger.target) == await expected_view(rig.store)


async def test_a_handler_that_raises_rolls_the_append_back_and_names_the_event(rig: InlineRig) -> None:
    faults = Faults()
    ledger = rig.ledger(faults=faults)
    await run_inline(rig.store, ledger)
    await rig.store.append("acct-1", [Deposited(account="acct-1", amount=1)], expected_version=0)
    faults.refuse(13)

    with pytest.raises(InlineProjectionFailed) as raised:
        await rig.store.append("acct-1", [Deposited(account="acct-1", amount=13)], expected_version=1)

    assert raised.value.projection == "ledger"
    assert raised.value.event_type == "test.projections.deposited"
    assert raised.value.stream_id == "acct-1"
    assert raised.value.position > 1
    assert isinstance(raised.value, el.EventLedgerError)
    assert await rig.store.stream_version("acct-1") == 1
    assert (await ledger_view(ledger.target)).balances == {"acct-1": (1, 1)}


async def test_an_event_no_class_decodes_fails_the_inline_append_naming_it(rig: InlineRig) -> None:
    ledger = rig.ledger()
    await run_inline(rig.store, ledger)
    other: Any = await rig.open_store()
    vanished = EncodedEvent("test.inline.vanished", 1, '{"what": 1}')
    foreign = [EncodedAppend("foreign-1", [vanished], el.ANY, None)]
    async with other.writing_transaction() as connection:
        if rig.kind == "sqlite":
            other.append_in_transaction(connection, foreign)
        else:
            await append_in_transaction(connection, other._statements, foreign)

    with pytest.raises(InlineProjectionFailed) as raised:
        await deposit(rig.store, "acct-1", 1)

    assert (raised.value.event_type, raised.value.stream_id) == ("test.inline.vanished", "foreign-1")
    assert await rig.store.stream_version("acct-1") == 0


async def test_after_a_refused_append_the_next_append_goes_through(rig: InlineRig) -> None:
    faults = Faults()
    ledger = rig.ledger(faults=faults)
    await run_inline(rig.store, ledger)
    faults.refuse(13)
    with pytest.raises(InlineProjectionFailed):
        await rig.store.append("acct-1", [Deposited(account="acct-1", amount=13)], expected_version=0)
    faults.heal()

    await rig.store.append("acct-1", [Deposited(account="acct-1", amount=2)], expected_version=0)

    assert await ledger_view(ledger.target) == await expected_view(rig.store)


async def test_a_conflicting_append_writes_nothing_to_the_read_model(rig: InlineRig) -> None:
    ledger = rig.ledger()
    await run_inline(rig.store, ledger)
    await rig.store.append("acct-1", [Deposited(account="acct-1", amount=1)], expected_version=0)

    with pytest.raises(el.ConcurrencyError):
        await rig.store.append("acct-1", [Deposited(account="acct-1", amount=2)], expected_version=0)

    assert (await ledger_view(ledger.target)).balances == {"acct-1": (1, 1)}


async def test_events_of_a_writer_without_the_projection_are_applied_by_the_next_inline_append(
    rig: InlineRig,
) -> None:
    ledger = rig.ledger()
    await run_inline(rig.store, ledger)
    plain = await rig.open_store()
    for amount in range(1, 8):
        await deposit(plain, f"acct-{amount % 3}", amount)

    await rig.store.append("acct-9", [Deposited(account="acct-9", amount=100)], expected_version=0)

    assert await ledger_view(ledger.target) == await expected_view(rig.store)


async def test_an_inline_append_waits_for_an_open_event_writer_and_then_applies_its_events_first(
    rig: InlineRig,
) -> None:
    ledger = rig.ledger()
    await run_inline(rig.store, ledger)
    other: Any = await rig.open_store()
    request = el.AppendRequest("acct-1", [Deposited(account="acct-1", amount=1)], el.NO_STREAM)
    encoded = encode_requests([request])
    async with other.writing_transaction() as connection:
        if rig.kind == "sqlite":
            other.append_in_transaction(connection, encoded)
        else:
            await append_in_transaction(connection, other._statements, encoded)
        inline = asyncio.create_task(deposit(rig.store, "acct-2", 2))
        await asyncio.sleep(0.2)
        assert not inline.done()  # it waits for the writer (were it not to, the next check fails)
    await inline

    await deposit(rig.store, "acct-3", 3)

    assert await ledger_view(ledger.target) == await expected_view(rig.store)
    assert await appliers_in_log_order(rig) == ["", "", ""]


async def test_a_backlog_longer_than_a_page_is_applied_whole_by_one_inline_append(rig: InlineRig) -> None:
    ledger = rig.ledger()
    await run_inline(rig.store, ledger)
    plain = await rig.open_store()
    for batch in range(PAGE // 100 + 2):
        amounts = range(batch * 100, batch * 100 + 100)
        deposits = [Deposited(account=f"acct-{amount % 4}", amount=amount) for amount in amounts]
        await plain.append(f"bulk-{batch}", deposits, expected_version=0)

    await deposit(rig.store, "acct-9", 9)

    assert await ledger_view(ledger.target) == await expected_view(rig.store)


async def test_a_runner_applying_the_same_build_meanwhile_doubles_nothing(rig: InlineRig) -> None:
    ledger = rig.ledger()
    await run_inline(rig.store, ledger)
    plain = await rig.open_store()
    runner = el.ProjectionRunner(plain, [rig.ledger("runner")], batch_size=5)
    running = asyncio.create_task(runner.run(handle_signals=False))
    try:
        await runner.wait_until_caught_up()
        for amount in range(1, 121):
            await deposit(plain if amount % 3 == 0 else rig.store, f"acct-{amount % 5}", amount)
            await asyncio.sleep(0.005)  # room for the runner's batches between the appends
    finally:
        runner.stop()
        await running

    await deposit(rig.store, "acct-9", 9)

    view = await ledger_view(ledger.target)
    assert view == await expected_view(rig.store)
    assert view.runners["runner"] > 0  # both applied events to the one build


async def test_the_status_shows_the_projection_inline_and_caught_up(rig: InlineRig) -> None:
    inline = await run_inline(rig.store, rig.ledger())
    await rig.store.append("acct-1", [Deposited(account="acct-1", amount=1)], expected_version=0)

    status = await inline.status()

    assert status.state is ProjectionState.INLINE
    assert status.checkpoint == await rig.store.head_position()
    assert status.lag_events == 0


async def test_another_process_reads_the_projection_as_inline(rig: InlineRig) -> None:
    ledger = rig.ledger()
    await run_inline(rig.store, ledger)
    other = await rig.open_store()

    status = await stored_status(other, rig.ledger())

    assert status.state == "inline"


async def test_a_raised_version_is_rebuilt_beside_the_old_one_then_runs_inline(rig: InlineRig) -> None:
    first = await run_inline(rig.store, rig.ledger())
    for amount in range(1, 6):
        await deposit(rig.store, "acct-1", amount)
    await first.remove()

    ledger = LedgerV2(rig.target())
    second = await run_inline(rig.store, ledger)
    await rig.store.append("acct-2", [Deposited(account="acct-2", amount=9)], expected_version=0)

    assert await ledger_view(ledger.target) == await expected_view(rig.store)
    status = await second.status()
    assert status.version == 2
    assert status.build == 2


async def test_a_rebuild_replaces_the_serving_build_and_stays_inline(rig: InlineRig) -> None:
    ledger = rig.ledger()
    inline = await run_inline(rig.store, ledger)
    for amount in range(1, 6):
        await deposit(rig.store, f"acct-{amount % 2}", amount)

    build = await inline.rebuild()
    await deposit(rig.store, "acct-3", 30)

    assert (await inline.status()).build == build.number == 2
    assert await ledger_view(ledger.target) == await expected_view(rig.store)


async def test_after_remove_appends_no_longer_touch_the_read_model(rig: InlineRig) -> None:
    ledger = rig.ledger()
    inline = await run_inline(rig.store, ledger)
    await inline.remove()

    await rig.store.append("acct-1", [Deposited(account="acct-1", amount=1)], expected_version=0)

    assert rig.store.inline_appender is None
    assert (await ledger_view(ledger.target)).balances == {}


async def test_closing_the_store_closes_the_inline_connection(rig: InlineRig) -> None:
    store = await rig.open_store()
    await run_inline(store, rig.ledger())
    inline = store.inline_appender
    assert isinstance(inline, InlineProjections)
    await store.append("acct-1", [Deposited(account="acct-1", amount=1)], expected_version=0)

    await store.close()

    transactions = inline.backend.transactions  # type: ignore[attr-defined]
    assert (transactions._db if rig.kind == "sqlite" else transactions._connection) is None


async def test_a_read_model_outside_the_store_database_is_refused(rig: InlineRig, tmp_path: Path) -> None:
    elsewhere = SQLLedger(SQLiteTarget(tmp_path / "elsewhere.db"))

    with pytest.raises(InvalidArgument, match="store's own database"):
        await run_inline(rig.store, elsewhere)


async def test_a_memory_store_refuses_inline_projections() -> None:
    async with await el.open_store("memory://") as store:
        with pytest.raises(InvalidArgument, match="SQLite or PostgreSQL store"):
            await run_inline(store, SQLLedger(SQLiteTarget(":memory:")))


async def test_concurrent_inline_writers_leave_the_read_model_equal_to_a_replay(rig: InlineRig) -> None:
    await run_inline(rig.store, rig.ledger())  # the build exists before the writers race for it
    writers = [await AppenderProcess(rig, f"writer-{number}", count=300).start() for number in range(3)]
    try:
        for writer in writers:
            await writer.wait_for("done")
    finally:
        for writer in writers:
            await writer.kill()

    assert await ledger_view(rig.target()) == await expected_view(rig.store)
    # The writers did take turns (or this would prove nothing about racing them).
    appliers = await appliers_in_log_order(rig)
    turns = sum(1 for before, after in itertools.pairwise(appliers) if before != after)
    assert turns >= 3, appliers


async def test_inline_and_plain_writers_together_miss_nothing_once_an_inline_append_follows(
    rig: InlineRig,
) -> None:
    ledger = rig.ledger()
    await run_inline(rig.store, ledger)
    writers = [
        await AppenderProcess(rig, "inline", count=150).start(),
        await AppenderProcess(rig, "plain", count=150, inline=False).start(),
    ]
    try:
        for writer in writers:
            await writer.wait_for("done")
    finally:
        for writer in writers:
            await writer.kill()

    await rig.store.append("acct-9", [Deposited(account="acct-9", amount=1)], expected_version=el.ANY)

    assert await ledger_view(ledger.target) == await expected_view(rig.store)


@pytest.mark.slow
async def test_appenders_killed_mid_append_leave_the_read_model_equal_to_a_replay(rig: InlineRig) -> None:
    seed = random.randrange(1_000_000)
    chance = random.Random(seed)
    await run_inline(rig.store, rig.ledger())
    kills = 12
    for life in range(kills):
        writers = [await AppenderProcess(rig, f"life-{life}-{number}").start() for number in range(2)]
        try:
            for writer in writers:
                await writer.wait_for("appending")
            await asyncio.sleep(chance.uniform(0.02, 0.25))
        finally:
            for writer in writers:
                await writer.kill()

    view = await ledger_view(rig.target())
    assert view == await expected_view(rig.store), f"seed {seed}"
    lives = {runner.rsplit("-", 1)[0] for runner in view.runners if runner.startswith("life-")}
    assert len(lives) >= kills // 2, f"seed {seed}: the killed writers appended too little: {view.runners}"
