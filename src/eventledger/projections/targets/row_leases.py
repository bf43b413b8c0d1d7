"""Leases kept as rows with an expiry (:class:`~eventledger.projections.leases.LeaseRows`).

For SQL targets whose connections cannot hold a lock for as long as they live (SQLite, and any
database reached through SQLAlchemy's pool): the lease is a row, taken when free or expired, and
renewed inside every batch transaction, so a batch commits only while its runner still holds it.
"""

from __future__ import annotations

from eventledger.projections.checkpoints import CheckpointTables
from eventledger.projections.leases import LeaseRows
from eventledger.projections.sql import SQLTransaction
from eventledger.projections.targets.sql import SQLTargetConnection


class RowLeaseConnection(SQLTargetConnection):
    """A SQL target connection whose lease is a row in ``leases``."""

    def __init__(self, checkpoints: CheckpointTables, leases: LeaseRows) -> None:
        super().__init__(checkpoints)
        self.leases = leases
        self._lease: tuple[str, str, float] | None = None

    async def acquire_lease(self, key: str, owner: str, ttl: float) -> bool:
        """Take the lease row when it is free or expired."""
        async with self.transaction({}) as sql:
            taken = await self.leases.acquire(sql, key, owner, ttl)
        self._lease = (key, owner, ttl) if taken else None
        self._lease_owner = owner
        return taken

    async def renew_lease(self) -> bool:
        """Extend the lease row; False when another runner took it."""
        if self._lease is None:
            return False
        key, owner, ttl = self._lease
        async with self.transaction({}) as sql:
            kept = await self.leases.renew(sql, key, owner, ttl)
        if not kept:
            self._lease = None
        return kept

    async def check_lease(self, sql: SQLTransaction) -> bool:
        """Renew the lease row inside the batch transaction; False when it is not ours."""
        if self._lease is None:
            return False
        key, owner, ttl = self._lease
        return await self.leases.renew(sql, key, owner, ttl)

    async def release_lease(self) -> None:
        """Delete our lease row so a standby can take over at once."""
        if self._lease is None:
            return
        key, owner, _ = self._lease
        self._lease = None
        async with self.transaction({}) as sql:
            await self.leases.release(sql, key, owner)
