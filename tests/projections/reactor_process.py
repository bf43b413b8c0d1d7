"""A reactor's runner in an OS process of its own, for tests that kill it.

Run as ``python reactor_process.py STORE_URL LIFE [options]``. It prints ``leading`` (flushed)
once it holds the lease and starts reacting, then runs until killed. Its reactions carry LIFE
in their metadata.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

from projection_process import Announce  # noqa: E402
from reactor_rig import Echo  # noqa: E402

import eventledger as el  # noqa: E402
from eventledger.projections import LeasePolicy  # noqa: E402


async def main(arguments: argparse.Namespace) -> None:
    store = await el.open_store(arguments.store)
    reactor = Echo(store, delay=arguments.delay, life=arguments.life)
    lease = LeasePolicy(ttl=arguments.ttl, renew_every=arguments.ttl / 4, standby_poll=0.05)
    runner = el.ProjectionRunner(
        store,
        [reactor],
        batch_size=arguments.batch,
        lease=lease,
        listeners=[Announce()],
        owner=arguments.life,
    )
    print("started", flush=True)
    try:
        await runner.run()
    finally:
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("life")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--ttl", type=float, default=1.0)
    asyncio.run(main(parser.parse_args()))
