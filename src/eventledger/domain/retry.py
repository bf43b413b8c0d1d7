"""How command handling retries after a concurrency conflict.

Two handlers that load the same stream and both append lose one append to a
:class:`~eventledger.ConcurrencyError`. The loser's decision was made on stale state, so the
only correct retry is the whole command again: reload, decide, append. The back-off is
exponential with jitter so that handlers that collided once do not collide again in lockstep.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from eventledger.backoff import Backoff
from eventledger.errors import ConcurrencyError, InvalidArgument

logger = logging.getLogger(__name__)

Outcome = TypeVar("Outcome")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with jittered exponential back-off, only for :class:`ConcurrencyError`.

    - ``attempts``: how many times the command runs at most (1 means never retry).
    - ``first_delay`` and ``max_delay``: seconds; the n-th retry waits a random time between
      half and all of ``min(max_delay, first_delay * 2 ** (n - 1))``.

    Any other error (a broken business rule, a missing aggregate) ends the command at once.
    When every attempt conflicted, the last :class:`ConcurrencyError` propagates, naming the
    stream (every stream, after a multi-stream append), with a note saying how many attempts
    were made.
    """

    attempts: int = 5
    first_delay: float = 0.005
    max_delay: float = 0.2

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise InvalidArgument(f"RetryPolicy.attempts must be an int >= 1, not {self.attempts!r}")
        if self.first_delay < 0 or self.max_delay < 0:
            raise InvalidArgument(
                f"RetryPolicy delays must be >= 0, not first_delay={self.first_delay!r}, "
                f"max_delay={self.max_delay!r}"
            )

    @property
    def backoff(self) -> Backoff:
        """The delays between attempts: doubling, capped, half of each random."""
        return Backoff(first=min(self.first_delay, self.max_delay), maximum=self.max_delay, jitter=0.5)

    def delay_before_retry(self, retry: int) -> float:
        """Seconds to wait before the ``retry``-th retry (1-based), jittered."""
        return self.backoff.delay(retry)

    async def run(
        self,
        operation: Callable[[], Awaitable[Outcome]],
        *,
        on_conflict: Callable[[ConcurrencyError], None] | None = None,
    ) -> Outcome:
        """Run ``operation`` until it succeeds, retrying it on :class:`ConcurrencyError`.

        ``on_conflict`` is told of each conflict (for statistics) before the back-off.
        """
        attempt = 1
        while True:
            try:
                return await operation()
            except ConcurrencyError as error:
                await asyncio.sleep(self._after_conflict(error, attempt, on_conflict))
                attempt += 1

    def run_blocking(
        self,
        operation: Callable[[], Outcome],
        *,
        on_conflict: Callable[[ConcurrencyError], None] | None = None,
    ) -> Outcome:
        """:meth:`run` for synchronous code (:mod:`eventledger.sync`): the back-off sleeps the thread."""
        attempt = 1
        while True:
            try:
                return operation()
            except ConcurrencyError as error:
                time.sleep(self._after_conflict(error, attempt, on_conflict))
                attempt += 1

    def _after_conflict(
        self,
        error: ConcurrencyError,
        attempt: int,
        on_conflict: Callable[[ConcurrencyError], None] | None,
    ) -> float:
        """Seconds to wait before the next attempt, or re-raise ``error`` when this was the last."""
        if on_conflict is not None:
            on_conflict(error)
        if attempt >= self.attempts:
            error.add_note(f"gave up after {attempt} attempt(s) on {_streams_of(error)}")
            raise error
        logger.debug("retrying after %s (attempt %d of %d)", error, attempt, self.attempts)
        return self.delay_before_retry(attempt)


def _streams_of(error: ConcurrencyError) -> str:
    """``stream 'a'``, or ``streams 'a', 'b'`` when a multi-stream append conflicted on several."""
    streams = [stream_id for stream_id, _, _ in error.conflicts]
    return f"stream{'s' if len(streams) > 1 else ''} {', '.join(repr(stream) for stream in streams)}"


NO_RETRY = RetryPolicy(attempts=1)
"""Run a command once; a conflict propagates at once."""
