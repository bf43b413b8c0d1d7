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

from projection_process import common_options, run_until_killed  # noqa: E402
from reactor_rig import Echo  # noqa: E402

import eventledger as el  # noqa: E402


async def main(arguments: argparse.Namespace) -> None:
    store = await el.open_store(arguments.store)
    await run_until_killed(store, Echo(store, delay=arguments.delay, life=arguments.owner), arguments)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("owner")
    asyncio.run(main(common_options(parser).parse_args()))
