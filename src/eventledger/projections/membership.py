"""Work sharing: which runners are alive, and how many leases each should hold.

Runners that run the same set of projections form a *group*. Each one keeps a row in
``{prefix}workers`` (in the database of its first SQL target) with its owner id, how many
leases it holds and an expiry it renews every :attr:`SharePolicy.heartbeat` seconds. Every
runner reads the live rows of its group and computes, by the same pure rule
(:func:`allowances`), how many leases each member should hold: the units (projections) divided
as evenly as possible, the first members in owner order taking one more when they do not divide.

Nothing here is consensus: a runner that sees an older list of members may take a lease too
many for a moment; it gives it back at a batch boundary once its view catches up. What keeps
effects exactly once is unchanged: the lease, and the checkpoint compare-and-set behind it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eventledger.errors import InvalidArgument
from eventledger.projections.sql import Dialect, SQLTransaction


@dataclass(frozen=True, slots=True)
class SharePolicy:
    """Timings of work sharing between runners (``ProjectionRunner(share=SharePolicy())``).

    - ``heartbeat``: seconds between renewals of this runner's member row (and readings of the
      others').
    - ``member_ttl``: seconds a member row stays live without renewal; after it a runner that
      died or hangs no longer counts when the others divide the work.
    - ``orphan_after``: seconds a lease must be seen free before a runner takes it although it
      already holds its share (a runner died and its row has not expired yet); at least two of
      the :class:`~eventledger.projections.leases.LeasePolicy`'s standby polls, so the runner
      whose share it is takes it first. A runner never takes back this way a lease it handed
      over within ``member_ttl``.
    """

    heartbeat: float = 0.5
    member_ttl: float = 3.0
    orphan_after: float = 0.3

    def __post_init__(self) -> None:
        for name in ("heartbeat", "member_ttl", "orphan_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InvalidArgument(f"SharePolicy.{name} must be a number of seconds > 0, not {value!r}")
        if not self.heartbeat < self.member_ttl:
            raise InvalidArgument(
                f"SharePolicy.heartbeat ({self.heartbeat}) must be below member_ttl ({self.member_ttl})"
            )


@dataclass(frozen=True, slots=True)
class Member:
    """A live runner of a group, as its row says: its owner id and the leases it holds."""

    owner: str
    held: int


def group_id(unit_names: Iterable[str]) -> str:
    """The group of runners that run exactly these projections (a short stable digest)."""
    text = "\n".join(sorted(set(unit_names)))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def allowances(owners: Iterable[str], units: int) -> dict[str, int]:
    """How many of ``units`` leases each live member should hold.

    >>> allowances(["b", "a", "c"], 4)
    {'a': 2, 'b': 1, 'c': 1}
    """
    ordered = sorted(set(owners))
    if not ordered:
        return {}
    base, extra = divmod(units, len(ordered))
    return {owner: base + (1 if index < extra else 0) for index, owner in enumerate(ordered)}


def surplus(owner: str, held: Sequence[str], members: Sequence[Member], units: int) -> list[str]:
    """The leases ``owner`` should give back now: beyond its allowance, and only as many as other
    live members lack (so a runner that died, whose row has not expired, draws nothing away).

    The leases given back are the last of ``held`` in sorted order, so that each of the owner's
    workers can tell on its own whether its lease is one of them.
    """
    share = allowances([member.owner for member in members] + [owner], units)
    over = len(held) - share[owner]
    if over <= 0:
        return []
    lacking = sum(max(share[m.owner] - m.held, 0) for m in members if m.owner != owner)
    count = min(over, lacking)
    return sorted(held)[len(held) - count :] if count > 0 else []


@dataclass(frozen=True, slots=True)
class MemberRows:
    """The member table's SQL (``{prefix}workers``); times are Unix seconds."""

    dialect: Dialect
    table: str

    def create_statement(self) -> str:
        """Idempotent DDL for the member table."""
        real = "DOUBLE PRECISION" if self.dialect == "postgresql" else "REAL"
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "grp TEXT NOT NULL, owner TEXT NOT NULL, held INTEGER NOT NULL, "
            f"expires_at {real} NOT NULL, PRIMARY KEY (grp, owner))"
        )

    async def beat(self, sql: SQLTransaction, group: str, owner: str, held: int, ttl: float) -> list[Member]:
        """Renew ``owner``'s row (creating it) and return the group's live members, ``owner`` included."""
        now = time.time()
        await sql.execute(
            f"INSERT INTO {self.table} (grp, owner, held, expires_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (grp, owner) DO UPDATE SET held = excluded.held, expires_at = excluded.expires_at",
            (group, owner, held, now + ttl),
        )
        # Rows of runners long gone would otherwise pile up, one per process start.
        await sql.execute(f"DELETE FROM {self.table} WHERE expires_at < %s", (now - 60.0,))
        rows = await sql.fetch_all(
            f"SELECT owner, held FROM {self.table} WHERE grp = %s AND expires_at > %s ORDER BY owner",
            (group, now),
        )
        return [Member(str(row[0]), int(row[1])) for row in rows]

    async def leave(self, sql: SQLTransaction, group: str, owner: str) -> None:
        """Delete ``owner``'s row: the others divide the work without it at once."""
        await sql.execute(f"DELETE FROM {self.table} WHERE grp = %s AND owner = %s", (group, owner))
