"""What the unique-values tests share: an audit of names against users, and decisions that wait."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from examples.unique_values.directory import UserDirectory
from examples.unique_values.domain import User, UserNameClaim, claim_id

import eventledger as el
from eventledger.domain import UnitOfWork

Command = TypeVar("Command")
Outcome = TypeVar("Outcome")
CLAIM_PREFIX = "user-name-"


async def audit(store: el.EventStore) -> list[str]:
    """Every disagreement between users and claims: a user whose name's claim is not theirs, a
    claim held by a user who bears another name. Empty when the two agree."""
    directory = UserDirectory(store)
    users: dict[str, User] = {}
    claims: dict[str, UserNameClaim] = {}
    after: str | None = None
    while page := await store.list_streams(after=after, limit=100):
        for info in page:
            if info.stream_id.startswith(CLAIM_PREFIX):
                claims[info.stream_id] = await directory.claims.load(info.stream_id)
            else:
                users[info.stream_id] = await directory.users.load(info.stream_id)
        after = page[-1].stream_id
    problems = []
    for user in users.values():
        claim = claims.get(claim_id(user.user_name))
        if claim is None or claim.owner != user.id:
            problems.append(f"{user.id} bears {user.user_name!r}, whose claim is {claim!r}")
    for stream_id, claim in claims.items():
        if claim.owner is None:
            continue
        owner = users.get(claim.owner)
        if owner is None or claim_id(owner.user_name) != stream_id:
            problems.append(f"{stream_id} is held by {claim.owner}, who is {owner!r}")
    return problems


async def decided_then(
    directory: UserDirectory,
    decide: Callable[[UnitOfWork, Command], Awaitable[Outcome]],
    command: Command,
    pause: Callable[[], Awaitable[object]],
) -> Outcome:
    """Run ``decide`` for ``command`` in a unit of work with retries, awaiting ``pause`` after the
    first decision and before its commit (the moment another writer can overtake it)."""
    paused = False

    async def decision(work: UnitOfWork) -> Outcome:
        nonlocal paused
        outcome = await decide(work, command)
        if not paused:
            paused = True
            await pause()
        return outcome

    return await UnitOfWork.run(
        directory.store, decision, retry=directory.retry, metadata={"correlation_id": repr(command)}
    )


async def within(seconds: float, what: str, awaitable: Awaitable[Outcome]) -> Outcome:
    """``awaitable``'s outcome, or an AssertionError saying what did not finish in time."""
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise AssertionError(f"{what} did not finish within {seconds} s") from None
