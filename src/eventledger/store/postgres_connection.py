"""Where a PostgreSQL store connects: its URL parsed into settings, and connection errors explained.

A ``postgresql://user:password@host:port/dbname?schema=NAME`` URL carries two kinds of query
options: eventledger's own (``schema``, pool sizes, ``poll_interval``, ``notify``) and libpq's
(``sslmode``, ``application_name``, ...). Ours are taken out here; the rest go to libpq
untouched, and libpq itself rejects what it does not know.

Errors name the host, port, database and user so a log line says which server refused, and
never the password: it is scrubbed from every message this module builds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventledger.errors import InvalidArgument, InvalidStoreURL, StoreUnavailable
from eventledger.store.options import boolean, positive_int, positive_seconds

SUPPORTED_FORM: Final = ("postgresql://user:password@host:port/dbname?schema=NAME",)
DEFAULT_SCHEMA: Final = "eventledger"
DEFAULT_CONNECT_TIMEOUT: Final = 10
# Short enough that the LISTEN channel name ("eventledger." + schema) stays a legal identifier.
_SCHEMA_PATTERN: Final = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")


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
