"""Bounded waits for the projection tests: each names what it waited for and, when the bound is
reached, why it may not have happened (the store's visibility, the projections' statuses).

On PostgreSQL an open transaction elsewhere on the server can hold readers back; a wait that
ends with a bare ``TimeoutError`` hides that. These end with an ``AssertionError`` that says it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import eventledger as el
from eventledger.projections.status import describe_transaction

_T = TypeVar("_T")

WAIT: float = 60.0
"""The default bound: far above what any wait takes on an idle machine."""


async def why_not(store: el.EventStore | None) -> str:
    """What the store's visibility says (events held back, and by whom)."""
    if store is None:
        return ""
    try:
        status = await store.visibility_status()
    except Exception as error:
        return f"; the store's visibility could not be read: {error!r}"
    text = (
        f"; readers see up to position {status.visible_position}, "
        f"the newest committed event is at {status.written_position}"
    )
    if status.held_back_events:
        text += (
            f", {status.held_back_events} committed events held back by "
            f"{describe_transaction(status.oldest_open_transaction)}"
        )
    return text


async def bounded(
    awaitable: Awaitable[_T], what: str, *, within: float = WAIT, store: el.EventStore | None = None
) -> _T:
    """Await ``awaitable`` for at most ``within`` seconds; fail naming ``what`` and the store's state."""
    try:
        async with asyncio.timeout(within):
            return await awaitable
    except TimeoutError:
        raise AssertionError(f"{what}: not within {within:g} s{await why_not(store)}") from None


async def reached(event: asyncio.Event, what: str, *, within: float = WAIT) -> None:
    """Wait for ``event`` (a gate or a pause the test set up) to be set."""
    await bounded(event.wait(), what, within=within)


async def caught_up(runner: el.ProjectionRunner, *, within: float = WAIT) -> None:
    """While ``runner.run()`` runs: wait until every projection is live with nothing left to apply."""
    try:
        async with asyncio.timeout(within):
            await runner.wait_until_caught_up()
    except TimeoutError:
        statuses = "; ".join(
            f"{s.name}: {s.state.value} at {s.checkpoint}, lag {s.lag_events}, last error {s.last_error}"
            for s in await runner.status()
        )
        raise AssertionError(
            f"the runner did not catch up within {within:g} s ({statuses}){await why_not(runner.store)}"
        ) from None


async def visible(store: el.EventStore, position: int, *, within: float = WAIT) -> None:
    """Wait until readers can see our own append at ``position``.

    On PostgreSQL another session's open transaction can hold the store's visibility barrier
    back for a moment. A test's own appends to its schema are sequential, so the head reaching
    ``position`` means all of them are visible.
    """
    deadline = asyncio.get_running_loop().time() + within
    while await store.head_position() < position:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"readers cannot see position {position} after {within:g} s{await why_not(store)}"
            )
        await asyncio.sleep(0.01)


async def eventually(
    condition: Callable[[], Any],
    within: float = WAIT,
    *,
    what: str | None = None,
    store: el.EventStore | None = None,
) -> None:
    """Wait until ``condition()`` (sync or async) holds; fail after ``within`` seconds, naming
    ``what`` (by default the condition's source line)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            named = what or described(condition)
            raise AssertionError(f"{named} still false after {within:g} s{await why_not(store)}")
        await asyncio.sleep(0.01)


def described(condition: Callable[[], Any]) -> str:
    """The source line of ``condition`` (a lambda, usually), or its name."""
    try:
        return inspect.getsource(condition).strip()
    except (OSError, TypeError):
        return getattr(condition, "__qualname__", repr(condition))
