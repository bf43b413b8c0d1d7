"""The console as an ASGI application: the store and projections it shows, its routes, its errors.

:func:`create_console` builds it for a store URL and, optionally, the application's projections;
``eventledger ui`` serves it with uvicorn. Starlette (which FastAPI, the ``http`` extra, is built
on) routes the requests; there is no template engine and no JavaScript framework: the pages are
HTML strings built by :mod:`.html`, which escapes every stored value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from eventledger import operations
from eventledger.console import pages, projection_pages
from eventledger.console.access import AccessPolicy, ASGIApp, token_middleware
from eventledger.console.assets import CONSOLE_JS
from eventledger.console.history import ProjectionHistory
from eventledger.console.html import esc, page
from eventledger.console.reading import Undecodable, log_events
from eventledger.errors import EventLedgerError, ProjectionStateError, StoreUnavailable
from eventledger.projections import Projection
from eventledger.store import EventStore, open_store

log = logging.getLogger("eventledger.console")

ProjectionsLoader = Callable[[EventStore], Awaitable[list[Projection[Any]]]]
"""Given the open store, the projections the console shows (``--app`` resolved)."""

HEADERS = {
    # Defence in depth beside the escaping: no inline script runs, nothing loads from elsewhere.
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def redact(url: str) -> str:
    """The URL with its password replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


@dataclass
class Console:
    """What the running console holds: the store, the projections, their sampled history."""

    store_url: str
    load_projections: ProjectionsLoader | None
    policy: AccessPolicy
    operation_wait: float
    store: EventStore | None = None
    projections: dict[str, Projection[Any]] = field(default_factory=dict)
    history: ProjectionHistory = field(default_factory=ProjectionHistory)
    _sampler: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the store, resolve the projections, start sampling them."""
        self.store = await open_store(self.store_url)
        if self.load_projections is not None:
            chosen = await self.load_projections(self.store)
            self.projections = {projection.name: projection for projection in chosen}
        self._sampler = asyncio.create_task(self._sample(), name="console samples")

    async def stop(self) -> None:
        """Stop sampling; close the targets and the store."""
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        for projection in self.projections.values():
            await projection.target.close()
        if self.store is not None:
            await self.store.close()

    async def _sample(self, every: float = 1.0) -> None:
        while True:
            if self.projections and self.store is not None:
                try:
                    for status in await operations.stored_statuses(
                        self.store, list(self.projections.values())
                    ):
                        if status.checkpoint is not None:
                            self.history.record(
                                status.name,
                                at=time.monotonic(),
                                checkpoint=status.checkpoint,
                                lag_events=status.lag_events,
                            )
                except EventLedgerError as error:  # the page shows the trouble when it reads
                    log.debug("sampling the projections failed: %s", error)
            await asyncio.sleep(every)

    @property
    def open_store(self) -> EventStore:
        """The store (open while the console serves)."""
        assert self.store is not None, "the console is not started"
        return self.store

    @property
    def secret(self) -> str | None:
        """The form secret when operations are enabled, else None (no buttons, posts refused)."""
        return self.policy.form_secret if self.policy.operations else None

    def projection(self, name: str) -> Projection[Any] | None:
        """The projection ``name``, or None."""
        return self.projections.get(name)


def html(body: str, status: int = 200) -> HTMLResponse:
    """An HTML response with the console's security headers."""
    return HTMLResponse(body, status, headers=HEADERS)


def problem(status: int, title: str, detail: str, *, operations: bool) -> HTMLResponse:
    """An error page (the detail escaped)."""
    return html(page(title, f"<p class=bad>{esc(detail)}</p>", operations=operations), status)


def _int(request: Request, name: str, default: int | None, minimum: int = 0) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    value = int(raw)  # a ValueError is answered 400 by the error handler
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return value


def create_console(
    store_url: str,
    *,
    projections: ProjectionsLoader | None = None,
    operations_enabled: bool = False,
    token: str | None = None,
    operation_wait: float = 30.0,
) -> ASGIApp:
    """The console for the store at ``store_url`` (an ASGI app: serve it with uvicorn).

    ``projections`` resolves the application's projections once the store is open.
    ``operations_enabled`` shows Retry, Skip and Rebuild and accepts them; ``token``, when given,
    is required of every request (see :mod:`.access`). ``operation_wait`` bounds how long an
    operation waits for the runner's answer.
    """
    console = Console(store_url, projections, AccessPolicy(token, operations_enabled), operation_wait)
    ops = operations_enabled

    async def overview(request: Request) -> Response:
        body = await pages.overview(
            console.open_store, redact(store_url), operations=ops, projections=list(console.projections)
        )
        return html(body)

    async def streams(request: Request) -> Response:
        prefix = request.query_params.get("prefix", "")
        return html(
            await pages.streams(
                console.open_store, prefix=prefix, after=request.query_params.get("after"), operations=ops
            )
        )

    async def stream(request: Request) -> Response:
        stream_id = request.path_params["stream_id"]
        body = await pages.stream(
            console.open_store, stream_id, from_version=_int(request, "from", 1, 1) or 1, operations=ops
        )
        if body is None:
            return problem(404, "No such stream", f"stream {stream_id!r} has no events", operations=ops)
        return html(body)

    async def event(request: Request) -> Response:
        position = int(request.path_params["position"])
        body = await pages.event(console.open_store, position, operations=ops)
        return (
            html(body)
            if body is not None
            else problem(404, "No such event", f"no event at position {position}", operations=ops)
        )

    async def event_by_id(request: Request) -> Response:
        event_id = request.path_params["event_id"]
        position, body = await pages.event_by_id(
            console.open_store, event_id, before=_int(request, "before", None, 1)
        )
        if position is not None:
            return RedirectResponse(f"/events/{position}", 303)
        return html(page("Event not found", body, operations=ops), 404)

    async def log_page(request: Request) -> Response:
        return html(await pages.log(console.open_store, types=_types(request), operations=ops))

    async def log_json(request: Request) -> Response:
        after = _int(request, "after", 0) or 0
        rows = await log_events(console.open_store, after=after, limit=200, types=_types(request) or None)
        events = [_row_json(row) for row in rows]
        last = max([after, *(row.position for row in rows if row.position is not None)])
        return JSONResponse({"events": events, "after": last}, headers=HEADERS)

    async def check(request: Request) -> Response:
        return html(await pages.check(console.open_store, operations=ops))

    async def projections_list(request: Request) -> Response:
        chosen = list(console.projections.values())
        statuses = await operations.stored_statuses(console.open_store, chosen)
        fragment = projection_pages.statuses_fragment(statuses, console.history, secret=console.secret)
        if request.query_params.get("fragment"):
            return html(fragment)
        return html(projection_pages.projections_page(fragment, operations=ops))

    async def projection_detail(request: Request) -> Response:
        chosen = console.projection(request.path_params["name"])
        if chosen is None:
            return _unknown_projection(request)
        return html(
            await projection_pages.projection_page(
                console.open_store, chosen, console.history, secret=console.secret
            )
        )

    async def action(request: Request) -> Response:
        name, verb = request.path_params["name"], request.path_params["action"]
        chosen = console.projection(name)
        if chosen is None or verb not in projection_pages.ACTIONS:
            return _unknown_projection(request)
        if not console.policy.operations:
            return problem(
                403,
                "Read-only console",
                "operations are not enabled: start the console with --operations",
                operations=ops,
            )
        if request.method == "GET":
            return html(
                await projection_pages.confirm_page(
                    console.open_store, chosen, verb, console.policy.form_secret
                )
            )
        # The forms are urlencoded; parsed here so the console needs no multipart library.
        posted = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if not console.policy.form_secret_matches(posted.get("form_secret")):
            return problem(
                403, "Refused", "the form did not come from this console (reload the page)", operations=ops
            )
        outcome = await projection_pages.carry_out(
            console.open_store, chosen, verb, wait=console.operation_wait
        )
        status, body = projection_pages.outcome_page(chosen, verb, outcome, console.operation_wait)
        return html(body, status)

    def _unknown_projection(request: Request) -> Response:
        known = ", ".join(console.projections) or "none (start the console with --app)"
        detail = f"no projection {request.path_params['name']!r} here; known: {known}"
        return problem(404, "No such projection", detail, operations=ops)

    async def script(request: Request) -> Response:
        return Response(CONSOLE_JS, media_type="text/javascript", headers=HEADERS)

    async def value_error(request: Request, error: Exception) -> Response:
        return problem(400, "Bad request", str(error), operations=ops)

    async def library_error(request: Request, error: Exception) -> Response:
        if isinstance(error, ProjectionStateError):
            return problem(409, "Not possible now", str(error), operations=ops)
        if isinstance(error, StoreUnavailable):
            log.warning("%s: the store is unavailable: %s", request.url.path, error)
            return problem(503, "Store unavailable", "the store is unavailable; retry later", operations=ops)
        return problem(500 if not isinstance(error, ValueError) else 400, "Error", str(error), operations=ops)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await console.start()
        try:
            yield
        finally:
            await console.stop()

    routes = [
        Route("/", overview),
        Route("/streams", streams),
        Route("/streams/{stream_id:path}", stream),
        Route("/events/by-id/{event_id}", event_by_id),
        Route("/events/{position:int}", event),
        Route("/log", log_page),
        Route("/log.json", log_json),
        Route("/check", check),
        Route("/projections", projections_list),
        Route("/projections/{name}", projection_detail),
        Route("/projections/{name}/{action}", action, methods=["GET", "POST"]),
        Route("/assets/console.js", script),
    ]
    handlers: dict[Any, Any] = {ValueError: value_error, EventLedgerError: library_error}
    application = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    application.state.console = console
    return token_middleware(application, token) if token else application


def _types(request: Request) -> list[str]:
    raw = request.query_params.get("type", "")
    return [name.strip() for name in raw.split(",") if name.strip()]


def _row_json(row: Any) -> dict[str, Any]:
    if isinstance(row, Undecodable):
        return {
            "position": row.position,
            "stream_id": row.stream_id,
            "version": None,
            "type": row.type_name,
            "recorded_at": None,
            "data": "",
            "error": row.error,
        }
    return {
        "position": row.position,
        "stream_id": row.stream_id,
        "version": row.version,
        "type": row.type,
        "recorded_at": row.recorded_at.isoformat(),
        "data": row.event.model_dump_json(),
        "error": None,
    }
