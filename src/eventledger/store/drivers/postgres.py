"""PostgreSQL plumbing, shared by the event store and the PostgreSQL read-model target.

- **Settings**: a ``postgresql://user:password@host:port/dbname?schema=NAME`` URL carries two
  kinds of query options: eventledger's own (``schema``, pool sizes, ``poll_interval``,
  ``notify``) and libpq's (``sslmode``, ``application_name``, ...). Ours are taken out and
  checked here (:func:`parse_postgres_url`); the rest go to libpq untouched, and libpq itself
  rejects what it does not know. Schema names are checked before they reach SQL text
  (:func:`validate_schema_name`).
- **Connecting** (:func:`connect`): one autocommit psycopg connection, or
  :class:`StoreUnavailable`. The store's own statements run on asyncpg
  (:mod:`eventledger.store.drivers.postgres_store_connections`); psycopg pools for read models
  and callers' transactions are in :mod:`eventledger.store.drivers.postgres_pool`.
- **Retrying**: a connection that was lost is tried again after :data:`RECONNECT_BACKOFF`.
- **What a driver error means** (:func:`translate`), for psycopg and asyncpg alike. Only
  faults of the server or of the way to it become :class:`StoreUnavailable` (retrying may
  help). A write the connection may not make becomes :class:`ReadOnlyStore`; a value the
  server refused becomes :class:`InvalidArgument`, even where psycopg files it under
  OperationalError (class 54, program limits), next to lost connections.

Errors name the host, port, database and user so a log line says which server refused, and
never the password: it is scrubbed from every message this module builds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import PoolTimeout

from eventledger.backoff import Backoff
from eventledger.errors import InvalidArgument, InvalidStoreURL, ReadOnlyStore, StoreError, StoreUnavailable
from eventledger.store.drivers.options import boolean, positive_int, positive_seconds

Connection = psycopg.AsyncConnection[TupleRow]

SUPPORTED_FORM: Final = ("postgresql://user:password@host:port/dbname?schema=NAME",)
DEFAULT_SCHEMA: Final = "eventledger"
DEFAULT_CONNECT_TIMEOUT: Final = 10
# Short enough that the LISTEN channel name ("eventledger." + schema) stays a legal identifier.
_SCHEMA_PATTERN: Final = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")
# SQLSTATEs that mean "this connection may not write": read_only_sql_transaction (a standby,
# default_transaction_read_only) and insufficient_privilege (a role without INSERT).
READ_ONLY_STATES: Final = frozenset({"25006", "42501"})
# Classes that mean "the server refused the value it was given" (data exceptions, program
# limits such as an index row too large): the caller's input, never a connection fault.
INPUT_CLASSES: Final = ("22", "54")
# Classes that mean "the connection is gone": connection exceptions, and the server shutting
# down or refusing connections for now.
CONNECTION_CLASSES: Final = ("08", "57P")
CONNECTION_ERRORS: Final = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    PoolTimeout,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
"""Driver errors that mean a lost or unreachable server, whatever their SQLSTATE (psycopg files
such faults under OperationalError; asyncpg raises InterfaceError or the socket's OSError)."""
RECONNECT_BACKOFF: Final = Backoff(first=0.05, maximum=2.0, jitter=0.5)
"""Pauses before reconnecting after a lost connection: a server restart drops every process's
connections at once, so the pauses are jittered to keep them from reconnecting in step."""


def validate_schema_name(schema: object) -> str:
    """Schema names are checked, never trusted: they end up inside SQL text.

    The server's own schemas are refused too, before any connection is made: ``pg_*`` names
    are reserved (``CREATE SCHEMA pg_x`` fails at the server, which would be reported as an
    outage) and ``information_schema`` holds the SQL-standard catalog views, where the store's
    tables must not be mixed in. ``public`` is an ordinary user schema and stays allowed.
    """
    if not isinstance(schema, str) or not _SCHEMA_PATTERN.match(schema):
        raise InvalidArgument(
            f"schema {schema!r} must match {_SCHEMA_PATTERN.pattern} (lower-case letters, digits and "
            "underscores, starting with a letter or underscore, at most 48 characters)"
        )
    if schema.startswith("pg_"):
        raise InvalidArgument(f"schema {schema!r}: names starting with pg_ are reserved for PostgreSQL's own")
    if schema == "information_schema":
        raise InvalidArgument(
            "schema 'information_schema' is PostgreSQL's catalog; choose a schema of your own"
        )
    return schema


_OPTIONS: Final[dict[str, Callable[[object], object]]] = {
    "schema": validate_schema_name,
    "pool_min_size": positive_int,
    "pool_max_size": positive_int,
    "poll_interval": positive_seconds,
    "notify": boolean,
}


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """A parsed PostgreSQL store URL: libpq's connection string plus eventledger's options."""

    conninfo: str
    host: str
    port: str
    database: str
    user: str
    password: str
    schema: str = DEFAULT_SCHEMA
    pool_min_size: int = 1
    pool_max_size: int = 10
    poll_interval: float = 0.05
    notify: bool = True

    def describe(self) -> str:
        """Which server and database, for messages (never the password)."""
        return f"PostgreSQL database {self.database!r} on {self.host}:{self.port} as user {self.user!r}"

    def scrub(self, text: str) -> str:
        """``text`` with the password taken out, wherever a driver message might have echoed it."""
        if self.password:
            text = text.replace(self.password, "***")
        return text


def parse_postgres_url(url: str, options: Mapping[str, Any]) -> ConnectionSettings:
    """Parse ``url`` and keyword ``options`` (which override query options).

    Raises :class:`InvalidStoreURL` for an unknown eventledger option, a bad option value or
    a URL libpq cannot read; the message never contains the password.
    """
    parts = urlsplit(url)
    password = parts.password or ""
    shown = _hide_password(url, password)
    ours: dict[str, object] = {}
    theirs: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _OPTIONS:
            ours[key] = value
        else:
            theirs.append((key, value))
    for key, value in options.items():
        if key not in _OPTIONS:
            raise InvalidStoreURL(
                shown, f"unknown option {key!r} (known: {', '.join(_OPTIONS)})", SUPPORTED_FORM
            )
        ours[key] = value
    settings: dict[str, Any] = {}
    for key, given in ours.items():
        try:
            settings[key] = _OPTIONS[key](given)
        except InvalidArgument as error:
            raise InvalidStoreURL(shown, f"option {key}={given!r}: {error}", SUPPORTED_FORM) from None
    # libpq reads %20 as a space but not "+", so re-encode with quote, not quote_plus.
    libpq_url = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(theirs, quote_via=quote), ""))
    try:
        params = conninfo_to_dict(libpq_url)
    except psycopg.Error as error:
        reason = str(error).replace(password, "***") if password else str(error)
        raise InvalidStoreURL(shown, reason, SUPPORTED_FORM) from error
    params.setdefault("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    parsed = ConnectionSettings(
        conninfo=make_conninfo("", **params),
        host=str(params.get("host") or "(default host)"),
        port=str(params.get("port") or "5432"),
        database=str(params.get("dbname") or params.get("user") or "(default database)"),
        user=str(params.get("user") or "(default user)"),
        password=str(params.get("password") or ""),
        **settings,
    )
    if parsed.pool_min_size > parsed.pool_max_size:
        raise InvalidStoreURL(
            shown,
            f"pool_min_size {parsed.pool_min_size} is larger than pool_max_size {parsed.pool_max_size}",
            SUPPORTED_FORM,
        )
    return parsed


def _hide_password(url: str, password: str) -> str:
    return url.replace(f":{password}@", ":***@", 1) if password else url


def unavailable(settings: ConnectionSettings, doing: str, error: BaseException) -> StoreUnavailable:
    """A :class:`StoreUnavailable` for ``error`` naming server and database, never the password."""
    reason = " ".join(str(error).split()) or type(error).__name__
    return StoreUnavailable(f"{settings.describe()}: {doing}: {settings.scrub(reason)}")


async def connect(settings: ConnectionSettings, doing: str) -> Connection:
    """A new autocommit connection, or :class:`StoreUnavailable` saying what it was for."""
    try:
        return await psycopg.AsyncConnection.connect(settings.conninfo, autocommit=True)
    except psycopg.Error as error:
        raise unavailable(settings, doing, error) from None


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
    if state.startswith(CONNECTION_CLASSES) or isinstance(error, CONNECTION_ERRORS):
        return ConnectionLost(f"{where}: {doing}: connection lost or unavailable: {reason}")
    return unavailable(settings, doing, error)
