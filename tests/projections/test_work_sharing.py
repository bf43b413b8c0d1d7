"""Runners that share their projections: fair shares, rebalancing, fail-over after SIGKILL.

Real runner processes (``sharing_process.py``) run four ledger projections with
``share=SharePolicy(...)``; the test follows which process applies which projection through
the state changes each one prints. The ledgers are built to reveal a lost or doubled event
(increments, and an ``applied`` row per event without a key), so "equal to a replay" means
every hand-over and every take-over applied each event exactly once.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
from projection_rig import Rig, deposit_many, expected_view, make_rig
from sharing_rig import Fleet, SharingProcess

PROJECTIONS = 4


@pytest.fixture
async def postgres_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async for made in make_rig("postgres", tmp_path):
        yield made


def _delay(rig: Rig) -> float:
    """A handler's wait on I/O per event; none on SQLite, where a batch holds the file's one write
    lock and sleeping in it would starve the other processes' transactions."""
    return 0.002 if rig.kind == "postgres" else 0.0


def _all_applied_by(processes: list[SharingProcess], names: set[str]) -> bool:
    return names <= {name for process in processes for name in process.applying}


async def _equal_to_a_replay(fleet: Fleet) -> None:
    expected = await expected_view(fleet.rig.store)
    for number, view in (await fleet.views()).items():
        assert view.balances == expected.balances, f"ledger-{number}"
        assert view.applied == expected.applied, f"ledger-{number}"


@pytest.mark.slow
async def test_three_workers_divide_four_projections_fairly(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 600)
    fleet = Fleet(sql_rig, PROJECTIONS, delay=_delay(sql_rig))
    try:
        await fleet.start(3)
        await fleet.wait_for_fair_shares()
        assert sorted(len(names) for names in fleet.shares().values()) == [1, 1, 2]
        await deposit_many(sql_rig.store, 200, start=10_000)
        await fleet.wait_until_caught_up()
        await _equal_to_a_replay(fleet)
    finally:
        await fleet.end()


@pytest.mark.slow
async def test_a_joining_worker_gets_a_share_from_the_one_that_held_everything(sql_rig: Rig) -> None:
    await deposit_many(sql_rig.store, 400)
    fleet = Fleet(sql_rig, PROJECTIONS, delay=_delay(sql_rig))
    try:
        (first,) = await fleet.start(1)
        await fleet.wait_until(lambda: len(first.applying) == PROJECTIONS, "one worker applying all four")
        await fleet.start(1)
        await fleet.wait_for_fair_shares()
        assert sorted(len(names) for names in fleet.shares().values()) == [2, 2]
        await fleet.wait_until_caught_up()
        await _equal_to_a_replay(fleet)
    finally:
        await fleet.end()


@pytest.mark.slow
async def test_a_killed_workers_projections_are_taken_over_by_the_survivors(postgres_rig: Rig) -> None:
    # On PostgreSQL the lease is an advisory lock that dies with the killed process's connection;
    # on SQLite a take-over waits for the lease row's ttl besides.
    rig = postgres_rig
    chance = random.Random()
    await deposit_many(rig.store, 800)
    fleet = Fleet(rig, PROJECTIONS, delay=0.002)
    takeovers: list[float] = []
    try:
        await fleet.start(3)
        for round_ in range(3):
            await fleet.wait_for_fair_shares()
            victim = chance.choice([p for p in fleet.live() if p.applying])
            orphans = set(victim.applying)
            killed_at = victim.kill()
            survivors = [p for p in fleet.live() if p is not victim]
            await fleet.wait_until(
                partial(_all_applied_by, survivors, orphans),
                f"round {round_}: the survivors applying {sorted(orphans)}",
            )
            taken = [t for p in survivors for name, t in p.taken if name in orphans and t >= killed_at]
            takeovers.append(max(taken) - killed_at)
            await victim.end()
            more = deposit_many(rig.store, 100, start=20_000 + round_ * 1000, wait=False)
            await asyncio.gather(more, fleet.start(1))
        await fleet.wait_until_caught_up()
        await _equal_to_a_replay(fleet)
    finally:
        await fleet.end()
    # How fast is measured by benchmarks/workers_scenario.py, not asserted here: no wall-clock
    # thresholds in tests (wait_until above bounds the wait and names what it waited for).
    print(f"take-over after SIGKILL, seconds: {[round(t, 3) for t in takeovers]}")


@pytest.mark.slow
async def test_a_segmented_projection_survives_kills_and_hangs_of_its_workers(sql_rig: Rig) -> None:
    rig = sql_rig
    chance = random.Random()
    await deposit_many(rig.store, 1500, accounts=40)
    fleet = Fleet(rig, 0, delay=_delay(rig) / 2)
    try:
        await fleet.start(3)
        await fleet.wait_until(fleet.fair, "four segments in fair shares")
        for round_ in range(12):
            victim = chance.choice(fleet.live())
            if round_ in (4, 9):
                victim.signal(signal.SIGSTOP)  # hangs holding its leases (and maybe mid-batch)
                await asyncio.sleep(chance.uniform(0.2, 1.5))
                victim.signal(signal.SIGCONT)
            else:
                await asyncio.sleep(chance.uniform(0.0, 0.5))
                victim.kill()
                await victim.end()
                await fleet.start(1)
            await deposit_many(rig.store, 60, accounts=40, start=30_000 + round_ * 100, wait=False)
        await fleet.wait_until(fleet.fair, "every segment applied by one worker, in fair shares")
        assert len(fleet.live()) == 3
        assert all(fleet.shares().values()), fleet.shares()
        await fleet.wait_until_caught_up()
        await _equal_to_a_replay(fleet)
    finally:
        await fleet.end()


@pytest.mark.slow
async def test_a_hung_workers_projections_are_taken_over_once_its_membership_expires(
    postgres_rig: Rig,
) -> None:
    rig = postgres_rig
    await deposit_many(rig.store, 600)
    fleet = Fleet(rig, PROJECTIONS, delay=_delay(rig))
    try:
        await fleet.start(3)
        await fleet.wait_for_fair_shares()
        victim = next(p for p in fleet.live() if p.applying)
        orphans = set(victim.applying)
        victim.signal(signal.SIGSTOP)  # holds its sessions, and with them its advisory locks
        stopped_at = time.time()
        survivors = [p for p in fleet.live() if p is not victim]
        await fleet.wait_until(partial(_all_applied_by, survivors, orphans), f"survivors applying {orphans}")
        taken = [t for p in survivors for name, t in p.taken if name in orphans and t >= stopped_at]
        print(f"take-over after SIGSTOP, seconds: {max(taken) - stopped_at:.3f} (member_ttl 1.0)")
        await deposit_many(rig.store, 100, start=40_000, wait=False)
        victim.signal(signal.SIGCONT)  # wakes with its sessions ended: fenced, it rejoins
        await fleet.wait_for_fair_shares()
        await fleet.wait_until_caught_up()
        await _equal_to_a_replay(fleet)
    finally:
        await fleet.end()
