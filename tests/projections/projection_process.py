"""A projection runner in an OS process of its own, for tests that kill it or race it.

Run as ``python projection_process.py KIND STORE_URL TARGET RUNNER_ID [options]``. It prints
``leading`` (flushed) once it holds the lease and starts applying, then runs until killed or
sent SIGTERM. The ledger rows it writes carry RUNNER_ID.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

from projection_rig import SQLLedger  # noqa: E402

import eventledger as el  # noqa: E402
from eventledger.projections import (  # noqa: E402
    LeasePolicy,
    Projection,
    ProjectionListener,
    SQLiteTarget,
    SQLTransaction,
    StateChanged,
    Target,
)
from eventledger.projections.targets.postgres import PostgresTarget  # noqa: E402


class Announce(ProjectionListener):
    def __init__(self) -> None:
        self.announced = False

    def state_changed(self, change: StateChanged) -> None:
        if change.current is el.ProjectionState.CATCHING_UP and not self.announced:
            self.announced = True
            print("leading", flush=True)


async def run_until_killed(
    store: el.EventStore, projection: Projection[Any], arguments: argparse.Namespace
) -> None:
    """Run ``projection`` with the lease and batch the arguments name, announcing the lead."""
    lease = LeasePolicy(ttl=arguments.ttl, renew_every=arguments.ttl / 4, standby_poll=0.05)
    runner = el.ProjectionRunner(
        store,
        [projection],
        batch_size=arguments.batch,
        lease=lease,
        listeners=[Announce()],
        owner=arguments.owner,
    )
    print("started", flush=True)
    try:
        await runner.run()
    finally:
        await store.close()


def common_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options both killable processes take: batch size, per-event delay, lease ttl."""
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--ttl", type=float, default=1.0)
    return parser


async def main(arguments: argparse.Namespace) -> None:
    store = await el.open_store(arguments.store)
    target: Target[SQLTransaction] = (
        SQLiteTarget(arguments.target) if arguments.kind == "sqlite" else PostgresTarget(arguments.target)
    )
    await run_until_killed(
        store, SQLLedger(target, runner_id=arguments.owner, delay=arguments.delay), arguments
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["sqlite", "postgres"])
    parser.add_argument("store")
    parser.add_argument("target")
    parser.add_argument("owner")
    asyncio.run(main(common_options(parser).parse_args()))
