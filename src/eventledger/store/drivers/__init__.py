"""One plumbing layer per database, shared by the event store and the projection targets.

- :mod:`~eventledger.store.drivers.options`: the checks of every option (seconds, sizes,
  table prefixes), so a URL's text and a keyword argument are refused alike.
- :mod:`~eventledger.store.drivers.sqlite`: ``sqlite3`` settings, opening a connection
  (pragmas, WAL), waiting out another connection's lock, and what an error means.
- :mod:`~eventledger.store.drivers.postgres`: a ``postgresql://`` URL parsed into settings,
  schema names checked, connecting, and what a driver error means;
  :mod:`~eventledger.store.drivers.postgres_store_connections` the store's own pooled asyncpg
  connections (:mod:`~eventledger.store.drivers.asyncpg_pool`), and
  :mod:`~eventledger.store.drivers.postgres_pool` the pooled psycopg connections of read models
  and callers' transactions.
- :mod:`~eventledger.store.drivers.placeholders`: psycopg's placeholders rewritten for sqlite3
  and asyncpg, so all SQL is written one way.

The store backends (:mod:`eventledger.store.sqlite`, :mod:`eventledger.store.postgres`) and
the read-model targets (:mod:`eventledger.projections.targets`) build on these and write none
of it again. This layer knows nothing of events: it imports only the error family, the
back-off and the drivers themselves.
"""
