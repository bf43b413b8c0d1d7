"""What an operator reads about a running system, and asks of it, from any process.

Reading: the stored status of a set of projections, the schema version of a store, a
projection's dead letters. Asking: retry or skip the event a failed projection stopped at,
or rebuild its read model, through the requests table of the projection's bookkeeping
(:mod:`eventledger.projections.requests`): the runner holding the projection's lease, in
whichever process it runs, carries the request out at its next lease heartbeat (2 s by default)
and records what it did.

The ``eventledger`` command, the demo and the operator console go through these functions
rather than each reaching into targets and stores on its own.

>>> async def report(store: EventStore, projections: list[Projection[Any]]) -> None:
...     for status in await stored_statuses(store, projections):
...         print(status.name, status.state, status.checkpoint, status.lag_events)
...
>>> async def skip_it(store: EventStore, projection: Projection[Any]) -> None:
...     outcome = await skip_failed_event(store, projection, timeout=30)
...     print(outcome.request.describe())     # skip order-list at position 42: done by host:pid:...
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventledger.backoff import Backoff
from eventledger.errors import InvalidArgument, ProjectionStateError
from eventledger.projections import DeadLetter, EventFailure, Projection, StoredStatus, stored_status
from eventledger.projections.requests import OperatorRequest, RequestedAction, RequestState
from eventledger.projections.segments import segments_of
from eventledger.projections.targets.base import TargetConnection
from eventledger.store import EventStore

_POLL = Backoff(0.05, 0.5)
"""How often an operator's wait looks for the runner's answer (50 ms growing to 0.5 s)."""


async def stored_statuses(store: EventStore, projections: Sequence[Projection[Any]]) -> list[StoredStatus]:
    """Each projection's status (each segment's, for a projection with segments) from its target's
    bookkeeping, with lag measured now.

    One reading of the store's visibility serves them all, so their lags are measured against
    the same head.
    """
    visibility = await store.visibility_status()
    return [
        await stored_status(store, projection, visibility=visibility, segment=segment)
        for projection in projections
        for segment in segments_of(projection.segments)
    ]


async def schema_version(store: EventStore) -> int | None:
    """The store's schema version (``store_schema_version`` of its tables), or None for a store
    without a schema (memory)."""
    reader = getattr(store, "schema_version", None)
    if reader is None or not callable(reader):
        return None
    return int(await reader())


async def dead_letters(projection: Projection[Any]) -> list[DeadLetter]:
    """The events skipped so far for ``projection``, in the order they were skipped."""
    connection = await projection.target.connect()
    try:
        return await connection.dead_letters(projection.name)
    finally:
        await connection.close()


@dataclass(frozen=True, slots=True)
class OperatorOutcome:
    """An operator's request as it stands when the wait for it ended.

    ``request.state`` is ``pending`` when no runner answered within the wait (the request stays
    queued: the runner holding the lease carries it out when it next runs), else ``done`` or
    ``refused`` with the runner's ``outcome``. ``failure`` is the failed event a retry or skip
    concerned; ``dead_letter`` the skipped event's record once the skip has committed.
    """

    request: OperatorRequest
    failure: EventFailure | None = None
    dead_letter: DeadLetter | None = None

    @property
    def answered(self) -> bool:
        """A runner answered (done or refused)."""
        return self.request.state is not RequestState.PENDING


async def failed_event(store: EventStore, projection: Projection[Any]) -> EventFailure:
    """The event ``projection`` stopped at, as its runner last reported; raises
    :class:`ProjectionStateError` when it is not failed."""
    status = await stored_status(store, projection)
    if status.state != "failed" or status.failure is None:
        raise ProjectionStateError(f"projection {projection.name!r} is {status.state}, not failed")
    return status.failure


async def retry_failed_event(
    store: EventStore, projection: Projection[Any], *, timeout: float = 30.0, by: str | None = None  # noqa: ASYNC109
) -> OperatorOutcome:
    """Ask the runner of a failed projection to try the event it stopped at again.

    Waits at most ``timeout`` seconds for the runner's answer. Raises
    :class:`ProjectionStateError` when the projection is not failed.
    """
    failure = await failed_event(store, projection)
    request = OperatorRequest.new(projection.name, RequestedAction.RETRY, position=failure.position, by=by)
    return OperatorOutcome(await _ask(projection, request, timeout), failure)


async def skip_failed_event(
    store: EventStore, projection: Projection[Any], *, timeout: float = 30.0, by: str | None = None  # noqa: ASYNC109
) -> OperatorOutcome:
    """Ask the runner of a failed projection to skip the event it stopped at (into the dead letters).

    Waits at most ``timeout`` seconds for the runner's answer and then for the skip to commit
    (``dead_letter`` is set once it has). Raises :class:`ProjectionStateError` when the
    projection is not failed.
    """
    failure = await failed_event(store, projection)
    request = OperatorRequest.new(projection.name, RequestedAction.SKIP, position=failure.position, by=by)
    deadline = time.monotonic() + _checked(timeout)
    answered = await _ask(projection, request, timeout)
    if answered.state is not RequestState.DONE:
        return OperatorOutcome(answered, failure)
    attempt = 0
    while True:
        letters = await dead_letters(projection)
        letter = next((item for item in letters if item.position == failure.position), None)
        if letter is not None or time.monotonic() >= deadline:
            return OperatorOutcome(answered, failure, letter)
        attempt += 1
        await asyncio.sleep(_POLL.delay(attempt))


async def rebuild(
    projection: Projection[Any], *, timeout: float = 30.0, by: str | None = None  # noqa: ASYNC109
) -> OperatorOutcome:
    """Ask the runner of ``projection`` to rebuild its read model from the start, beside the
    serving build (which keeps serving until the new one has caught up and takes over)."""
    request = OperatorRequest.new(projection.name, RequestedAction.REBUILD, by=by)
    return OperatorOutcome(await _ask(projection, request, timeout))


async def _ask(projection: Projection[Any], request: OperatorRequest, timeout: float) -> OperatorRequest:  # noqa: ASYNC109
    """Record ``request`` in the projection's bookkeeping; the request as it stands once the
    runner answered it, or when ``timeout`` seconds have passed."""
    deadline = time.monotonic() + _checked(timeout)
    connection: TargetConnection[Any] = await projection.target.connect()
    try:
        await connection.save_request(request)
        attempt = 0
        while True:
            current = await connection.read_request(request.id) or request
            if current.state is not RequestState.PENDING or time.monotonic() >= deadline:
                return current
            attempt += 1
            await asyncio.sleep(min(_POLL.delay(attempt), max(deadline - time.monotonic(), 0.0)))
    finally:
        await connection.close()


def _checked(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0:
        raise InvalidArgument(f"timeout must be a number of seconds >= 0, not {timeout!r}")
    return float(timeout)
