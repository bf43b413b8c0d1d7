"""``python -m examples.transfer``: open accounts, request transfers from concurrent clients while
the transfer process runs, then audit the log.

python -m examples.transfer                                   # a fresh SQLite file in a temporary folder
python -m examples.transfer --url postgresql://postgres@127.0.0.1/test?schema=transfers --transfers 2000
python -m examples.transfer request URL --client c1 --count 250 --seed 1   # one client process
python -m examples.transfer react URL                         # the transfer process alone, until stopped
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import eventledger as el
from examples.transfer.audit import audit
from examples.transfer.clients import close_account, open_accounts, request_transfers
from examples.transfer.domain import TransferCompleted, TransferRefunded, TransferRejected
from examples.transfer.process import TransferProcess


async def demo(url: str, *, accounts: int, transfers: int, clients: int, closing: int) -> int:
    """Run the whole story on ``url`` (an empty store); 0 when the invariant held."""
    async with await el.open_store(url) as store:
        if await store.head_position():
            print(f"error: {url} already holds events; give an empty store", file=sys.stderr)
            return 2
        ids = await open_accounts(store, accounts)
        print(f"opened {len(ids)} accounts holding 1000 each, at most 2000 ({url})")
        process = TransferProcess(store)
        runner = el.ProjectionRunner(store, [process], batch_size=20)
        running = asyncio.create_task(runner.run(handle_signals=False))
        try:
            half = transfers // clients // 2
            for part in ("early", "late"):
                await asyncio.gather(
                    *(
                        request_transfers(store, ids, half, client=f"{part}{number}", seed=number)
                        for number in range(clients)
                    )
                )
                if part == "early":  # while the first half is still being carried out
                    await asyncio.gather(*(close_account(store, account) for account in ids[:closing]))
            print(
                f"{clients} clients requested {2 * half * clients} transfers; "
                f"{closing} accounts closed midway"
            )
            while (await audit(store)).pending:
                await runner.wait_until_caught_up()
        finally:
            runner.stop()
            await running
            await process.target.close()
        result = await audit(store)
    print(
        f"completed {result.count(TransferCompleted)}, rejected {result.count(TransferRejected)} "
        f"(the source could not pay), refunded {result.count(TransferRefunded)} (the target was "
        "closed or full)"
    )
    print(
        f"sum of balances {result.total}, opened with {result.opened}; checked after each of "
        f"{result.commits} commits: " + ("the sum never changed" if result.holds else "VIOLATED")
    )
    for violation in result.violations[:10]:
        print(f"  {violation}")
    return 0 if result.holds else 1


async def request(url: str, *, client: str, count: int, seed: int, accounts: int, pace: float) -> None:
    """One client: request ``count`` transfers among the first ``accounts`` accounts."""
    async with await el.open_store(url) as store:
        ids = [f"a{number:03}" for number in range(accounts)]
        await request_transfers(store, ids, count, client=client, seed=seed, pace=pace)


async def react(url: str) -> None:
    """The transfer process alone, until SIGTERM or SIGINT."""
    async with await el.open_store(url) as store:
        process = TransferProcess(store)
        try:
            await el.ProjectionRunner(store, [process], batch_size=20).run()
        finally:
            await process.target.close()


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m examples.transfer", description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="an empty store (default: a new SQLite file in a temporary folder)")
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--transfers", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--closing", type=int, default=2, help="accounts closed while transfers run")
    commands = parser.add_subparsers(dest="command")
    one = commands.add_parser("request", help="one client requesting transfers")
    one.add_argument("url")
    one.add_argument("--client", required=True)
    one.add_argument("--count", type=int, required=True)
    one.add_argument("--seed", type=int, default=0)
    one.add_argument("--accounts", type=int, default=20)
    one.add_argument("--pace", type=float, default=0.0, help="seconds between requests of each task")
    alone = commands.add_parser("react", help="the transfer process, until stopped")
    alone.add_argument("url")
    arguments = parser.parse_args(argv)
    if arguments.command == "request":
        asyncio.run(
            request(
                arguments.url,
                client=arguments.client,
                count=arguments.count,
                seed=arguments.seed,
                accounts=arguments.accounts,
                pace=arguments.pace,
            )
        )
        return 0
    if arguments.command == "react":
        asyncio.run(react(arguments.url))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        url = arguments.url or f"sqlite:///{Path(folder) / 'transfer.db'}"
        return asyncio.run(
            demo(
                url,
                accounts=arguments.accounts,
                transfers=arguments.transfers,
                clients=arguments.clients,
                closing=arguments.closing,
            )
        )


if __name__ == "__main__":
    sys.exit(main())
