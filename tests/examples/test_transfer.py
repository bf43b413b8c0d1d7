"""The money-transfer example: each transfer's steps, and the sum of all balances under load.

The steps are specified on the memory store. Then transfers are requested from 4 OS processes
at once while the transfer process runs (on SQLite in this process; on PostgreSQL in a child
process that is SIGKILLed and restarted twice), and the audit folds the whole log: the sum of
all balances plus the money in flight is what the accounts were opened with after every commit,
every transfer ended exactly once, and no step was taken twice.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from examples.transfer.__main__ import main
from examples.transfer.audit import Audit, audit
from examples.transfer.clients import close_account, open_accounts
from examples.transfer.domain import (
    Account,
    TransferCompleted,
    TransferDebited,
    TransferRefunded,
    TransferRejected,
    TransferRequested,
    account_stream,
    transfer_stream,
)
from examples.transfer.process import TransferProcess

import eventledger as el

ROOT = Path(__file__).parents[2]
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
WAIT = 120.0


async def balance(store: el.EventStore, account_id: str) -> int:
    return (await el.Repository(store, Account).load(account_stream(account_id))).balance


async def transfer_types(store: el.EventStore, transfer_id: str) -> list[type[el.Event]]:
    return [type(recorded.event) async for recorded in store.read_stream(transfer_stream(transfer_id))]


async def carry_out(store: el.EventStore, *requests: TransferRequested) -> None:
    for request in requests:
        await store.append(transfer_stream(request.transfer_id), [request], expected_version=el.NO_STREAM)
    process = TransferProcess(store)
    await el.ProjectionRunner(store, [process]).run_until_caught_up()


@pytest.fixture
async def bank() -> AsyncIterator[el.EventStore]:
    """A memory store with accounts a000 .. a002, each holding 1000, at most 2000."""
    async with await el.open_store("memory://") as store:
        await open_accounts(store, 3)
        yield store


async def test_a_transfer_between_open_accounts_debits_the_source_and_credits_the_target(
    bank: el.EventStore,
) -> None:
    await carry_out(bank, TransferRequested(transfer_id="t1", source="a000", target="a001", amount=300))
    assert (await balance(bank, "a000"), await balance(bank, "a001")) == (700, 1300)
    assert await transfer_types(bank, "t1") == [TransferRequested, TransferDebited, TransferCompleted]


async def test_a_transfer_the_source_cannot_pay_is_rejected_and_moves_nothing(bank: el.EventStore) -> None:
    await carry_out(bank, TransferRequested(transfer_id="t1", source="a000", target="a001", amount=1001))
    assert (await balance(bank, "a000"), await balance(bank, "a001")) == (1000, 1000)
    assert await transfer_types(bank, "t1") == [TransferRequested, TransferRejected]


async def test_a_transfer_into_a_closed_account_is_refunded_to_the_source(bank: el.EventStore) -> None:
    await close_account(bank, "a001")
    await carry_out(bank, TransferRequested(transfer_id="t1", source="a000", target="a001", amount=300))
    assert (await balance(bank, "a000"), await balance(bank, "a001")) == (1000, 1000)
    assert await transfer_types(bank, "t1") == [TransferRequested, TransferDebited, TransferRefunded]


async def test_a_transfer_that_would_take_the_target_over_its_limit_is_refunded(bank: el.EventStore) -> None:
    await carry_out(
        bank,
        TransferRequested(transfer_id="t1", source="a000", target="a001", amount=900),
        TransferRequested(transfer_id="t2", source="a002", target="a001", amount=200),
    )
    assert [await balance(bank, account) for account in ("a000", "a001", "a002")] == [100, 1900, 1000]
    assert await transfer_types(bank, "t2") == [TransferRequested, TransferDebited, TransferRefunded]


async def test_every_step_of_a_transfer_is_correlated_with_its_request(bank: el.EventStore) -> None:
    await carry_out(bank, TransferRequested(transfer_id="t1", source="a000", target="a001", amount=5))
    steps = [recorded async for recorded in bank.read_all() if "t1" in recorded.event.model_dump_json()]
    requested = steps[0]
    assert isinstance(requested.event, TransferRequested)
    assert len(steps) == 5  # requested; debit and debited; credit and completed
    assert {recorded.correlation_id for recorded in steps[1:]} == {str(requested.event_id)}


def test_the_demo_runs_the_story_and_reports_that_the_sum_never_changed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--accounts", "6", "--transfers", "40", "--clients", "2", "--closing", "1"]) == 0
    printed = capsys.readouterr().out
    assert "2 clients requested 40 transfers; 1 accounts closed midway" in printed
    assert "sum of balances 6000, opened with 6000" in printed and "the sum never changed" in printed


# --------------------------------------------------------------------- under load


class ExampleProcess:
    """``python -m examples.transfer ARGUMENTS`` in an OS process of its own."""

    def __init__(self, *arguments: str) -> None:
        self.arguments = arguments
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> ExampleProcess:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "examples.transfer",
            *self.arguments,
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL if self.arguments[0] == "react" else asyncio.subprocess.PIPE,
        )
        return self

    async def finished(self) -> None:
        """Wait for a clean exit (failing with the process's errors otherwise)."""
        assert self.process is not None and self.process.stderr is not None
        errors = await self.process.stderr.read()
        assert await self.process.wait() == 0, errors.decode()[-3000:]

    async def kill(self) -> None:
        """SIGKILL: nothing of the process's own clean-up runs."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()


def clients(url: str, *, count: int, each: int, accounts: int, pace: float = 0.0) -> list[ExampleProcess]:
    """``count`` client processes, each requesting ``each`` transfers among ``accounts`` accounts
    (each of its tasks ``pace`` seconds apart)."""
    return [
        ExampleProcess(
            "request",
            url,
            "--client",
            f"p{n}",
            "--count",
            str(each),
            "--seed",
            str(n),
            "--accounts",
            str(accounts),
            "--pace",
            str(pace),
        )
        for n in range(count)
    ]


ENDINGS = [TransferCompleted, TransferRejected, TransferRefunded]


async def ended(store: el.EventStore) -> int:
    """How many transfers have ended."""
    return len([recorded async for recorded in store.read_all(types=ENDINGS)])


async def ended_at_least(store: el.EventStore, count: int) -> None:
    """Wait (bounded) until ``count`` transfers have ended."""

    async def reached() -> None:
        while True:
            if await ended(store) >= count:
                return
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(reached(), WAIT)
    except TimeoutError:
        raise AssertionError(f"fewer than {count} transfers ended within {WAIT:g} s") from None


async def until_every_transfer_ended(store: el.EventStore, requested: int) -> Audit:
    """Audit the log until all ``requested`` transfers have ended (bounded)."""

    async def settled() -> Audit:
        while True:
            result = await audit(store)
            if len(result.requested) == requested and not result.pending:
                return result
            await asyncio.sleep(0.2)

    try:
        return await asyncio.wait_for(settled(), WAIT)
    except TimeoutError:
        result = await audit(store)
        raise AssertionError(
            f"{len(result.pending)} of {len(result.requested)} transfers still pending after {WAIT:g} s"
        ) from None


def assert_money_kept(result: Audit, *, transfers: int, accounts: int) -> None:
    assert result.holds, result.violations[:5]
    assert (result.opened, result.total, result.in_flight) == (1000 * accounts, 1000 * accounts, {})
    assert len(result.requested) == transfers
    assert set(result.endings.values()) == {1}
    assert (
        result.count(TransferCompleted) + result.count(TransferRejected) + result.count(TransferRefunded)
        == transfers
    )
    assert result.count(TransferCompleted) > transfers // 10  # money moved: the check checked something
    assert result.count(TransferRefunded) > 0  # and the compensation ran


async def test_on_sqlite_the_sum_of_balances_holds_while_4_processes_request_transfers(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'bank.db'}"
    accounts, each = 20, 50
    async with await el.open_store(url) as store:
        ids = await open_accounts(store, accounts)
        process = TransferProcess(store)
        runner = el.ProjectionRunner(store, [process], batch_size=20)
        running = asyncio.create_task(runner.run(handle_signals=False))
        try:
            requesting = [
                await client.start()
                for client in clients(url, count=4, each=each, accounts=accounts, pace=0.01)
            ]
            await close_account(store, ids[0])
            for client in requesting:
                await client.finished()
            result = await until_every_transfer_ended(store, 4 * each)
        finally:
            runner.stop()
            await running
            await process.target.close()
    assert_money_kept(result, transfers=4 * each, accounts=accounts)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    schema = f"test_transfer_{uuid.uuid4().hex[:12]}"
    yield f"{POSTGRES_URL}?schema={schema}"
    async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as connection:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


@pytest.mark.slow
async def test_on_postgres_the_sum_holds_for_1000_transfers_from_4_processes_with_the_process_killed_twice(
    postgres_url: str,
) -> None:
    seed = random.randrange(1_000_000)
    chance = random.Random(seed)
    accounts, each = 20, 250
    async with await el.open_store(postgres_url) as store:
        ids = await open_accounts(store, accounts)
        reactor = await ExampleProcess("react", postgres_url).start()
        # Paced so that the requests go on while the transfer process runs (about 3 s).
        requesting = [
            await client.start()
            for client in clients(postgres_url, count=4, each=each, accounts=accounts, pace=0.05)
        ]
        for life in range(2):
            if life:
                reactor = await ExampleProcess("react", postgres_url).start()
            await ended_at_least(store, await ended(store) + 50)  # it is at work
            await asyncio.sleep(chance.uniform(0.0, 0.3))
            if life == 0:
                await close_account(store, ids[0])
            await reactor.kill()
        process = TransferProcess(store)  # the third life, here, carries on to the end
        runner = el.ProjectionRunner(store, [process], batch_size=20)
        running = asyncio.create_task(runner.run(handle_signals=False))
        try:
            for client in requesting:
                await client.finished()
            result = await until_every_transfer_ended(store, 4 * each)
        finally:
            runner.stop()
            await running
            await process.target.close()
    assert_money_kept(result, transfers=4 * each, accounts=accounts)
