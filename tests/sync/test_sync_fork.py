"""A Celery-style worker: a process forked from one that may have opened a synchronous store.

The child reports through its exit status: 0 when what it checked held, 1 otherwise (it
writes why on stderr).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable

from eventledger import NO_STREAM
from eventledger.errors import StoreClosed
from eventledger.sync import EventStore, open_store
from events import OrderCreated, OrderNoted


def in_child(check: Callable[[], None]) -> int:
    """Fork, run ``check`` in the child, and return the child's exit status."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            check()
            status = 0
        except BaseException:
            traceback.print_exc(file=sys.stderr)
        finally:
            os._exit(status)
    _, waited = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(waited)


def test_a_store_opened_after_the_fork_works_in_the_child(store: EventStore, store_url: str) -> None:
    def child() -> None:
        with open_store(store_url) as own:
            own.append("from-child", [OrderCreated(order_id="c")], expected_version=NO_STREAM)

    assert in_child(child) == 0
    assert [recorded.stream_id for recorded in store.read_stream("from-child")] == ["from-child"]


def test_a_store_opened_before_the_fork_raises_store_closed_in_the_child(store: EventStore) -> None:
    def child() -> None:
        try:
            store.stream_version("order-1")
        except StoreClosed as error:
            assert "before this process" in str(error)
            return
        raise AssertionError("the inherited store answered in the child")

    assert in_child(child) == 0


def test_closing_the_inherited_store_in_the_child_leaves_the_parents_store_working(store: EventStore) -> None:
    store.append("order-1", [OrderCreated(order_id="1")], expected_version=NO_STREAM)

    def child() -> None:
        store.close()
        assert store.closed

    assert in_child(child) == 0
    store.append("order-1", [OrderNoted(note="after the child")], expected_version=1)
    assert [recorded.version for recorded in store.read_stream("order-1")] == [1, 2]
