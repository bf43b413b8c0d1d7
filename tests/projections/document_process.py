"""A document ledger's runner in an OS process of its own, for tests that kill it.

Run as ``python document_process.py KIND STORE_URL TARGET RUNNER_ID [options]``, like
``projection_process.py``: it prints ``leading`` (flushed) once it holds the lease and starts
applying, then runs until killed. The documents it writes count RUNNER_ID's events.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

from document_rig import DocumentLedger  # noqa: E402
from projection_process import common_options, run_until_killed  # noqa: E402

import eventledger as el  # noqa: E402
from eventledger.projections import SQLiteTarget, SQLTransaction, Target  # noqa: E402
from eventledger.projections.targets.postgres import PostgresTarget  # noqa: E402


async def main(arguments: argparse.Namespace) -> None:
    store = await el.open_store(arguments.store)
    target: Target[SQLTransaction] = (
        SQLiteTarget(arguments.target) if arguments.kind == "sqlite" else PostgresTarget(arguments.target)
    )
    ledger = DocumentLedger(target, runner_id=arguments.owner, delay=arguments.delay)
    await run_until_killed(store, ledger, arguments)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["sqlite", "postgres"])
    parser.add_argument("store")
    parser.add_argument("target")
    parser.add_argument("owner")
    asyncio.run(main(common_options(parser).parse_args()))
