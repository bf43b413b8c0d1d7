"""LISTEN for appends made by other processes, and wake this process's subscribers.

A notification is only a hint that something may be new: subscribers always re-read the global
log through the visibility barrier, and keep polling as well, so a lost or late notification
costs latency, never an event. The listener holds one connection of its own (a pooled
connection cannot stay in LISTEN), and when that connection drops it reconnects with a growing
pause, waking subscribers after each reconnect in case a notification went by meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final

import psycopg

from eventledger.store.postgres_connection import ConnectionSettings
from eventledger.store.postgres_schema import sql_text

logger: Final = logging.getLogger("eventledger.postgres")

_RECONNECT_DELAYS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


class NotificationListener:
    """One LISTEN connection per store, started by the first subscriber that waits."""

    def __init__(self, settings: ConnectionSettings, channel: str, wake: Callable[[], None]) -> None:
        self._settings = settings
        self._channel = channel
        self._wake = wake
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        #: Set while the LISTEN is in place (tests and status pages read it).
        self.listening = asyncio.Event()

    def start(self) -> None:
        """Start listening in the background (idempotent; never again once stopped)."""
        if self._stopped:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._listen_forever(), name=f"eventledger LISTEN {self._channel}"
            )

    async def stop(self) -> None:
        """Stop listening and close the connection, for good."""
        # A subscriber still finishing its last read must not start a new listener after this.
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.listening.clear()

    async def _listen_forever(self) -> None:
        failures = 0
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(self._settings.conninfo, autocommit=True)
            except psycopg.Error as error:
                failures = await self._pause(failures, error)
                continue
            try:
                await connection.execute(sql_text(f'LISTEN "{self._channel}"'))
                self.listening.set()
                failures = 0
                # Anything appended while we were not listening must not wait for the next poll.
                self._wake()
                async for _ in connection.notifies():
                    self._wake()
            except psycopg.Error as error:
                self.listening.clear()
                failures = await self._pause(failures, error)
            finally:
                self.listening.clear()
                with contextlib.suppress(psycopg.Error):
                    await connection.close()

    async def _pause(self, failures: int, error: psycopg.Error) -> int:
        delay = _RECONNECT_DELAYS[min(failures, len(_RECONNECT_DELAYS) - 1)]
        logger.warning(
            "eventledger: LISTEN connection to %s lost (%s); subscribers keep polling, reconnecting in %ss",
            self._settings.describe(),
            self._settings.scrub(" ".join(str(error).split())),
            delay,
        )
        await asyncio.sleep(delay)
        return failures + 1
