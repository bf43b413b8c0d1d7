"""The private event loop a synchronous store runs its async store on, in a thread of its own.

Every call from synchronous code becomes a coroutine scheduled on that loop with
:func:`asyncio.run_coroutine_threadsafe`; the calling thread blocks until it finishes and gets
its result or its exception (the same eventledger error the async API raises). Any number of
threads may call at once: the loop interleaves their coroutines the way an async application
interleaves its tasks, and the async store is built for that.

Two misuses would hang for ever, so they raise instead:

- calling from the loop's own thread (a projection handler calling the synchronous store): the
  call would wait for a loop that is busy waiting for it;
- calling in a process forked after the portal started (a Celery worker's child): the loop
  thread does not exist there, and the parent's connections must not be shared with it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from eventledger.errors import StoreClosed, StoreError

T = TypeVar("T")


class Portal:
    """An event loop running in a daemon thread, and the way into it from other threads.

    >>> portal = Portal("example")
    >>> async def answer() -> int:
    ...     return 42
    >>> portal.call(answer())
    42
    >>> portal.stop()
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._stopped = False
        # Calls scheduled but not finished: a call that slips in while the portal stops would
        # otherwise wait for ever on a loop that will never run it.
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._pending_lock = threading.Lock()
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), name=name, daemon=True)
        self._thread.start()
        started.wait()

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    @property
    def forked(self) -> bool:
        """True in a process forked after this portal started: its loop thread is not here."""
        return os.getpid() != self.pid

    @property
    def on_loop_thread(self) -> bool:
        """True when the caller is the loop's own thread."""
        return threading.get_ident() == self._thread.ident

    def check_usable(self) -> None:
        """Raise unless a call from this thread could complete (see the module docstring)."""
        if self.forked:
            raise StoreClosed(
                f"{self.name} was opened in process {self.pid} before this process ({os.getpid()}) "
                "was forked from it; its event loop and connections stay with the parent. Open a "
                "new store in this process (in a Celery worker: in the worker_process_init signal)"
            )
        if self._stopped:
            raise StoreClosed(f"{self.name} is closed")
        if self.on_loop_thread:
            raise StoreError(
                f"{self.name} was called from its own event loop thread (a projection handler or "
                "listener calling the synchronous API?); that call could never finish. Use the async "
                "store there"
            )

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (or raise its error).

        If the waiting thread is interrupted (KeyboardInterrupt), the coroutine is cancelled.
        """
        try:
            self.check_usable()
        except BaseException:
            coroutine.close()  # never scheduled: close it so Python does not warn it was never awaited
            raise
        future = self._schedule(coroutine)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise StoreClosed(f"{self.name} was closed while a call was waiting on it") from None
        except BaseException:
            future.cancel()  # a no-op when the coroutine itself raised
            raise

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the loop without waiting; its future is returned."""
        try:
            self.check_usable()
        except BaseException:
            coroutine.close()
            raise
        return self._schedule(coroutine)

    def _schedule(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        except RuntimeError:  # the loop closed since check_usable
            coroutine.close()
            raise StoreClosed(f"{self.name} is closed") from None
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    def call_soon(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the loop thread soon (nothing happens once the loop stopped)."""
        if not self._stopped and not self.forked:
            self.loop.call_soon_threadsafe(callback)

    def stop(self) -> None:
        """Stop the loop and wait for its thread to end. Idempotent.

        In a forked child it only marks the portal stopped: the thread and everything the loop
        holds belong to the parent.
        """
        if self._stopped:
            return
        self._stopped = True
        if self.forked:
            return
        if self.on_loop_thread:
            self.loop.stop()
            return
        asyncio.run_coroutine_threadsafe(self._shut_down(), self.loop).result()
        self._thread.join()
        with self._pending_lock:
            stranded = list(self._pending)
        for future in stranded:
            future.cancel()  # its caller gets StoreClosed

    async def _shut_down(self) -> None:
        # Whatever still runs (an abandoned subscription) is cancelled and awaited, so its
        # cleanup runs here rather than being destroyed pending with the loop.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self.loop.shutdown_asyncgens()
        self.loop.call_soon(self.loop.stop)
