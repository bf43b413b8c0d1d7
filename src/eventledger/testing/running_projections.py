"""The projections a test scenario needs, running in the background of the test's own process.

An API test appends through the application and then reads a read model: between the two,
the projections must have applied the append. :func:`running_projections` starts a real
:class:`~eventledger.projections.ProjectionRunner` in a task for the block's duration;
``await running.caught_up_with(result)`` waits for one append, ``await running.caught_up()``
for everything so far. Both waits are bounded, and a projection that fails, or a runner that
dies, ends them with its own error rather than a hang. At the end of the block the runner
stops cleanly; a projection that failed meanwhile fails the block even when nobody waited.

>>> async with running_projections(store, [CartDetails, ShoppingCartsSummary], target=target) as running:
...     result = await api.post("/carts/c1/items", json=item)
...     await running.caught_up_with(result)
...     assert (await api.get("/carts/c1")).json()["items"] == [item]
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any, Final

from eventledger.errors import InvalidArgument, ProjectionFailed
from eventledger.projections import Projection, ProjectionRetryPolicy, ProjectionRunner, Target
from eventledger.projections.status import ProjectionStatus
from eventledger.projections.waits import ProjectionNotRunning
from eventledger.store.base import EventStore
from eventledger.store.records import AppendResult

DEFAULT_TIMEOUT: Final = 30.0
"""Seconds a wait may take before it fails the test: far above what it takes on an idle machine."""

QUICK_RETRIES: Final = ProjectionRetryPolicy(attempts=3, first_delay=0.001, max_delay=0.01)
"""A failing handler is retried briefly, so that its failure reaches the test at once."""

ENDING: Final = 10.0
"""Seconds a runner that is no longer running gets to end its task, before the wait says so."""

ProjectionOrClass = Projection[Any] | type[Projection[Any]]
"""A projection, or a projection class to bind to the ``target`` given."""


class RunningProjections:
    """The runner :func:`running_projections` started, and bounded waits for what it applies."""

    def __init__(self, runner: ProjectionRunner, task: asyncio.Task[None], timeout: float) -> None:
        self.runner = runner
        self.timeout = timeout
        self._task = task

    @property
    def projections(self) -> list[Projection[Any]]:
        """The running projections (the classes given are bound to the target by now)."""
        return self.runner.projections

    async def caught_up(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until every projection has applied every event appended so far.

        Raises :class:`ProjectionFailed` when one failed, the runner's own error when it died,
        and :class:`~eventledger.projections.waits.ProjectionWaitTimeout` after ``timeout``
        seconds (default: the block's).
        """
        await self._surfaced(self.runner.wait_until_caught_up(timeout=self._bound(timeout)))

    async def caught_up_with(
        self,
        appended: AppendResult | int,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (a bound named in the error it ends with)
        projection: str | None = None,
    ) -> None:
        """Wait until every projection (or the one named) has applied ``appended``: an
        :class:`AppendResult` or a position. Raises as :meth:`caught_up` does."""
        position = appended.last_position if isinstance(appended, AppendResult) else appended
        if position is None:
            return  # an empty append wrote nothing to wait for
        wait = self.runner.wait_for_position(position, timeout=self._bound(timeout), projection=projection)
        await self._surfaced(wait)

    async def status(self) -> list[ProjectionStatus]:
        """Every running projection's status."""
        return await self.runner.status()

    def _bound(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    async def _surfaced(self, wait: Awaitable[None]) -> None:
        """Await ``wait``; when the runner stopped meanwhile, raise what ended it instead."""
        try:
            await wait
        except ProjectionNotRunning:
            await asyncio.wait({self._task}, timeout=ENDING)
            ended = self._task.exception() if self._task.done() and not self._task.cancelled() else None
            if ended is not None:
                raise ended from None
            raise


@contextlib.asynccontextmanager
async def running_projections(
    store: EventStore,
    projections: Sequence[ProjectionOrClass],
    *,
    target: Target[Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (the waits' default bound, named in their errors)
    retry: ProjectionRetryPolicy = QUICK_RETRIES,
    batch_size: int = 500,
) -> AsyncIterator[RunningProjections]:
    """Run ``projections`` over ``store`` in the background for the block; yield their waits.

    ``projections`` are projection instances, or projection classes that are bound to
    ``target`` here. ``timeout`` bounds each wait of the block (seconds). ``retry`` defaults to
    a few quick attempts, so a failing handler fails the test rather than stalling it. On
    leaving the block the runner stops after the batch it is applying; a projection that
    failed meanwhile raises :class:`ProjectionFailed` there (unless the block is already
    raising), and so does an error that ended the runner.
    """
    bound = [_bound_to(item, target) for item in projections]
    runner = ProjectionRunner(store, bound, batch_size=batch_size, retry=retry, owner="running_projections")
    task = asyncio.create_task(runner.run(handle_signals=False), name="running_projections")
    running = RunningProjections(runner, task, timeout)
    raising = False
    try:
        yield running
    except BaseException:
        raising = True
        raise
    finally:
        failed = [] if raising or task.done() else [s for s in await runner.status() if s.failure is not None]
        runner.stop()
        try:
            await task
        except Exception:
            if not raising:
                raise
        if failed and failed[0].failure is not None:
            raise ProjectionFailed(failed[0].name, failed[0].failure)


def _bound_to(item: ProjectionOrClass, target: Target[Any] | None) -> Projection[Any]:
    if isinstance(item, Projection):
        return item
    if isinstance(item, type) and issubclass(item, Projection):
        if target is None:
            raise InvalidArgument(
                f"running_projections got the class {item.__qualname__}: pass target=... to bind it to, "
                "or pass a projection instance"
            )
        return item(target)
    raise InvalidArgument(f"running_projections takes projections or projection classes, not {item!r}")
