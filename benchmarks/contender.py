"""What every contender does: the workloads' primitive operations, each timed by the contender.

A contender times only the work a user would wait for (encoding, writing, reading, decoding);
building the input events and seeding the data happen before the clock starts. Stream names are
``{prefix}-{index}``; a contender that keys streams differently (``eventsourcing`` uses UUIDs)
maps the names itself, outside the timed part.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from benchmarks.payload import fields

_Row = TypeVar("_Row")

SEED_BATCH = 100
"""Events per append when seeding streams through a contender's own API."""


def stream_names(prefix: str, count: int, first: int = 0) -> list[str]:
    """The names of ``count`` streams under ``prefix``, numbered from ``first``."""
    return [f"{prefix}-{index}" for index in range(first, first + count)]


def pair_of(prefix: str, accounts: int, number: int) -> tuple[str, str, int]:
    """W4's append ``number``: the names of its two seeded streams and their current version.

    Append n takes streams 2p and 2p + 1 of the ``accounts`` seeded ones (p = n modulo
    ``accounts // 2``), each seeded with one event; the appends before it took that pair
    n // (accounts // 2) times.
    """
    pairs = accounts // 2
    pair = number % pairs
    return f"{prefix}-{2 * pair}", f"{prefix}-{2 * pair + 1}", 1 + number // pairs


def multi_stream_rows(
    prefix: str, accounts: int, count: int, first: int, row: Callable[[str, int, dict[str, Any]], _Row]
) -> list[list[_Row]]:
    """W4's appends as a raw driver writes them: for each, its three rows, each made by
    ``row(stream, version, data)`` at the version after the expected one."""
    batches = []
    for number in range(first, first + count):
        debit, credit, version = pair_of(prefix, accounts, number)
        base = 3 * number
        batches.append([
            row(debit, version + 1, fields(base)),
            row(credit, version + 1, fields(base + 1)),
            row(f"{prefix}-new-{number}", 1, fields(base + 2)),
        ])
    return batches


class Contender(Protocol):
    """One library (or the raw driver) on one place."""

    name: str

    def new_streams(self, count: int, first: int = 0) -> float:
        """W1: ``count`` new streams (numbered from ``first``) of one event each, one transaction
        each; seconds taken."""
        ...

    def seed(self, prefix: str, streams: int, events_each: int, batch: int = SEED_BATCH) -> None:
        """Create ``streams`` streams of ``events_each`` events (untimed), ``batch`` per append."""
        ...

    def append_exact(self, prefix: str, streams: int, count: int, current_version: int) -> float:
        """W2: ``count`` single-event appends with an exact expected version, round robin over
        the ``streams`` seeded streams that are all at ``current_version``; seconds taken."""
        ...

    def seed_aggregates(self, prefix: str, streams: int, length: int) -> None:
        """Create ``streams`` aggregates ``{prefix}-n`` of ``length`` events each through the
        contender's own aggregate API (raw: rows), untimed."""
        ...

    def update_aggregates(self, prefix: str, streams: int, count: int, first: int = 0) -> float:
        """W2c: ``count`` times (numbered from ``first``), load aggregate ``n % streams`` from its
        events, add one item and save it expecting the loaded version; seconds taken."""
        ...

    def append_batches(self, count: int, size: int, first: int = 0) -> float:
        """W3: ``count`` appends of ``size`` events, each to a new stream (numbered from
        ``first``); seconds taken."""
        ...

    def append_multi(self, prefix: str, accounts: int, count: int, first: int = 0) -> float:
        """W4: ``count`` multi-stream appends (numbered from ``first``), each of one event to
        each of 3 streams in one transaction: the 2 seeded streams of pair ``n % (accounts //
        2)`` (each at its exact expected version, :func:`pair_of`) and a new stream
        ``{prefix}-new-{n}``; seconds taken."""
        ...

    def load_stream(self, name: str) -> tuple[float, int]:
        """R1: load one whole stream into decoded events; (seconds, events loaded)."""
        ...

    def read_log(self) -> tuple[float, int]:
        """R2 and M1: read the whole global log from the start, decoded, without keeping it;
        (seconds, events read)."""
        ...

    def read_log_part(self, after: int, count: int) -> tuple[float, int, int]:
        """R2: read ``count`` events of the global log after position ``after`` (0: from the
        start), decoded; (seconds, events read, the position to continue after)."""
        ...

    def bulk_load(self, total: int, stream_length: int, prefix: str = "m1") -> None:
        """Fill the log with ``total`` events in streams ``{prefix}-0``, ``{prefix}-1``, ... of
        ``stream_length`` as fast as the database allows (bulk SQL in the contender's own layout,
        every event with a time of its own; untimed, for the read workloads)."""
        ...

    def append_until(self, deadline: float, prefix: str, streams: int) -> int:
        """C1: single-event appends to this writer's own streams until ``time.time()`` reaches
        ``deadline``; the number of events appended."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
