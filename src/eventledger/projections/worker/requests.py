"""Operator requests from other processes, taken at the lease's heartbeat and carried out here.

The requests themselves and why they name a position are described in
:mod:`eventledger.projections.requests`. Only the runner holding the lease takes them (the
heartbeat runs only there), under the worker's use of its connection, so they are carried out
between batches exactly as the runner's own ``retry``, ``skip_failed_event`` and ``rebuild``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from eventledger.projections.builds import Build
from eventledger.projections.projection import Projection
from eventledger.projections.requests import OperatorRequest, RequestedAction, RequestState
from eventledger.projections.targets.base import TargetConnection
from eventledger.projections.worker.decisions import Decisions
from eventledger.projections.worker.machine import Decision
from eventledger.projections.worker.runs import BuildRuns

log = logging.getLogger("eventledger.projections")

Rebuild = Callable[[TargetConnection[Any]], Awaitable[Build]]
"""Start a rebuild on the given connection (its lock held) and run it here."""


class RequestTaker:
    """Answers the pending requests for one projection, at each heartbeat of its lease."""

    def __init__(
        self,
        projection: Projection[Any],
        owner: str,
        *,
        runs: BuildRuns,
        decisions: Decisions,
        rebuild: Rebuild,
    ) -> None:
        self.projection = projection
        self.name = projection.name
        self.owner = owner
        self._runs = runs
        self._decisions = decisions
        self._rebuild = rebuild

    async def take(self, connection: TargetConnection[Any]) -> None:
        """Carry out what can be carried out now and record each answer (the caller holds the lock)."""
        for request in await connection.pending_requests(self.name):
            answer = await self._answer(connection, request)
            if answer is not None:
                log.warning("%s: operator request %s", self.name, answer.describe())
                await connection.save_request(answer)

    async def _answer(
        self, connection: TargetConnection[Any], request: OperatorRequest
    ) -> OperatorRequest | None:
        """The answered request, or None to leave it pending."""
        refused, done = RequestState.REFUSED, RequestState.DONE
        if request.action is RequestedAction.REBUILD:
            if not type(self.projection.target).replayable:
                reason = "its target's effects must not repeat; it cannot be rebuilt"
                return request.answered(refused, reason, self.owner)
            build = await self._rebuild(connection)
            return request.answered(
                done,
                f"rebuilding as build {build.number} from position {build.position}, "
                "beside the serving build",
                self.owner,
            )
        position = request.position
        if position is None:
            return request.answered(refused, "a retry or skip names the failed position", self.owner)
        decision = Decision.SKIP if request.action is RequestedAction.SKIP else Decision.RETRY
        failure = self._decisions.hand_over(position, decision)
        if failure is not None:
            doing = "skipping" if decision is Decision.SKIP else "retrying"
            return request.answered(
                done,
                f"{doing} position {position} ({failure.event_type} in {failure.stream_id})",
                self.owner,
            )
        runs = [run for run in self._runs.runs.values() if not run.retired]
        if runs and all(run.checkpoint >= position for run in runs):
            return request.answered(
                refused,
                f"the projection is past position {position} already (checkpoint "
                f"{min(run.checkpoint for run in runs)})",
                self.owner,
            )
        # Not stopped at that event (yet): still retrying it, or behind it. Ask again next beat.
        return None
