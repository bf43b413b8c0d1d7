"""PostgreSQL batches in pipeline mode: same read model, failures still pinned on their event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from projection_rig import Deposited, Rig, SQLLedger, deposit_many, expected_view, ledger_view, make_rig

import eventledger as el
from eventledger.errors import ProjectionFailed
from eventledger.projections import Projection, ProjectionRetryPolicy, SQLTransaction, handles
from eventledger.projections.targets.postgres import PostgresTarget

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
