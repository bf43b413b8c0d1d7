"""What a driver error means to the caller of a PostgreSQL store.

Only faults of the server or of the way to it become :class:`StoreUnavailable` (retrying may
help). A write the connection may not make becomes :class:`ReadOnlyStore`; a value the server
refused becomes :class:`InvalidArgument`, even where psycopg files it under OperationalError
(class 54, program limits), next to lost connections.
"""

from __future__ import annotations

from typing import Final

import psycopg
from psycopg_pool import PoolTimeout

from eventledger.errors import InvalidArgument, ReadOnlyStore, StoreError, StoreUnavailable
from eventledger.store.postgres_connection import ConnectionSettings, unavailable

# SQLSTATEs that mean "this connection may not write": read_only_sql_transaction (a standby,
# default_transaction_read_only) and insufficient_privilege (a role without INSERT).
READ_ONLY_STATES: Final = frozenset({"25006", "42501"})
# Classes that mean "the server refused the value it was given" (data exceptions, program
# limits such as an index row too large): the caller's input, never a connection fault.
INPUT_CLASSES: Final = ("22", "54")


class ConnectionLost(StoreUnavailable):
    """The server went away mid-operation or cannot be reached now; worth trying again."""


class CallersError(Exception):
    """Carries an error of the caller's own SQL past the store's error translation."""

    def __init__(self, error: psycopg.Error) -> None:
        super().__init__(str(error))
        self.error = error


def translate(error: Exception, settings: ConnectionSettings, doing: str) -> StoreError | InvalidArgument:
    """The eventledger error for a driver ``error`` met while ``doing`` something."""
    where = settings.describe()
    reason = settings.scrub(" ".join(str(error).split()) or type(error).__name__)
    state = getattr(error, "sqlstate", None) or ""
    if state in READ_ONLY_STATES:
        return ReadOnlyStore(where, doing, reason)
    if state.startswith(INPUT_CLASSES):
        return InvalidArgument(f"{where}: {doing}: the server refused the input: {reason}")
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError | PoolTimeout):
        return ConnectionLost(f"{where}: {doing}: connection lost or unavailable: {reason}")
    return unavailable(settings, doing, error)
