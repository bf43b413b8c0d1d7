"""NOTIFY other processes of appends; LISTEN for theirs and wake this process's subscribers.

Appends do not NOTIFY inside their own transaction: PostgreSQL serialises the commits of
notifying transactions (a lock held through the commit's WAL flush), which would cap
concurrent appenders at one commit at a time. The :class:`Announcer` sends the NOTIFY
afterwards, from a transaction of its own that writes nothing and so commits without a flush,
and folds a burst of appends into one notification.

A notification is only a hint that something may be new: subscribers always re-read the global
log through the visibility barrier, and keep polling as well, so a lost or late notification
costs latency, never an event. The listener holds one connection of its own (a pooled
connection cannot stay in LISTEN), and when that connection drops it reconnects with a growing
pause, waking subscribers after each reconnect in case a notification went by meanwhile.

A hot standby refuses LISTEN (and its primary's NOTIFYs never reach it anyway), so on a server
in recovery the listener says so once, at INFO, and stops for good: subscribers there follow
the log by polling every ``poll_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import psycopg

from eventledger.errors import StoreUnavailable
from eventledger.store.drivers.postgres import RECONNECT_BACKOFF, ConnectionSettings, connect
from eventledger.store.postgres_schema import sql_text

logger: Final = logging.getLogger("eventledger.postgres")


class NotificationListener:
    """One LISTEN connection per store, started by the first subscriber that waits."""

    def __init__(self, settings: ConnectionSettings, channel: str, wake: Callable[[], None]) -> None:
        self._settings = settings
        self._channel = channel
        self._wake = wake
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._on_standby = False
        #: Set while the LISTEN is in place (tests and status pages read it).
        self.listening = asyncio.Event()

    def start(self) -> None:
        """Start listening in the background (idempotent; never again once stopped, or on a standby)."""
        if self._stopped or self._on_standby:
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
                connection = await connect(self._settings, "listen for appends")
            except StoreUnavailable as error:
                failures = await self._pause(failures, error)
                continue
            try:
                if await _in_recovery(connection):
                    logger.info(
                        "eventledger: %s is a hot standby, which cannot LISTEN; subscribers poll instead",
                        self._settings.describe(),
                    )
                    self._on_standby = True
                    return
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

    async def _pause(self, failures: int, error: Exception) -> int:
        delay = RECONNECT_BACKOFF.delay(failures + 1)
        logger.warning(
            "eventledger: LISTEN connection to %s lost (%s); subscribers keep polling, reconnecting in %.2fs",
            self._settings.describe(),
            self._settings.scrub(" ".join(str(error).split())),
            delay,
        )
        await asyncio.sleep(delay)
        return failures + 1


async def _in_recovery(connection: psycopg.AsyncConnection[tuple[object, ...]]) -> bool:
    cursor = await connection.execute("SELECT pg_is_in_recovery()")
    row = await cursor.fetchone()
    return bool(row and row[0])


class Announcer:
    """Sends one NOTIFY for however many appends happened while the previous one was on its way.

    The first append after a quiet spell is announced at once; during a burst, at most one
    NOTIFY goes out per ``spacing`` seconds, so announcing never competes with the appends.
    """

    def __init__(self, send: Callable[[], Awaitable[None]], spacing: float = 0.01) -> None:
        self._send = send
        self._spacing = spacing
        self._pending = False
        self._task: asyncio.Task[None] | None = None

    def announce(self) -> None:
        """Note that something was appended; a NOTIFY follows soon (this never waits)."""
        self._pending = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._announce(), name="eventledger NOTIFY")

    async def _announce(self) -> None:
        while self._pending:
            self._pending = False
            try:
                await self._send()
            except Exception as error:  # a lost wake-up costs latency only: subscribers also poll
                logger.debug("eventledger: NOTIFY not sent: %s", error)
                return
            await asyncio.sleep(self._spacing)

    async def stop(self) -> None:
        """Let a NOTIFY already on its way finish (once the store is closed it is dropped)."""
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(Exception):
                await task
