"""Leases: at most one runner per (projection, schema version, target), across processes and machines.

Two mechanisms, both plain database features (nothing here invents consensus):

- PostgreSQL: a session advisory lock, held by the very connection the runner writes its
  batches on. It dies with that connection, so a killed runner frees it at once.
- SQLite (and the in-memory target): a lease row with an owner and an expiry. The owner renews
  it in every batch transaction and on a heartbeat while idle; a runner that died stops
  renewing, and a standby takes the row over once it has expired.

The lease keeps two runners from doing the same work. It is not what makes effects exactly
once: the checkpoint compare-and-set is (a runner that lost its lease without noticing is
stopped by it).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from dataclasses import dataclass

from eventledger.projections.sql import SQLTransaction


@dataclass(frozen=True, slots=True)
class LeasePolicy:
    """Timings of leases and standbys.

    - ``ttl``: seconds a lease row stays valid without renewal (how soon a standby takes over
      from a runner that died, where the lease is a row).
    - ``renew_every``: seconds between heartbeats while idle (well under ``ttl``).
    - ``standby_poll``: seconds between a standby's attempts to take the lease.
    """

    ttl: float = 10.0
    renew_every: float = 2.0
    standby_poll: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.renew_every < self.ttl:
            raise ValueError(f"renew_every ({self.renew_every}) must be > 0 and below ttl ({self.ttl})")
        if self.standby_poll <= 0:
            raise ValueError("standby_poll must be > 0")


def new_owner_id() -> str:
    """A runner identity that says where it runs: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_key(projection: str, version: int) -> str:
    """The lease a runner of ``projection`` at schema ``version`` needs."""
    return f"{projection}:v{version}"


def advisory_lock_id(namespace: str, key: str) -> int:
    """A signed 64-bit id for ``pg_try_advisory_lock`` from a namespace (the schema) and a lease key."""
    digest = hashlib.blake2b(f"eventledger:{namespace}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True, slots=True)
class LeaseRows:
    """The lease-row table's SQL (``{prefix}leases``); times are Unix seconds."""

    table: str

    def create_statement(self) -> str:
        """Idempotent DDL for the lease table."""
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "lease TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL)"
        )

    async def acquire(self, sql: SQLTransaction, key: str, owner: str, ttl: float) -> bool:
        """Take or extend the lease when it is free, expired or already ours."""
        now = time.time()
        row = await sql.fetch_one(f"SELECT owner, expires_at FROM {self.table} WHERE lease = %s", (key,))
        if row is None:
            await sql.execute(
                f"INSERT INTO {self.table} (lease, owner, expires_at) VALUES (%s, %s, %s)",
                (key, owner, now + ttl),
            )
            return True
        if row[0] != owner and float(row[1]) > now:
            return False
        await sql.execute(
            f"UPDATE {self.table} SET owner = %s, expires_at = %s WHERE lease = %s",
            (owner, now + ttl, key),
        )
        return True

    async def renew(self, sql: SQLTransaction, key: str, owner: str, ttl: float) -> bool:
        """Extend our lease; False when it is no longer ours (someone took it after it expired)."""
        changed = await sql.execute(
            f"UPDATE {self.table} SET expires_at = %s WHERE lease = %s AND owner = %s",
            (time.time() + ttl, key, owner),
        )
        return changed == 1

    async def release(self, sql: SQLTransaction, key: str, owner: str) -> None:
        """Give the lease up so a standby can take it at once."""
        await sql.execute(f"DELETE FROM {self.table} WHERE lease = %s AND owner = %s", (key, owner))
