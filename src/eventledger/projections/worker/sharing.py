"""A runner's share of the work: its membership of the group, and the lease decisions that follow.

One :class:`WorkSharing` per running :class:`~eventledger.projections.runner.ProjectionRunner`
(with ``share=``): it renews the runner's member row on a heartbeat of its own (a connection
to the target that keeps members, see :mod:`eventledger.projections.membership`) and answers
each worker's lease keeper:

- :meth:`may_take`: below its allowance, a runner takes a free lease at once;
- :meth:`orphaned`: at or above it, only a lease seen free for ``orphan_after`` seconds (its
  runner died, and the others have not seen its row expire yet);
- :meth:`should_release`: above its allowance while another live runner lacks leases, the
  worker holding one of the surplus leases gives it back at its next batch boundary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from eventledger.projections.membership import Member, SharePolicy, allowances, surplus
from eventledger.projections.targets.base import Target, TargetConnection

log = logging.getLogger("eventledger.projections")


class WorkSharing:
    """The membership of runner ``owner`` in ``group`` (``units`` leases in all), kept in ``target``."""

    def __init__(
        self,
        target: Target[Any],
        group: str,
        owner: str,
        units: int,
        policy: SharePolicy,
        *,
        standby_poll: float,
    ) -> None:
        self.target = target
        self.group = group
        self.owner = owner
        self.units = units
        self.policy = policy
        self.held: set[str] = set()
        """The lease keys this runner holds now."""
        self.members: list[Member] | None = None
        """The live members at the last heartbeat; None while unknown (then nothing limits takes)."""
        self._free_since: dict[str, float] = {}
        # The runner whose share a free lease is polls every standby_poll: give it two polls.
        self._orphan_after = max(policy.orphan_after, 2 * standby_poll)
        self._handed_over: dict[str, float] = {}
        self._warned = False
        self._seen: set[str] = set()
        """Every runner seen live in the group (a runner no longer live among them is dead)."""
        self._connection: TargetConnection[Any] | None = None

    # ------------------------------------------------------------------ membership

    async def beat(self) -> None:
        """Renew this runner's row and read the group's live members (errors are logged, not raised)."""
        try:
            if self._connection is None:
                self._connection = await self.target.connect()
            members = await self._connection.beat_member(
                self.group, self.owner, len(self.held), self.policy.member_ttl
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # The workers meet a database outage themselves; the last view of members stands.
            log.debug("work sharing: heartbeat failed: %s", error)
            await self._drop_connection()
            return
        if members is None:
            if not self._warned:
                log.warning("work sharing: %s keeps no members; every runner takes what it can", self.target)
                self._warned = True
        else:
            self._seen.update(member.owner for member in members)
        self.members = members

    async def keep_beating(self) -> None:
        """Beat every ``heartbeat`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.policy.heartbeat)
            await self.beat()

    async def leave(self) -> None:
        """Delete this runner's row (the others divide the work at once) and close the connection."""
        try:
            if self._connection is not None and not self._connection.broken:
                await self._connection.leave_group(self.group, self.owner)
        except Exception as error:
            log.debug("work sharing: leaving the group failed: %s", error)
        finally:
            await self._drop_connection()

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception as error:
                log.debug("work sharing: closing the connection failed: %s", error)

    # ------------------------------------------------------------------ decisions

    def allowance(self) -> int:
        """How many leases this runner should hold now (all of them while members are unknown)."""
        if self.members is None:
            return self.units
        return allowances([member.owner for member in self.members] + [self.owner], self.units)[self.owner]

    def may_take(self, key: str) -> bool:
        """May a worker take lease ``key`` now, if it is free (below this runner's allowance)?"""
        return key in self.held or len(self.held) < self.allowance()

    def orphaned(self, key: str) -> bool:
        """Lease ``key`` was just found free: True once it has been free for ``orphan_after`` seconds
        (at least two standby polls), unless this runner handed it over within ``member_ttl``."""
        now = time.monotonic()
        if now - self._handed_over.get(key, -self.policy.member_ttl) < self.policy.member_ttl:
            return False
        since = self._free_since.setdefault(key, now)
        return now - since >= self._orphan_after

    def handing_over(self, key: str) -> None:
        """This runner gives lease ``key`` back for a runner with less work to take."""
        self._handed_over[key] = time.monotonic()

    def seen_held(self, key: str) -> None:
        """Lease ``key`` was just found held by another runner."""
        self._free_since.pop(key, None)

    def took(self, key: str) -> None:
        """This runner now holds lease ``key``."""
        self.held.add(key)
        self._free_since.pop(key, None)

    def dropped(self, key: str) -> None:
        """This runner no longer holds lease ``key``."""
        self.held.discard(key)

    def is_dead(self, owner: str) -> bool:
        """Was ``owner`` a live member of the group, whose row has expired since?"""
        if self.members is None or owner == self.owner:
            return False
        return owner in self._seen and owner not in {member.owner for member in self.members}

    def should_release(self, key: str) -> bool:
        """Should the worker holding ``key`` give it back (at its next batch boundary)?"""
        if self.members is None or key not in self.held:
            return False
        return key in surplus(self.owner, sorted(self.held), self.members, self.units)
