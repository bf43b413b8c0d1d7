"""A worker's lease on its projection: take it (standing by while another runner holds it), keep
it alive with a heartbeat, and know whether it is held.

The lease itself is the target's (see :mod:`eventledger.projections.leases`); this part only
drives it. Standby polls and heartbeats come at fixed intervals from the :class:`LeasePolicy`:
they are a rhythm, not retries of something that failed, so they do not back off.

With work sharing (:mod:`.sharing`) the keeper also asks, before taking a free lease, whether
this runner's share allows it, and, while it holds the lease, whether it should hand it over:
then it waits for the batch in flight to commit, keeps the connection's lock so that no other
batch starts, and raises :class:`HandedOver`; the worker closes the connection (the lease goes
with it) and only then lets go of the lock.
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
from eventledger.projections.worker.sharing import WorkSharing
from eventledger.projections.worker.state import WorkerState
from eventledger.projections.worker.stopping import Stopped, StopSwitch

log = logging.getLogger("eventledger.projections")


class HandedOver(Exception):
    """This runner holds more than its share: the lease is given back at a batch boundary.

    Raised with the worker's line lock held (no batch runs); whoever catches it closes the
    connection and then releases the lock.
    """


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
        self.sharing: WorkSharing | None = None
        """The runner's share of the work, when runners share it (set for each run)."""
        self.handing_over = False
        """True from :class:`HandedOver` until the worker released the line's lock."""
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
            if await self._try_take(connection):
                self.holds = True
                if self.sharing is not None:
                    self.sharing.took(self.key)
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

    async def _try_take(self, connection: TargetConnection[Any]) -> bool:
        sharing = self.sharing
        async with self._line.lock:
            taken = await connection.acquire_lease(self.key, self.owner, self.policy.ttl)
            if sharing is None:
                return taken
            if not taken:
                sharing.seen_held(self.key)
                # A runner that hangs keeps its lease where the lease is a session's lock.
                if sharing.may_take(self.key) and await connection.evict_lease_holder(
                    self.key, sharing.is_dead
                ):
                    log.warning("%s: ended the session of a runner whose membership expired", self.name)
                return False
            if sharing.may_take(self.key) or sharing.orphaned(self.key):
                return True
            # Free, but another runner's share: give it back at once and look again later.
            await connection.release_lease()
            return False

    async def heartbeat(self, each_beat: Callable[[TargetConnection[Any]], Awaitable[None]]) -> None:
        """Renew the lease every ``renew_every`` seconds until a stop; raises :class:`LeaseLost`.

        ``each_beat`` runs after each renewal, under the same use of the connection (the
        worker looks there whether its builds were replaced elsewhere).
        """
        connection = self._line.current()
        sharing = self.sharing
        renew_every = self.policy.renew_every
        tick = renew_every if sharing is None else min(renew_every, self.policy.standby_poll)
        renew_at = time.monotonic() + renew_every
        while True:
            try:
                await self._stop.pause(tick)
            except Stopped:
                return  # the builds finish their batches; the lease goes when the connection closes
            if sharing is not None and sharing.should_release(self.key):
                await self._line.lock.acquire()  # after the batch in flight; the worker releases it
                self.handing_over = True
                sharing.handing_over(self.key)
                log.info("%s: handing the lease over to a runner with less work", self.name)
                raise HandedOver(self.key)
            if time.monotonic() < renew_at:
                continue
            renew_at = time.monotonic() + renew_every
            async with self._line.lock:
                if not await connection.renew_lease():
                    raise LeaseLost(self.name, self.owner)
                await each_beat(connection)

    def handed_over(self) -> None:
        """The connection (and the lease with it) is gone: let go of the line's lock again."""
        if self.handing_over:
            self.handing_over = False
            self._line.lock.release()

    def lost(self) -> None:
        """The lease went (with the connection, or to another runner)."""
        self.holds = False
        if self.sharing is not None:
            self.sharing.dropped(self.key)
