"""Waiting for read models: bounded waits that end with an error naming what was not reached.

Read-your-writes needs a wait: an append returns before the projections have applied it.
Every wait here has a bound and ends, one way or another, with a reason:

- the checkpoints reached the position: the wait returns;
- the bound passed first: :class:`ProjectionWaitTimeout` names each projection behind, its
  checkpoint and state, the position waited for and the bound;
- nothing can advance them (the runner is not running, or stopped meanwhile):
  :class:`ProjectionNotRunning`, at once, rather than waiting for ever;
- a projection stopped at an event it cannot apply: :class:`ProjectionFailed`, at once.

In the runner's own process (:meth:`ProjectionRunner.wait_for_position`) a wait wakes on the
runner's own news (:class:`ProgressSignal`: a batch committed, a state changed) and looks at
the checkpoints it holds in memory; it polls only as a fallback, for a projection on standby
whose progress is made elsewhere. Across processes (:func:`wait_for_checkpoint`) there is no
news to hear: the wait reads the checkpoint the runner persisted in the target's bookkeeping,
polling with the library's back-off.

>>> result = await store.append("order-1", [OrderPlaced(...)], expected_version=NO_STREAM)
>>> await wait_for_checkpoint(target, "order-summaries", result.positions[-1], timeout=5)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from eventledger.backoff import Backoff
from eventledger.errors import InvalidArgument, ProjectionError, ProjectionFailed
from eventledger.projections.builds import BuildState
from eventledger.projections.failures import EventFailure
from eventledger.projections.listeners import BatchApplied, ProjectionListener, StateChanged
from eventledger.projections.status import ProjectionState
from eventledger.projections.targets.base import Target

WAIT_POLL: Final = Backoff(first=0.005, maximum=0.2, jitter=0.2)
"""How often a wait looks again when nothing tells it of progress: soon at first, then every
0.2 s at most (jittered, so waiters in many processes do not read in lockstep)."""


class ProjectionWaitTimeout(ProjectionError, TimeoutError):
    """Projections did not reach a position within the bound a wait was given.

    ``projections`` are the ones still behind; ``checkpoints`` their checkpoints (None: no
    build yet, no runner has started them); ``states`` what they were doing, when known. It is
    also a :class:`TimeoutError`, so code written for ``asyncio.timeout()`` catches it.
    """

    def __init__(
        self,
        projections: Sequence[str],
        position: int,
        checkpoints: Mapping[str, int | None],
        timeout: float,
        states: Mapping[str, str] | None = None,
    ) -> None:
        self.projections = tuple(projections)
        self.position = position
        self.checkpoints = dict(checkpoints)
        self.timeout = timeout
        self.states = dict(states or {})
        behind = ", ".join(self._describe(name) for name in self.projections)
        self.message = (
            f"projection{'s' if len(self.projections) != 1 else ''} {behind} did not reach position "
            f"{position} within {timeout:g} s"
        )
        super().__init__(self.message)
        self.args = (self.message,)

    def __str__(self) -> str:
        # TimeoutError is an OSError, whose own str() would show its errno fields instead.
        return self.message

    def _describe(self, name: str) -> str:
        checkpoint = self.checkpoints.get(name)
        at = "no checkpoint yet" if checkpoint is None else f"checkpoint {checkpoint}"
        state = self.states.get(name)
        return f"{name!r} ({at}{', ' + state if state else ''})"


class ProjectionNotRunning(ProjectionError):
    """A wait for projections that nothing in this process is advancing: it would never end.

    ``projections`` are the ones waited for; ``reason`` says what is not running.
    """

    def __init__(self, projections: Sequence[str], reason: str) -> None:
        self.projections = tuple(projections)
        self.reason = reason
        names = ", ".join(repr(name) for name in self.projections) or "none"
        super().__init__(
            f"cannot wait for projections {names}: {reason}; start runner.run() in a task first "
            "(or apply the log with run_until_caught_up())"
        )


class ProgressSignal(ProjectionListener):
    """Wakes the waits of one runner whenever something they look at may have moved.

    A committed batch moves a checkpoint; a state change may mean a failure, a stop or a lease
    taken. The runner also wakes it when its run ends. Each waiter gets a future of its own,
    so the signal is not tied to one event loop.
    """

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def batch_applied(self, batch: BatchApplied) -> None:
        """A checkpoint moved."""
        self.wake()

    def state_changed(self, change: StateChanged) -> None:
        """A projection failed, stopped, went live or changed hands."""
        self.wake()

    def wake(self) -> None:
        """Wake every waiter (they look again)."""
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def next(self) -> asyncio.Future[None]:
        """A future done at the next :meth:`wake` (take it before looking, so no news is missed)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        return waiter

    def forget(self, waiter: asyncio.Future[None]) -> None:
        """Drop a waiter that stopped waiting (so quiet polls do not pile futures up)."""
        self._waiters.discard(waiter)
        waiter.cancel()


@dataclass(frozen=True, slots=True)
class WaitReading:
    """One look at the projections waited for: their checkpoints, and which are still behind."""

    position: int
    """The position waited for (for a wait until caught up: the head of the log)."""
    checkpoints: Mapping[str, int | None]
    behind: tuple[str, ...]
    states: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, position: int, checkpoints: Mapping[str, int | None], states: Mapping[str, str] | None = None
    ) -> WaitReading:
        """The reading where a projection is behind until its checkpoint reaches ``position``."""
        behind = tuple(name for name, at in checkpoints.items() if at is None or at < position)
        return cls(position, checkpoints, behind, dict(states or {}))


def checked_timeout(timeout: float | None) -> float | None:
    """``timeout`` when it is None or a number of seconds >= 0; otherwise :class:`InvalidArgument`."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0:
        raise InvalidArgument(f"timeout must be a number of seconds >= 0, not {timeout!r}")
    return float(timeout)


def checked_position(position: int) -> int:
    """``position`` when it is an int >= 0; otherwise :class:`InvalidArgument`."""
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise InvalidArgument(f"a position to wait for must be an int >= 0, not {position!r}")
    return position


async def wait_until(
    look: Callable[[], Awaitable[WaitReading]],
    *,
    timeout: float | None,  # noqa: ASYNC109 (the error it ends with names the bound)
    signal: ProgressSignal | None = None,
    poll: Backoff = WAIT_POLL,
) -> WaitReading:
    """Look until nothing is behind; raise :class:`ProjectionWaitTimeout` after ``timeout`` seconds.

    ``look`` raises itself when the wait cannot succeed (not running, failed). With a
    ``signal`` each news wakes the wait at once; between news (and without a signal) it looks
    again after the back-off's delays, which restart after each news.
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    quiet = 0
    while True:
        news = signal.next() if signal is not None else None
        try:
            reading = await look()
            if not reading.behind:
                return reading
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                assert timeout is not None
                raise ProjectionWaitTimeout(
                    reading.behind, reading.position, reading.checkpoints, timeout, reading.states
                )
            quiet += 1
            delay = poll.delay(quiet) if remaining is None else min(poll.delay(quiet), remaining)
            if news is None:
                await asyncio.sleep(delay)
                continue
            done, _ = await asyncio.wait({news}, timeout=delay)
            if done:
                quiet = 0
        finally:
            if signal is not None and news is not None:
                signal.forget(news)


async def stored_checkpoint(
    target: Target[Any], projection: str
) -> tuple[int | None, str | None, EventFailure | None]:
    """The checkpoint of ``projection``'s serving build as its target recorded it, with the state
    its runner last reported and that report's failure (None when there is none).

    SQL targets read their bookkeeping from any process; a target that keeps it in the running
    process (memory) is asked through a connection of its own.
    """
    bookkeeping = await target.read_bookkeeping(projection)
    if bookkeeping is None:
        connection = await target.connect()
        try:
            build = await connection.serving_build(projection)
        finally:
            await connection.close()
        return (None if build is None else build.position), None, None
    active = next((build for build in bookkeeping.builds if build.state is BuildState.ACTIVE), None)
    if active is None:
        return None, None, None
    report = next((report for report in bookkeeping.reports if report.version == active.version), None)
    if report is None:
        return active.position, None, None
    failure = report.failure if report.state is ProjectionState.FAILED else None
    return active.position, report.state.value, failure


async def wait_for_checkpoint(
    target: Target[Any],
    projection: str,
    position: int,
    *,
    timeout: float,  # noqa: ASYNC109 (the error it ends with names the bound)
    poll: Backoff = WAIT_POLL,
) -> int:
    """Wait until ``projection``'s checkpoint in ``target`` is at or beyond ``position``; return it.

    Read-your-writes across processes: the process that appended waits for the runner in
    another process (or on another machine) by reading the checkpoint the runner commits with
    each batch, so the read model it reads next holds the append. ``position`` is an append's
    last position (``result.positions[-1]``); events the projection has no handler for advance
    its checkpoint too. Raises :class:`ProjectionWaitTimeout` after ``timeout`` seconds (naming
    the checkpoint and the runner's last reported state), and :class:`ProjectionFailed` at
    once when the runner reports the projection stopped at an event before ``position``.
    """
    checked_position(position)
    bound = checked_timeout(timeout)
    if bound is None:
        raise InvalidArgument("wait_for_checkpoint needs a timeout in seconds")

    async def look() -> WaitReading:
        checkpoint, state, failure = await stored_checkpoint(target, projection)
        reading = WaitReading.of(position, {projection: checkpoint}, {projection: state} if state else None)
        if reading.behind and failure is not None:
            raise ProjectionFailed(projection, failure)
        return reading

    reading = await wait_until(look, timeout=bound, poll=poll)
    reached = reading.checkpoints[projection]
    assert reached is not None
    return reached
