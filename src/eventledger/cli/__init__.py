"""The ``eventledger`` command: inspect and operate any event store from a terminal.

.. code-block:: sh

    eventledger --url sqlite:///orders.db streams            # stream ids, versions, last event time
    eventledger --url sqlite:///orders.db show order-1       # one stream's events
    eventledger --url sqlite:///orders.db tail               # follow the global log live
    eventledger --url sqlite:///orders.db check              # does every stored event still decode?
    eventledger --url sqlite:///orders.db migrate            # create or upgrade the schema
    eventledger --url sqlite:///orders.db projections --app myapp.projections:build  # state, lag, errors
    eventledger --url sqlite:///orders.db run --app myapp.projections:build --metrics-port 9100
    eventledger --url sqlite:///orders.db projections skip order-list --app myapp.projections:build

The URL comes from ``--url`` or ``EVENTLEDGER_URL``. Stored events decode into the classes that
define them, so commands that show events import the application's event modules first
(``--import myapp.events``, repeatable, or ``EVENTLEDGER_IMPORT=myapp.events,other.events``).
Every failure prints one line naming what went wrong and exits non-zero; ``--traceback`` shows
the traceback of an unexpected error for a bug report.

The package only wires the library to the terminal: :mod:`.app` is the frame (options,
errors, exit codes), :mod:`.inspecting` the commands on the log, :mod:`.operating` the
commands on projections (status, ``run``), :mod:`.projection_actions` retry, skip, rebuild and
dead letters, :mod:`.ui` the operator console (``eventledger ui``).
"""

from eventledger.cli import inspecting, operating, projection_actions, ui
from eventledger.cli.app import EXIT_FAILURE, EXIT_INCOMPATIBLE, app, main

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INCOMPATIBLE",
    "app",
    "inspecting",
    "main",
    "operating",
    "projection_actions",
    "ui",
]
