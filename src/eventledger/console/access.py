"""Who may reach the console, and how: loopback by default, a token for anything else.

The console shows every event's data and, with operations enabled, can skip events and rebuild
read models. So it binds to 127.0.0.1 unless told otherwise, and :func:`check_bind` refuses any
other address unless an access token is set. With a token, every request must carry it: once as
``?token=...`` (the console then keeps it in an HTTP-only, same-site cookie and redirects to the
URL without it), or as ``Authorization: Bearer ...`` for scripts. Operations are forms posted
with a per-process secret (:attr:`AccessPolicy.form_secret`), so another site cannot post them
through an operator's browser.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from eventledger.errors import InvalidArgument

COOKIE = "eventledger_console"
"""The cookie that keeps the access token after the first request."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class UnsafeBind(InvalidArgument):
    """The console was asked to listen beyond this machine without an access token."""

    def __init__(self, host: str) -> None:
        self.host = host
        super().__init__(
            f"refusing to serve the console on {host!r} without an access token: it shows every event "
            "and may operate projections; pass --token (or EVENTLEDGER_UI_TOKEN), or bind to 127.0.0.1"
        )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Raise :class:`UnsafeBind` for a non-loopback ``host`` without a ``token``."""
    if not is_loopback(host) and not token:
        raise UnsafeBind(host)


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The console's access rules: the token (None: loopback only), and whether operations run."""

    token: str | None = None
    operations: bool = False
    form_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    """Sent with every operation's form and checked on the post."""

    def form_secret_matches(self, value: str | None) -> bool:
        """Does a posted form carry this process's secret?"""
        return value is not None and hmac.compare_digest(value.encode(), self.form_secret.encode())


def token_middleware(app: ASGIApp, token: str) -> ASGIApp:
    """An ASGI app that lets through only requests carrying ``token`` (see the module docstring)."""
    expected = token.encode()

    def matches(value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), expected)

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if matches(query.get("token")):
            rest = urlencode({key: value for key, value in query.items() if key != "token"})
            location = scope["path"] + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
            await _respond(
                send, 303, b"", [(b"location", location.encode()), (b"set-cookie", cookie.encode())]
            )
            return
        bearer = headers.get("authorization", "")
        cookies = dict(
            part.strip().split("=", 1) for part in headers.get("cookie", "").split(";") if "=" in part
        )
        if matches(cookies.get(COOKIE)) or (bearer.startswith("Bearer ") and matches(bearer[7:])):
            await app(scope, receive, send)
            return
        body = b"this console needs its access token: open it once as /?token=..."
        await _respond(send, 401, body, [(b"content-type", b"text/plain; charset=utf-8")])

    return guarded


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
