"""A runner sharing its projections with other runners, in an OS process of its own.

Run as ``python sharing_process.py KIND STORE_URL TARGET OWNER [options]``. It runs the first
``--projections`` numbered ledgers (0: the four-segment ledger) with ``share=SharePolicy(...)``
and prints, flushed, one line per state change of each projection, ``state NAME STATE UNIX_TIME``,
so that a test can follow which process holds which projection and when it took it. It runs until
killed or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

from shared_ledgers import SegmentedLedger, ledgers  # noqa: E402

import eventledger as el  # noqa: E402
from eventledger.projections import (  # noqa: E402
    LeasePolicy,
    ProjectionListener,
    SharePolicy,
    SQLiteTarget,
    SQLTransaction,
    StateChanged,
    Target,
)
from eventledger.projections.targets.postgres import PostgresTarget  # noqa: E402


class Announce(ProjectionListener):
    def state_changed(self, change: StateChanged) -> None:
        print(f"state {change.projection} {change.current.value} {time.time():.6f}", flush=True)


async def main(arguments: argparse.Namespace) -> None:
    store = await el.open_store(arguments.store)
    target: Target[SQLTransaction] = (
        SQLiteTarget(arguments.target) if arguments.kind == "sqlite" else PostgresTarget(arguments.target)
    )
    chosen = (
        [SegmentedLedger(target, runner_id=arguments.owner, delay=arguments.delay)]
        if arguments.projections == 0
        else ledgers(arguments.projections, target, runner_id=arguments.owner, delay=arguments.delay)
    )
    runner = el.ProjectionRunner(
        store,
        chosen,
        batch_size=arguments.batch,
        lease=LeasePolicy(ttl=arguments.ttl, renew_every=arguments.ttl / 4, standby_poll=arguments.poll),
        share=SharePolicy(heartbeat=0.2, member_ttl=1.0, orphan_after=0.1),
        listeners=[Announce()],
        owner=arguments.owner,
    )
    print("started", flush=True)
    try:
        await runner.run()
    finally:
        await target.close()
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["sqlite", "postgres"])
    parser.add_argument("store")
    parser.add_argument("target")
    parser.add_argument("owner")
    parser.add_argument("--projections", type=int, default=4)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--ttl", type=float, default=0.6)
    parser.add_argument("--poll", type=float, default=0.05)
    asyncio.run(main(parser.parse_args()))
