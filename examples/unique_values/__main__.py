"""``python -m examples.unique_values``: unique user names, shown in a few steps.

python -m examples.unique_values                                   # an in-memory store
python -m examples.unique_values --url sqlite:///users.db          # or a fresh store of any kind
"""

from __future__ import annotations

import argparse
import asyncio

import eventledger as el
from examples.unique_values.directory import RegisterUser, RenameUser, UserDirectory
from examples.unique_values.domain import UserNameTaken


async def demo(url: str, racers: int) -> None:
    """Register, collide, rename, reuse the freed name, then race ``racers`` users for one name."""
    async with await el.open_store(url) as store:
        directory = UserDirectory(store)

        ada = await directory.register(RegisterUser(user_id="user-1", user_name="ada"))
        print(f"registered {ada.id} as {ada.user_name!r}")
        try:
            await directory.register(RegisterUser(user_id="user-2", user_name="ADA"))
        except UserNameTaken as taken:
            print(f"refused user-2: {taken}")

        ada = await directory.rename(RenameUser(user_id="user-1", new_name="countess"))
        print(f"renamed user-1 to {ada.user_name!r}; 'ada' is free again")
        eve = await directory.register(RegisterUser(user_id="user-2", user_name="ada"))
        print(f"registered {eve.id} as {eve.user_name!r}")

        outcomes = await asyncio.gather(
            *(
                directory.register(RegisterUser(user_id=f"racer-{number}", user_name="grace"))
                for number in range(1, racers + 1)
            ),
            return_exceptions=True,
        )
        winners = [outcome.id for outcome in outcomes if isinstance(outcome, el.Aggregate)]
        refused = [outcome for outcome in outcomes if isinstance(outcome, UserNameTaken)]
        unexpected = [
            outcome
            for outcome in outcomes
            if isinstance(outcome, BaseException) and not isinstance(outcome, UserNameTaken)
        ]
        if unexpected:
            raise unexpected[0]
        print(
            f"{racers} users raced for 'grace': {', '.join(winners)} won, {len(refused)} were refused "
            f"({directory.claims.statistics.conflicts} conflicts retried)"
        )
        for user_name in ("ada", "countess", "grace"):
            print(f"  {user_name!r} is held by {await directory.owner_of(user_name)}")


def main() -> None:
    """Parse the command line and run the demo."""
    parser = argparse.ArgumentParser(prog="python -m examples.unique_values", description=__doc__)
    parser.add_argument("--url", default="memory://", help="the event store (default: memory://)")
    parser.add_argument("--racers", type=int, default=8, help="users racing for one name (default: 8)")
    arguments = parser.parse_args()
    asyncio.run(demo(arguments.url, arguments.racers))


if __name__ == "__main__":
    main()
