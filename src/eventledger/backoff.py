"""The one back-off of the library: how long to wait before trying something again.

Every retry loop (a command after a conflict, a projection after a failing batch, a SQLite
write behind another process's lock, a subscriber or listener after a lost connection) takes
its delays from a :class:`Backoff`, so they all grow, cap and spread the same way.

>>> backoff = Backoff(first=0.01, maximum=1.0)
>>> [round(backoff.ceiling(attempt), 2) for attempt in (1, 2, 3, 8)]
[0.01, 0.02, 0.04, 1.0]
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from eventledger.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays that grow from ``first`` by ``multiplier`` up to ``maximum`` seconds, jittered.

    ``jitter`` is the fraction of each delay that is random: the n-th delay is drawn from
    ``[ceiling * (1 - jitter), ceiling]`` where ``ceiling = min(maximum, first * multiplier **
    (n - 1))``. Jitter keeps processes that failed together from retrying in lockstep; 0 makes
    the delays exact (for loops where only this process waits).
    """

    first: float
    maximum: float
    multiplier: float = 2.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.first <= self.maximum:
            raise InvalidArgument(
                f"back-off delays need 0 <= first <= maximum, not first={self.first!r}, "
                f"maximum={self.maximum!r}"
            )
        if not self.multiplier >= 1:
            raise InvalidArgument(f"back-off multiplier must be >= 1, not {self.multiplier!r}")
        if not 0 <= self.jitter <= 1:
            raise InvalidArgument(f"back-off jitter must be between 0 and 1, not {self.jitter!r}")

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number ``attempt`` (1-based)."""
        exponent = max(attempt - 1, 0)
        if exponent > 64:  # far past any maximum; avoids an overflow for absurd attempt counts
            return self.maximum
        return min(self.maximum, self.first * self.multiplier**exponent)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), jittered."""
        ceiling = self.ceiling(attempt)
        if not self.jitter:
            return ceiling
        return ceiling * (1 - self.jitter * random.random())

    def delays(self) -> Iterator[float]:
        """The delays after attempt 1, 2, 3, ... (endless; the caller decides when to give up)."""
        attempt = 1
        while True:
            yield self.delay(attempt)
            attempt += 1
