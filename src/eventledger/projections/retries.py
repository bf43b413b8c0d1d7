"""How a runner retries: a failing event a few times with back-off, the infrastructure forever."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProjectionRetryPolicy:
    """Back-off for retries.

    An event whose handler (or decoding) fails is tried ``attempts`` times in all; then the
    projection stops in state ``failed`` until an operator retries or skips it. Errors of the
    database itself (a lost connection, a lock held too long) are retried without limit, in
    state ``stalled``, since no event is at fault. Delays grow from ``first_delay`` by
    ``multiplier`` up to ``max_delay``, with up to 25 % random jitter so that runners do not
    retry in step.
    """

    attempts: int = 5
    first_delay: float = 0.1
    max_delay: float = 10.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")
        if self.first_delay < 0 or self.max_delay < self.first_delay or self.multiplier < 1:
            raise ValueError("need 0 <= first_delay <= max_delay and multiplier >= 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.first_delay * self.multiplier ** max(attempt - 1, 0), self.max_delay)
        return base * (1 + random.random() * 0.25)
