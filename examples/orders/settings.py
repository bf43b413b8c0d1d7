"""Where the demo service keeps its data and where it listens, from the environment.

- ``EVENTLEDGER_URL``: the event store (default ``sqlite:///.demo/orders.db``, a file under the
  working directory). ``postgresql://user@host/db`` switches the whole service to PostgreSQL.
- ``ORDERS_READ_MODEL``: where the read models live. By default beside the store: a second SQLite
  file next to the store's file, or the same PostgreSQL database.
- ``ORDERS_HOST`` / ``ORDERS_PORT``: where ``python -m examples.orders serve`` listens
  (default ``127.0.0.1:8000``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_STORE_URL = "sqlite:///.demo/orders.db"


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """The demo's configuration; :meth:`from_environment` reads it from the variables above."""

    store_url: str = DEFAULT_STORE_URL
    read_model_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000

    @classmethod
    def from_environment(cls, environment: dict[str, str] | None = None) -> DemoSettings:
        """Settings from ``environment`` (default: ``os.environ``)."""
        values = os.environ if environment is None else environment
        return cls(
            store_url=values.get("EVENTLEDGER_URL") or DEFAULT_STORE_URL,
            read_model_url=values.get("ORDERS_READ_MODEL") or None,
            host=values.get("ORDERS_HOST") or "127.0.0.1",
            port=int(values.get("ORDERS_PORT") or 8000),
        )

    @property
    def read_model(self) -> str:
        """The read models' URL: given, or derived from the store's URL."""
        if self.read_model_url:
            return self.read_model_url
        if self.store_url.startswith("sqlite:"):
            path = sqlite_path(self.store_url)
            return f"sqlite:///{path.with_name(path.stem + '-read' + (path.suffix or '.db'))}"
        return self.store_url


def sqlite_path(url: str) -> Path:
    """The file a ``sqlite:///relative`` or ``sqlite:////absolute`` URL names."""
    path = urlsplit(url).path
    return Path(path[1:] if path.startswith("/") else path)


def redact(url: str) -> str:
    """The URL with any password replaced, fit to show on the page."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
