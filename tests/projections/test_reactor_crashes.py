"""Reactions exactly once under crashes: a reactor's runner process killed with SIGKILL at random
points, again and again.

Each life is a fresh OS process that takes the lease and reacts; it is killed at a random moment
(often with a batch in its handlers or its transaction: the handlers are slowed to widen that
window), and the next life starts from whatever was committed. Between lives more pings arrive,
so kills land in catch-up and in live following alike. Every reaction is appended with ``ANY``,
so a doubled reaction would not be refused by a version: it would show as a second pong with the
same causation id.
"""

from __future__ import annotations

import random
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
from projection_rig import Rig, RunnerProcess, kill_at_random
from reactor_rig import Echo, Pong, log_of, ping_ids, ping_many

import eventledger as el
from eventledger.projections import LeasePolicy

KILLS = 20
PINGS = 1500


class ReactorProcess(RunnerProcess):
    """``reactor_process.py`` running the echo reactor on a rig's store in a child process."""

    SCRIPT = Path(__file__).with_name("reactor_process.py")

    def command(self) -> list[str]:
        return [self.rig.store_url, self.runner_id, *self.arguments]


@pytest.mark.slow
async def test_a_reactor_killed_at_random_points_reacts_to_every_event_exactly_once(sql_rig: Rig) -> None:
    seed = random.randrange(1_000_000)
    chance = random.Random(seed)
    store = sql_rig.store
    await ping_many(store, PINGS)
    await kill_at_random(sql_rig, ReactorProcess, KILLS, chance, partial(ping_many, store, 30))

    last = Echo(store, life="last")
    runner = el.ProjectionRunner(
        store, [last], lease=LeasePolicy(ttl=0.3, renew_every=0.1, standby_poll=0.05)
    )
    try:
        await runner.run_until_caught_up(lease_wait=10)
    finally:
        await last.target.close()

    ids = await ping_ids(store)
    pongs = [recorded for recorded in await log_of(store) if isinstance(recorded.event, Pong)]
    by_stream_and_cause = Counter((recorded.stream_id, recorded.causation_id) for recorded in pongs)
    expected = Counter({(stream, ids[n]): 1 for n in ids for stream in ("pong-log", f"pong-{n}")})
    assert by_stream_and_cause == expected, f"seed {seed}"
    # The kills interrupted the work many times over (or this would prove nothing).
    lives = Counter(str(recorded.metadata.get("life")) for recorded in pongs)
    lives_that_reacted = [life for life in lives if life.startswith("life-")]
    assert len(lives_that_reacted) >= KILLS // 4, f"seed {seed}: {lives}"
    assert lives["last"] > 0, f"seed {seed}: the killed lives finished everything"
