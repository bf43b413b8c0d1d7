"""Running projections from synchronous code: the async runner, on the store's loop thread.

>>> runner = ProjectionRunner(store, [OrderSummaries(SQLiteTarget("read.db"))])   # doctest: +SKIP
>>> runner.run_until_caught_up()          # a script or a test: apply the log, return  # doctest: +SKIP
>>> with runner:                          # an app server: follow the log in the background
...     ...                               # doctest: +SKIP

Every method is the async :class:`~eventledger.ProjectionRunner`'s, blocking, with the same
errors. :meth:`ProjectionRunner.start` runs it in the background, on the synchronous store's
loop thread, until :meth:`ProjectionRunner.stop`: the handlers stay ``async def`` methods and
run on that thread, so a handler must not call the synchronous API (it raises
:class:`~eventledger.StoreError` there rather than hang); use the session the target hands it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from eventledger.errors import InvalidArgument, ProjectionStateError
from eventledger.projections.builds import Build
from eventledger.projections.failures import DeadLetter, EventFailure
from eventledger.projections.projection import Projection
from eventledger.projections.runner import ProjectionRunner as AsyncProjectionRunner
from eventledger.projections.status import ProjectionStatus
from eventledger.sync.store import EventStore


class ProjectionRunner:
    """Runs projections against a synchronous store, in its loop thread.

    Takes the options of the async :class:`~eventledger.ProjectionRunner` (``batch_size``,
    ``retry``, ``lease``, ``listeners``, ...). As a context manager it starts on entry and
    stops on exit.
    """

    def __init__(self, store: EventStore, projections: Sequence[Projection[Any]], **options: Any) -> None:
        if not isinstance(store, EventStore):
            raise InvalidArgument(
                f"eventledger.sync.ProjectionRunner needs a store from eventledger.sync.open_store, "
                f"not {store!r}"
            )
        self.store = store

        async def make() -> AsyncProjectionRunner:
            return AsyncProjectionRunner(store.async_store, projections, **options)

        # Made on the loop thread, where everything it creates will be used.
        self.runner = store.portal.call(make())
        self._run: concurrent.futures.Future[None] | None = None

    @property
    def projections(self) -> list[Projection[Any]]:
        """The projections this runner runs."""
        return self.runner.projections

    def run_until_caught_up(self, *, lease_wait: float | None = None) -> list[ProjectionStatus]:
        """Apply every event in the log to every projection, then return their statuses."""
        return self.store.portal.call(self.runner.run_until_caught_up(lease_wait=lease_wait))

    def start(self) -> None:
        """Run every projection in the background (live, following the log) until :meth:`stop`.

        Raises :class:`~eventledger.errors.ProjectionStateError` when it is running already.
        """
        if self._run is not None and not self._run.done():
            raise ProjectionStateError("this runner is running already; stop() it first")
        self._run = self.store.portal.submit(self.runner.run(handle_signals=False))

    def stop(self) -> None:
        """Stop after the batch each projection is applying, and wait for that.

        Raises what ended the run, if it ended with an error (a failed projection whose
        policy stops the runner, a lost lease it could not win back, ...).
        """
        run, self._run = self._run, None
        if run is None:
            return
        self.store.portal.call_soon(self.runner.stop)
        # A cancelled run: the store closed first, and ended the run with it.
        with contextlib.suppress(concurrent.futures.CancelledError):
            run.result()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop` while the run has not ended by itself."""
        return self._run is not None and not self._run.done()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_for_position(self, position: int, *, timeout: float, projection: str | None = None) -> None:
        """While started: wait until the checkpoints reach ``position`` (read your own writes).

        See :meth:`eventledger.ProjectionRunner.wait_for_position`; ``timeout`` is required.
        """
        self.store.portal.call(
            self.runner.wait_for_position(position, timeout=timeout, projection=projection)
        )

    def wait_until_caught_up(self, *, timeout: float | None = None) -> None:
        """While started: wait until every projection has applied the whole log and is live."""
        self.store.portal.call(self.runner.wait_until_caught_up(timeout=timeout))

    def status(self) -> list[ProjectionStatus]:
        """Every projection's :class:`~eventledger.ProjectionStatus`."""
        return self.store.portal.call(self.runner.status())

    def status_of(self, name: str) -> ProjectionStatus:
        """One projection's :class:`~eventledger.ProjectionStatus`."""
        return self.store.portal.call(self.runner.status_of(name))

    def rebuild(self, name: str) -> Build:
        """Rebuild a projection into new tables beside the serving ones (blue/green)."""
        return self.store.portal.call(self.runner.rebuild(name))

    def retry(self, name: str) -> EventFailure:
        """Retry the event a failed projection stopped at."""
        return self.store.portal.call(self.runner.retry(name))

    def skip_failed_event(self, name: str) -> EventFailure:
        """Skip the event a failed projection stopped at, recording it as a dead letter."""
        return self.store.portal.call(self.runner.skip_failed_event(name))

    def dead_letters(self, name: str) -> list[DeadLetter]:
        """The events skipped so far for projection ``name``."""
        return self.store.portal.call(self.runner.dead_letters(name))
