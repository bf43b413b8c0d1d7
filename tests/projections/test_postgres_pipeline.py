"""PostgreSQL batches in pipeline mode (the default): same read model, reads see the batch's writes,
failures still pinned on their event and nothing of a failed batch committed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from projection_rig import Deposited, Rig, SQLLedger, deposit_many, expected_view, ledger_view, make_rig

import eventledger as el
from eventledger.errors import ProjectionFailed
from eventledger.projections import (
    BatchApplied,
    Projection,
    ProjectionListener,
    ProjectionRetryPolicy,
    SQLTransaction,
    handles,
)
from eventledger.projections.targets.postgres import PostgresTarget, PostgresTransaction

FAST = ProjectionRetryPolicy(attempts=2, first_delay=0.001, max_delay=0.002)


@pytest.fixture
async def postgres_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async for made in make_rig("postgres", tmp_path):
        yield made


class FirstDeposits(Projection[SQLTransaction], name="first-deposits"):
    """Records the first deposit per account; a second deposit of 13 breaks the primary key."""

    tables = ("firsts",)

    async def setup(self, sql: SQLTransaction) -> None:
        await sql.execute(f"CREATE TABLE {sql.table('firsts')} (account TEXT PRIMARY KEY, amount BIGINT)")

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        if event.amount == 13:
            # The duplicate key error only shows at a later statement or at commit.
            await sql.execute(f"INSERT INTO {sql.table('firsts')} VALUES ('duplicate', 0)")
            await sql.execute(f"INSERT INTO {sql.table('firsts')} VALUES ('duplicate', 0)")
            return
        await sql.execute(
            f"INSERT INTO {sql.table('firsts')} VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (event.account, event.amount),
        )


async def test_a_pipelined_target_builds_the_same_read_model(postgres_rig: Rig) -> None:
    await deposit_many(postgres_rig.store, 300)
    target = PostgresTarget(postgres_rig.target_url, pipeline=True)
    try:
        await el.ProjectionRunner(
            postgres_rig.store, [SQLLedger(target)], batch_size=50
        ).run_until_caught_up()
        assert await ledger_view(target) == await expected_view(postgres_rig.store)
    finally:
        await target.close()


async def test_an_error_that_surfaces_late_in_a_pipeline_is_pinned_on_the_event_that_caused_it(
    postgres_rig: Rig,
) -> None:
    await deposit_many(postgres_rig.store, 40)
    target = PostgresTarget(postgres_rig.target_url, pipeline=True)
    [poison] = [r async for r in postgres_rig.store.read_all() if getattr(r.event, "amount", None) == 13]
    try:
        runner = el.ProjectionRunner(postgres_rig.store, [FirstDeposits(target)], batch_size=20, retry=FAST)
        with pytest.raises(ProjectionFailed, match=rf"position {poison.position} .*UniqueViolation"):
            await runner.run_until_caught_up()
        status = await runner.status_of("first-deposits")
        assert status.checkpoint < poison.position
        async with target.read() as sql:
            row = await sql.fetch_one(f"SELECT count(*) FROM {sql.table('firsts')}")
        assert row is not None and row[0] == 7  # every account's first deposit before amount 13
    finally:
        await target.close()


class Steps(Projection[SQLTransaction], name="steps"):
    """One row per deposit; the deposit of 13 writes a row, then a statement that fails (1/0)."""

    tables = ("steps",)

    def __init__(self, target: PostgresTarget) -> None:
        super().__init__(target)
        self.row_counts: list[int] = []

    async def setup(self, sql: SQLTransaction) -> None:
        await sql.execute(
            f"CREATE TABLE {sql.table('steps')} (amount BIGINT PRIMARY KEY, seen BIGINT NOT NULL)"
        )

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        count = await sql.fetch_one(f"SELECT count(*) FROM {sql.table('steps')}")
        assert count is not None
        self.row_counts.append(
            await sql.execute(f"INSERT INTO {sql.table('steps')} VALUES (%s, %s)", (event.amount, count[0]))
        )
        if event.amount == 13:
            await sql.execute(
                f"UPDATE {sql.table('steps')} SET seen = 1 / 0 WHERE amount = %s", (event.amount,)
            )


class Commits(ProjectionListener):
    """The batches that committed."""

    def __init__(self) -> None:
        self.batches: list[BatchApplied] = []

    def batch_applied(self, batch: BatchApplied) -> None:
        self.batches.append(batch)


async def steps_in(target: PostgresTarget) -> list[tuple[int, int]]:
    async with target.read() as sql:
        rows = await sql.fetch_all(f"SELECT amount, seen FROM {sql.table('steps')} ORDER BY amount")
    return [(int(amount), int(seen)) for amount, seen in rows]


async def test_a_postgres_target_pipelines_the_handlers_statements_by_default(postgres_rig: Rig) -> None:
    await deposit_many(postgres_rig.store, 10, accounts=1000)
    target = PostgresTarget(postgres_rig.target_url)
    projection = Steps(target)
    try:
        await el.ProjectionRunner(postgres_rig.store, [projection], batch_size=50).run_until_caught_up()
        assert set(projection.row_counts) == {-1}  # the row count is not known until the pipeline syncs
    finally:
        await target.close()


async def test_with_pipelining_off_execute_returns_the_row_count(postgres_rig: Rig) -> None:
    await deposit_many(postgres_rig.store, 10, accounts=1000)
    target = PostgresTarget(postgres_rig.target_url, pipeline=False)
    projection = Steps(target)
    try:
        await el.ProjectionRunner(postgres_rig.store, [projection], batch_size=50).run_until_caught_up()
        assert set(projection.row_counts) == {1}
    finally:
        await target.close()


async def test_a_handler_reading_in_a_pipelined_batch_sees_what_the_batch_wrote_before_it(
    postgres_rig: Rig,
) -> None:
    await deposit_many(postgres_rig.store, 12, accounts=1000)
    target = PostgresTarget(postgres_rig.target_url)
    try:
        await el.ProjectionRunner(postgres_rig.store, [Steps(target)], batch_size=50).run_until_caught_up()
        rows = await steps_in(target)
        assert [seen for _, seen in rows] == list(range(len(rows)))  # each counted the rows before it
    finally:
        await target.close()


async def test_a_statement_failing_mid_batch_is_pinned_on_its_event_and_commits_nothing_of_the_batch(
    postgres_rig: Rig,
) -> None:
    await deposit_many(postgres_rig.store, 30, accounts=1000)
    log = [recorded async for recorded in postgres_rig.store.read_all()]
    [poison] = [r for r in log if getattr(r.event, "amount", None) == 13]
    before = sorted(
        r.event.amount for r in log if isinstance(r.event, Deposited) and r.position < poison.position
    )
    target = PostgresTarget(postgres_rig.target_url)  # pipelined: the default
    commits = Commits()
    try:
        runner = el.ProjectionRunner(
            postgres_rig.store, [Steps(target)], batch_size=100, retry=FAST, listeners=[commits]
        )
        with pytest.raises(ProjectionFailed, match=rf"position {poison.position} .*DivisionByZero"):
            await runner.run_until_caught_up()
        status = await runner.status_of("steps")
        assert status.checkpoint == max(r.position for r in log if r.position < poison.position)
        # The whole batch failed once; only the events before the culprit were applied again, one by one.
        assert {batch.events for batch in commits.batches} == {1}
        # Not the row 13's handler wrote before failing, nothing after it.
        assert [amount for amount, _ in await steps_in(target)] == before
    finally:
        await target.close()


class Keys(Projection[SQLTransaction], name="keys"):
    """One row per deposit by one statement text; every fifth deposit also bumps every row so far,
    so the rows show the order the statements ran in. The deposit of 13 reuses 12's key."""

    tables = ("keys",)

    async def setup(self, sql: SQLTransaction) -> None:
        await sql.execute(
            f"CREATE TABLE {sql.table('keys')} (key TEXT PRIMARY KEY, bumps BIGINT NOT NULL)"
        )

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        key = "k12" if event.amount == 13 else f"k{event.amount}"
        await sql.execute(f"INSERT INTO {sql.table('keys')} VALUES (%s, 0)", (key,))
        if event.amount % 5 == 0:
            await sql.execute(f"UPDATE {sql.table('keys')} SET bumps = bumps + 1")


async def keys_in(target: PostgresTarget) -> dict[str, int]:
    async with target.read() as sql:
        rows = await sql.fetch_all(f"SELECT key, bumps FROM {sql.table('keys')}")
    return {str(key): int(bumps) for key, bumps in rows}


async def test_a_pipelined_batch_runs_the_handlers_statements_in_the_order_they_were_issued(
    postgres_rig: Rig,
) -> None:
    await deposit_many(postgres_rig.store, 12, accounts=1000)
    target = PostgresTarget(postgres_rig.target_url)
    try:
        await el.ProjectionRunner(postgres_rig.store, [Keys(target)], batch_size=50).run_until_caught_up()
        # The bumps at 5 and 10 reached exactly the rows inserted before them (11 is a withdrawal).
        assert await keys_in(target) == {
            **{f"k{amount}": 2 for amount in (1, 2, 3, 4, 5)},
            **{f"k{amount}": 1 for amount in (6, 7, 8, 9, 10)},
            "k12": 0,
        }
    finally:
        await target.close()


async def test_a_failure_inside_a_run_of_one_statement_is_pinned_on_the_event_that_issued_it(
    postgres_rig: Rig,
) -> None:
    await deposit_many(postgres_rig.store, 30, accounts=1000)
    log = [recorded async for recorded in postgres_rig.store.read_all()]
    [poison] = [r for r in log if getattr(r.event, "amount", None) == 13]
    target = PostgresTarget(postgres_rig.target_url)
    try:
        runner = el.ProjectionRunner(postgres_rig.store, [Keys(target)], batch_size=100, retry=FAST)
        with pytest.raises(ProjectionFailed, match=rf"position {poison.position} .*UniqueViolation"):
            await runner.run_until_caught_up()
        assert (await runner.status_of("keys")).checkpoint < poison.position
        before = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]  # 11 is a withdrawal
        assert sorted(await keys_in(target)) == sorted(f"k{amount}" for amount in before)
    finally:
        await target.close()


class DirectCounts(Projection[SQLTransaction], name="direct-counts"):
    """Writes through the session, then counts through the driver's connection itself."""

    tables = ("direct",)

    def __init__(self, target: PostgresTarget) -> None:
        super().__init__(target)
        self.counts: list[int] = []

    async def setup(self, sql: SQLTransaction) -> None:
        await sql.execute(f"CREATE TABLE {sql.table('direct')} (amount BIGINT PRIMARY KEY)")

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, sql: SQLTransaction) -> None:
        await sql.execute(f"INSERT INTO {sql.table('direct')} VALUES (%s)", (event.amount,))
        assert isinstance(sql, PostgresTransaction)
        await sql.flush()
        cursor = await sql.connection.execute(f"SELECT count(*) FROM {sql.table('direct')}".encode())
        row = await cursor.fetchone()
        assert row is not None
        self.counts.append(int(row[0]))


async def test_a_handler_that_flushes_before_using_the_connection_directly_sees_its_statements(
    postgres_rig: Rig,
) -> None:
    await deposit_many(postgres_rig.store, 6, accounts=1000)
    target = PostgresTarget(postgres_rig.target_url)
    projection = DirectCounts(target)
    try:
        await el.ProjectionRunner(postgres_rig.store, [projection], batch_size=50).run_until_caught_up()
        assert projection.counts == list(range(1, len(projection.counts) + 1))
    finally:
        await target.close()
