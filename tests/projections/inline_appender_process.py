"""An appender in an OS process of its own, for the inline projection tests that race or kill it.

Run as ``python inline_appender_process.py KIND STORE_URL WRITER [--count N] [--inline]``. With
``--inline`` it runs the ledger inline first. It prints ``appending`` (flushed) when it starts
appending, appends ``N`` deposits (for ever when N is 0) over a few accounts, one append or
one two-stream ``append_many`` at a time, then prints ``done``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

from projection_rig import Deposited, SQLLedger, Withdrawn  # noqa: E402

import eventledger as el  # noqa: E402
from eventledger.projections import SQLiteTarget, SQLTransaction, Target  # noqa: E402
from eventledger.projections.inline import run_inline  # noqa: E402
from eventledger.projections.targets.postgres import PostgresTarget  # noqa: E402


async def main(arguments: argparse.Namespace) -> None:
    store = await el.open_store(arguments.store)
    if arguments.inline:
        target: Target[SQLTransaction] = (
            SQLiteTarget(arguments.store.removeprefix("sqlite:///"))
            if arguments.kind == "sqlite"
            else PostgresTarget(arguments.store)
        )
        await run_inline(store, SQLLedger(target, runner_id=arguments.writer))
    print("appending", flush=True)
    chance = random.Random()
    written = 0
    while arguments.count == 0 or written < arguments.count:
        amount = chance.randrange(1, 1000)
        account = f"acct-{chance.randrange(5)}"
        if chance.random() < 0.2:
            other = f"acct-{chance.randrange(5, 8)}"
            await store.append_many(
                [
                    el.AppendRequest(account, [Withdrawn(account=account, amount=amount)], el.ANY),
                    el.AppendRequest(other, [Deposited(account=other, amount=amount)], el.ANY),
                ]
            )
            written += 2
        else:
            await store.append(account, [Deposited(account=account, amount=amount)], expected_version=el.ANY)
            written += 1
    print("done", flush=True)
    await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["sqlite", "postgres"])
    parser.add_argument("store")
    parser.add_argument("writer")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--inline", action="store_true")
    asyncio.run(main(parser.parse_args()))
