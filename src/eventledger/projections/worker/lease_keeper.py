"""A worker's lease on its projection: take it (standing by while another runner holds it), keep
it alive with a heartbeat, and know whether it is held.

The lease itself is the target's (see :mod:`eventledger.projections.leases`); this part only
drives it. Standby polls and heartbeats come at fixed intervals from the :class:`LeasePolicy`:
they are a rhythm, not retries of something that failed, so they do not back off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from eventledger.errors import LeaseLost, ProjectionStateError
from eventledger.projections.leases import LeasePolicy, lease_key
from eventledger.projections.targets.base import TargetConnection
from eventledger.projections.worker.line import TargetLine
from eventledger.projections.worker.machine import Happening, Phase
from eventledger.projections.worker.state import WorkerState
from eventledger.projections.worker.stopping import Stopped, StopSwitch

log = logging.getLogger("eventledger.projections")


class LeaseKeeper:
    """Takes and keeps the lease ``(name, version)`` for ``owner`` over the worker's target line."""

    def __init__(
        self,
        name: str,
        version: int,
        owner: str,
        policy: LeasePolicy,
        *,
        line: TargetLine,
        state: WorkerState,
        stop: StopSwitch,
    ) -> None:
        self.name = name
        self.owner = owner
        self.policy = policy
        self.key = lease_key(name, version)
        self.holds = False
        """True while this worker holds the lease."""
        self._line = line
        self._state = state
        self._stop = stop

    async def take(self, deadline: float | None) -> None:
        """Take the lease, standing by until it is free.

        Raises :class:`ProjectionStateError` when another runner still holds it at ``deadline``
        (a ``time.monotonic()`` value; None waits for ever).
        """
        connection = self._line.current()
        while True:
            async with self._line.lock:
                taken = await connection.acquire_lease(self.key, self.owner, self.policy.ttl)
            if taken:
                self.holds = True
                self._state.happened(Happening.LEASE_TAKEN)
                return
            if self._state.phase is not Phase.STANDBY:
                log.info("%s: another runner holds the lease; standing by", self.name)
            self._state.happened(Happening.LEASE_REFUSED)
            if deadline is not None and time.monotonic() >= deadline:
                raise ProjectionStateError(
                    f"projection {self.name!r}: another runner holds its lease ({self.key}); "
                    "stop it, or wait for its lease to expire"
                )
            await self._stop.pause(self.policy.standby_poll)

    async def heartbeat(self, each_beat: Callable[[TargetConnection[Any]], Awaitable[None]]) -> None:
        """Renew the lease every ``renew_every`` seconds until a stop; raises :class:`LeaseLost`.

        ``each_beat`` runs after each renewal, under the same use of the connection (the
        worker looks there whether its builds were replaced elsewhere).
        """
        connection = self._line.current()
        while True:
            try:
                await self._stop.pause(self.policy.renew_every)
            except Stopped:
                return  # the builds finish their batches; the lease goes when the connection closes
            async with self._line.lock:
                if not await connection.renew_lease():
                    raise LeaseLost(self.name, self.owner)
                await each_beat(connection)

    def lost(self) -> None:
        """The lease went (with the connection, or to another runner)."""
        self.holds = False
