"""Documents exactly once under crashes: a document projection's runner killed with SIGKILL, again and again.

Each life of the runner is a fresh OS process that takes the lease and projects into
documents; it is killed at a random moment during catch-up (often with a batch in its
handlers, which are slowed to widen that window), and the next life starts from whatever was
committed. Between lives more events arrive. At the end every account document must equal a
replay of the whole log: balances and counts are increments and each document lists the
positions it applied, so a lost or doubled event would show.
"""

from __future__ import annotations

import random
from functools import partial
from pathlib import Path

import pytest
from document_rig import DocumentLedger, replayed_accounts, stored_accounts
from projection_rig import Rig, RunnerProcess, deposit_many, kill_at_random

import eventledger as el
from eventledger.projections import LeasePolicy

KILLS = 12
EVENTS = 1500


class DocumentRunnerProcess(RunnerProcess):
    """``document_process.py`` running the document ledger of a rig in a child process."""

    SCRIPT = Path(__file__).with_name("document_process.py")


@pytest.mark.slow
async def test_a_document_runner_killed_in_catch_up_leaves_documents_equal_to_a_replay(sql_rig: Rig) -> None:
    seed = random.randrange(1_000_000)
    chance = random.Random(seed)
    await deposit_many(sql_rig.store, EVENTS)
    more = partial(deposit_many, sql_rig.store, 30)
    await kill_at_random(sql_rig, DocumentRunnerProcess, KILLS, chance, more)

    last = DocumentLedger(sql_rig.new_target(), runner_id="last")
    lease = LeasePolicy(ttl=0.3, renew_every=0.1, standby_poll=0.05)
    await el.ProjectionRunner(sql_rig.store, [last], lease=lease).run_until_caught_up(lease_wait=10)

    accounts, runners = await stored_accounts(last)
    log = [recorded async for recorded in sql_rig.store.read_all()]
    assert accounts == replayed_accounts(log), f"seed {seed}"
    # The kills interrupted the work many times over (or this would prove nothing).
    lives_that_applied = [runner for runner in runners if runner.startswith("life-")]
    assert len(lives_that_applied) >= KILLS // 4, f"seed {seed}: {runners}"
    assert runners["last"] > 0, f"seed {seed}: the killed lives finished everything"
