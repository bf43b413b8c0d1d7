"""The operator console (``eventledger ui``, the ``ui`` extra): a web console for any store.

Pages: streams (prefix search, paging, version, last event time), a stream's events with data
and metadata (correlation and causation ids as links), the global log followed live and
filterable by type, projections (state, checkpoint, lag in events and seconds, held-back events,
events/s over 10 s and a minute, a lag chart with labelled axes; a failed projection's event and
error with Retry and Skip to dead letters; dead letters; Rebuild), the store check and the
store's visibility (the oldest open transaction on PostgreSQL). Read-only unless started with
operations enabled; loopback only unless given an access token.

- :mod:`.app`: :func:`~eventledger.console.app.create_console`, the ASGI app and its routes.
- :mod:`.pages`, :mod:`.projection_pages`: the pages; :mod:`.html`: the layout and the builders
  that escape every stored value; :mod:`.assets`: the one small script.
- :mod:`.reading`: what the pages read from the store (public API only).
- :mod:`.access`: loopback by default, the token, the operations' form secret.
- :mod:`.history`: rates over windows and the lag series (no web framework; the demo uses it).

Only :mod:`.app` needs Starlette; importing this package does not.
"""
