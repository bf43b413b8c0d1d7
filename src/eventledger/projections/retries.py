"""How a runner retries: a failing event a few times with back-off, the infrastructure forever."""

from __future__ import annotations

from dataclasses import dataclass

from eventledger.backoff import Backoff
from eventledger.errors import InvalidArgument

OUTAGE_GROWTH = 8
"""Outage retries after which their delay no longer grows (see :meth:`ProjectionRetryPolicy.outage_delay`)."""


@dataclass(frozen=True, slots=True)
class ProjectionRetryPolicy:
    """Back-off for retries.

    An event whose handler (or decoding) fails is tried ``attempts`` times in all; then the
    projection stops in state ``failed`` until an operator retries or skips it. Errors of the
    database itself (a lost connection, a lock held too long) are retried without limit, in
    state ``stalled``, since no event is at fault. Delays grow from ``first_delay`` by
    ``multiplier`` up to ``max_delay``; a fifth of each delay is random, so that runners do not
    retry in step.
    """

    attempts: int = 5
    first_delay: float = 0.1
    max_delay: float = 10.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise InvalidArgument(
                f"ProjectionRetryPolicy.attempts must be an int >= 1, not {self.attempts!r}"
            )
        # Checks the delays (0 <= first_delay <= max_delay, multiplier >= 1) once, here.
        self.backoff  # noqa: B018

    @property
    def backoff(self) -> Backoff:
        """The delays between attempts, a fifth of each random."""
        return Backoff(self.first_delay, self.max_delay, self.multiplier, jitter=0.2)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return self.backoff.delay(attempt)

    def outage_delay(self, outage: int) -> float:
        """Seconds to wait after the ``outage``-th failed try in a row against the database itself.

        Such waits go on for ever, so they stop growing after :data:`OUTAGE_GROWTH` tries (or at
        ``max_delay``, whichever is first): a database that comes back is noticed within one
        such delay.
        """
        return self.backoff.delay(min(outage, OUTAGE_GROWTH))
