"""Segments: one projection applied in parallel by several workers, split by stream.

A projection declaring ``segments=N`` is applied by N workers (in one runner or spread over
several, see :mod:`.membership`), each with its own lease and its own checkpoint. Segment ``k``
applies the events of the streams whose stable hash (:func:`segment_of`) is ``k``; all events
of one stream are in one segment, so they are applied in the order of the log, and each segment
is exactly once as a whole projection is.

Every segment reads the whole log and passes over the other segments' events (its checkpoint
moves past them, as past events it has no handler for): N segments cost N reads of the log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def segment_of(stream_id: str, segments: int) -> int:
    """The segment of ``stream_id`` among ``segments`` (stable across processes, machines, Pythons).

    >>> segment_of("order-1", 4) == segment_of("order-1", 4)
    True
    """
    digest = hashlib.blake2b(stream_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % segments


@dataclass(frozen=True, slots=True)
class Segment:
    """Segment ``index`` of ``count`` of a projection."""

    index: int
    count: int

    def owns(self, stream_id: str) -> bool:
        """Is ``stream_id``'s every event this segment's to apply?"""
        return segment_of(stream_id, self.count) == self.index

    def unit(self, projection: str) -> str:
        """The segment's name in statuses, reports, leases and operator actions: ``name[k]``."""
        return f"{projection}[{self.index}]"


def segments_of(count: int) -> list[Segment | None]:
    """The segments a projection with ``count`` segments is applied in ([None]: it is not split)."""
    return [None] if count == 1 else [Segment(index, count) for index in range(count)]
