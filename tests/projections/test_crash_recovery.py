"""Exactly once under crashes: a runner process killed with SIGKILL at random points, again and again.

Each life of the runner is a fresh OS process that takes the lease and projects; it is killed
at a random moment (often mid-batch, since its handlers are slowed to widen that window), and
the next life starts from whatever was committed. Between lives more events arrive, so kills
land in catch-up and in live following alike. At the end the read model must equal a replay
of the whole log: the ledger's balances and counts are increments and ``applied`` has no key,
so any lost or doubled event would show.
"""

from __future__ import annotations

import random
from functools import partial

import pytest
from projection_rig import (
    Rig,
    RunnerProcess,
    SQLLedger,
    deposit_many,
    expected_view,
    kill_at_random,
    ledger_view,
)

import eventledger as el
from eventledger.projections import LeasePolicy

KILLS = 20
EVENTS = 2000


@pytest.mark.slow
async def test_a_runner_killed_at_random_points_neither_loses_nor_doubles_an_event(sql_rig: Rig) -> None:
    seed = random.randrange(1_000_000)
    chance = random.Random(seed)
    await deposit_many(sql_rig.store, EVENTS)
    await kill_at_random(sql_rig, RunnerProcess, KILLS, chance, partial(deposit_many, sql_rig.store, 30))

    last = el.ProjectionRunner(
        sql_rig.store,
        [SQLLedger(sql_rig.new_target(), runner_id="last")],
        lease=LeasePolicy(ttl=0.3, renew_every=0.1, standby_poll=0.05),
    )
    await last.run_until_caught_up(lease_wait=10)

    view = await ledger_view(sql_rig.reader)
    expected = await expected_view(sql_rig.store)
    assert view.balances == expected.balances, f"seed {seed}"
    assert view.applied == expected.applied, f"seed {seed}"
    # The kills interrupted the work many times over (or this would prove nothing).
    lives_that_applied = [runner for runner in view.runners if runner.startswith("life-")]
    assert len(lives_that_applied) >= KILLS // 4, f"seed {seed}: {view.runners}"
    assert view.runners["last"] > 0, f"seed {seed}: the killed lives finished everything"
