"""The synchronous API, for Django, Flask, Celery and scripts: the async API's names, blocking.

>>> from eventledger.sync import Repository, open_store
>>> with open_store("sqlite:///orders.db") as store:                  # doctest: +SKIP
...     orders = Repository(store, Order)
...     orders.update("order-1", lambda order: order.confirm())
...     for recorded in store.read_stream("order-1"):
...         print(recorded.version, recorded.type)

A synchronous store runs the async store on a private event loop in a thread of its own
(:mod:`eventledger.sync.portal`); it is safe to share between threads. Errors are the async
API's. Open stores after a fork, not before (see :func:`open_store`).
"""

from eventledger.sync.portal import Portal
from eventledger.sync.repository import Repository
from eventledger.sync.runner import ProjectionRunner
from eventledger.sync.store import EventStore, open_store

__all__ = ["EventStore", "Portal", "ProjectionRunner", "Repository", "open_store"]
