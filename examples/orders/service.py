"""The order service: an HTTP API and a web page on eventledger (run it with ``make demo``).

Commands go through the order handlers to the event store; queries are answered only from
read models that projections build, never by reading the event store. The projection runner
runs inside the service, beside the web server, and its status is on the page.

- ``POST /api/orders`` ``{"order_id"?, "items": [{"sku", "quantity", "unit_price"}]}``: 201; 1 to
  100 items, quantity 1 to 1,000,000, unit price 0 to 1,000,000.00 with at most two decimals
  (see :mod:`examples.orders.domain`), 422 beyond.
- ``POST /api/orders/{id}/confirm`` and ``/cancel`` ``{"expected_version"?, "reason"?}``: 200.
  Every command answers the order's new version as a weak ``ETag`` (``W/"2"``); send it back as
  ``If-Match`` and the command is refused with 412 if the order has changed since (the body's
  ``expected_version`` does the same check, refused with 409).
- Errors are problem details (RFC 9457, ``application/problem+json``, from
  :mod:`eventledger.http`): 404 (no such order), 409 (the order already exists, or changed
  since ``expected_version``), 412 (changed since ``If-Match``), 422 (the request is invalid or
  a business rule refuses it), 503 (the store is unavailable).
- ``GET /api/orders``, ``/api/orders/{id}`` (with its ``ETag``), ``/api/orders/{id}/events``:
  from the read models.
  ``?min_position=P`` waits (at most 3 s) until the read model serving the query includes
  position ``P`` (``ProjectionRunner.wait_for_position``, that projection only), so a client can
  read its own writes; when it does not get there in time (or has failed) the query answers 503
  ``read-model-behind`` with ``Retry-After`` rather than an answer that may be stale (a 404 for
  an order that exists). The list takes ``status`` (pending, confirmed, cancelled), ``q`` (an
  order id prefix), ``limit`` (1 to 1000) and ``offset``, refused with 400 beyond them, and answers
  ``total_count`` and the ``next`` page's URL.
- ``GET /api/projections``: state, checkpoint, lag (held-back events included), rate, failure
  and stall of each projection, with the checkpoint's advance per second over the last 10 s and
  the last minute and the lag of the last two minutes (:mod:`eventledger.console.history`);
  ``POST /api/projections/{name}/retry`` and ``/skip`` decide on
  the event a failed projection stopped at (409 when it has not failed). ``GET /metrics``:
  Prometheus. ``POST /api/simulations``: load from many concurrent clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

import eventledger as el
from eventledger.console.history import ProjectionHistory
from eventledger.errors import ProjectionError, ProjectionStateError, UnknownProjection
from eventledger.http import IfMatchVersion, install_problem_handlers, problem_response, set_etag
from eventledger.metrics import CONTENT_TYPE, EventLedgerMetrics
from eventledger.projections import (
    Projection,
    ProjectionRunner,
    SQLiteTarget,
    SQLTransaction,
    Target,
)
from eventledger.projections.targets.postgres import PostgresTarget
from examples.orders.domain import CancelOrder, ConfirmOrder, CreateOrder, Order, OrderHandlers
from examples.orders.history import OrderHistory, order_history
from examples.orders.http_models import (
    ChangeOrderRequest,
    CreateOrderRequest,
    SimulationRequest,
    accepted,
    expected_version_of,
    failed_event_json,
    order_json,
    status_json,
)
from examples.orders.order_list import OrderList, check_list_query, count_orders, find_order, list_orders
from examples.orders.settings import DemoSettings, redact, sqlite_path
from examples.orders.simulation import InProcessCommands, SimulationProgress, simulate

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
READ_YOUR_WRITES_TIMEOUT = 3.0
"""Seconds a query with ``min_position`` waits for its read model before answering 503."""
READ_MODEL_RETRY_AFTER = 1
"""The ``Retry-After`` (seconds) of a 503 for a read model behind ``min_position``."""


# --------------------------------------------------------------------------- wiring


ReadModelTarget = SQLiteTarget | PostgresTarget
"""The SQL databases the read models can live in."""


def read_model_target(settings: DemoSettings) -> ReadModelTarget:
    """The read models' database: a SQLite file, or PostgreSQL."""
    url = settings.read_model
    if url.startswith("sqlite:"):
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteTarget(path)
    return PostgresTarget(url)


def build_projections(target: Target[SQLTransaction]) -> list[Projection[SQLTransaction]]:
    """The service's read models, written by projections into ``target``."""
    return [OrderList(target), OrderHistory(target)]


def projections() -> list[Projection[SQLTransaction]]:
    """The demo's projections as the environment configures them.

    For the command line: ``eventledger projections --app examples.orders.service:projections``
    and ``eventledger run --app examples.orders.service:projections``.
    """
    return build_projections(read_model_target(DemoSettings.from_environment()))


class OrderService:
    """The running parts: store, command handlers, read models, projection runner, metrics."""

    def __init__(
        self,
        settings: DemoSettings,
        store: el.EventStore,
        target: ReadModelTarget,
        metrics: EventLedgerMetrics,
    ) -> None:
        self.settings = settings
        self.store = store
        self.target = target
        self.metrics = metrics
        self.handlers = OrderHandlers(store)
        self.runner = ProjectionRunner(store, build_projections(target), batch_size=200)
        metrics.observe_runner(self.runner)
        self.simulation: SimulationProgress | None = None
        self.history = ProjectionHistory()
        self._tasks: list[asyncio.Task[Any]] = []

    @classmethod
    async def start(cls, settings: DemoSettings) -> OrderService:
        """Open the store and the read models and start the projection runner."""
        if settings.store_url.startswith("sqlite:"):
            sqlite_path(settings.store_url).parent.mkdir(parents=True, exist_ok=True)
        metrics = EventLedgerMetrics()
        store = metrics.instrument_store(await el.open_store(settings.store_url))
        service = cls(settings, store, read_model_target(settings), metrics)
        service._tasks.append(
            asyncio.create_task(service.runner.run(handle_signals=False), name="projections")
        )
        service._tasks.append(asyncio.create_task(metrics.track(service.runner), name="projection metrics"))
        service._tasks.append(asyncio.create_task(service.sample_projections(), name="projection samples"))
        return service

    async def sample_projections(self, every: float = 1.0) -> None:
        """Record each projection's checkpoint and lag once a second (rates and the lag chart)."""
        while True:
            try:
                for status in await self.runner.status():
                    self.history.record(
                        status.name,
                        at=time.monotonic(),
                        checkpoint=status.checkpoint,
                        lag_events=status.lag_events,
                    )
            except el.EventLedgerError as error:  # the panel shows the store's trouble; keep sampling
                logger.debug("sampling the projections failed: %s", error)
            await asyncio.sleep(every)

    async def stop(self) -> None:
        """Stop the runner after its current batch, cancel the rest, then close everything."""
        self.runner.stop()
        runner, *others = self._tasks
        for task in others:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(runner), timeout=5)
        runner.cancel()
        for task in [runner, *others]:
            with contextlib.suppress(BaseException):
                await task
        await self.target.close()
        await self.store.close()

    async def wait_for_position(self, position: int | None, projection: str) -> None:
        """Until the read model ``projection`` (only the one serving the query) includes
        ``position``; :class:`ReadModelBehind` after a few seconds, or at once when the
        projection has failed or is not running here."""
        if position is None:
            return
        try:
            await self.runner.wait_for_position(
                position, timeout=READ_YOUR_WRITES_TIMEOUT, projection=projection
            )
        except ProjectionError as error:
            raise ReadModelBehind(projection, position, str(error)) from error

    def start_simulation(
        self, orders: int, concurrency: int, rate: float | None = None
    ) -> SimulationProgress:
        """Start a simulation in the background (one at a time), paced at ``rate`` orders per second."""
        if self.simulation is not None and self.simulation.running:
            raise SimulationBusy(self.simulation)
        progress = SimulationProgress(orders=orders, concurrency=concurrency, rate=rate)
        self.simulation = progress
        sender = InProcessCommands(self.handlers, progress)
        task = asyncio.create_task(simulate(sender, progress), name="simulation")
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)
        return progress


class ReadModelBehind(Exception):
    """The read model serving a query has not reached the position the client asked for."""

    def __init__(self, projection: str, position: int, reason: str) -> None:
        self.projection = projection
        self.position = position
        super().__init__(
            f"the read model {projection!r} has not reached position {position} yet ({reason}); "
            "retry later"
        )


class SimulationBusy(Exception):
    """A simulation is already running."""

    def __init__(self, progress: SimulationProgress) -> None:
        self.progress = progress
        super().__init__(
            f"a simulation is already running ({progress.orders_done} of {progress.orders} orders done)"
        )


# --------------------------------------------------------------------------- the app


def create_app(settings: DemoSettings | None = None) -> FastAPI:
    """The FastAPI application; ``settings`` default to the environment's."""
    chosen = settings if settings is not None else DemoSettings.from_environment()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = await OrderService.start(chosen)
        try:
            yield
        finally:
            await app.state.service.stop()

    app = FastAPI(
        title="Orders · eventledger demo",
        description="An event-sourced order service: commands to the event store, queries from read models.",
        lifespan=lifespan,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_problem_handlers(app)
    install_demo_problem_handlers(app)

    def service_of(request: Request) -> OrderService:
        service: OrderService = request.app.state.service
        return service

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/info")
    async def info(request: Request) -> dict[str, Any]:
        """Where the service keeps its events and read models."""
        service = service_of(request)
        return {"store": redact(service.settings.store_url), "read_model": service.target.describe()}

    # ----------------------------------------------------------------- commands

    @app.post("/api/orders", status_code=201)
    async def create_order(body: CreateOrderRequest, request: Request, response: Response) -> dict[str, Any]:
        """Place an order (201, with its ETag); 409 when an order with that id exists."""
        service = service_of(request)
        order_id = body.order_id or f"order-{uuid.uuid4().hex[:6]}"
        order = await service.handlers.create(CreateOrder(order_id=order_id, items=body.items))
        set_etag(response, order)
        return accepted(order, await last_position(service, order))

    @app.post("/api/orders/{order_id}/confirm")
    async def confirm_order(
        order_id: str,
        request: Request,
        response: Response,
        if_match: IfMatchVersion,
        body: ChangeOrderRequest | None = None,
    ) -> dict[str, Any]:
        """Confirm a pending order; 412 when it changed since ``If-Match``."""
        service = service_of(request)
        command = ConfirmOrder(order_id=order_id)
        expected = expected_version_of(order_id, if_match, body)
        order = await service.handlers.confirm(command, expected_version=expected)
        set_etag(response, order)
        return accepted(order, await last_position(service, order))

    @app.post("/api/orders/{order_id}/cancel")
    async def cancel_order(
        order_id: str,
        request: Request,
        response: Response,
        if_match: IfMatchVersion,
        body: ChangeOrderRequest | None = None,
    ) -> dict[str, Any]:
        """Cancel a pending or confirmed order (a compensating event); 412 if changed since ``If-Match``."""
        service = service_of(request)
        command = CancelOrder(order_id=order_id, reason=(body or ChangeOrderRequest()).reason)
        expected = expected_version_of(order_id, if_match, body)
        order = await service.handlers.cancel(command, expected_version=expected)
        set_etag(response, order)
        return accepted(order, await last_position(service, order))

    # ----------------------------------------------------------------- queries (read models only)

    @app.get("/api/orders")
    async def orders(
        request: Request,
        status: str | None = None,
        q: str | None = None,
        limit: int = 100,
        offset: int = 0,
        min_position: int | None = None,
    ) -> dict[str, Any]:
        """Orders, most recently changed first, from the order list read model: a page of
        ``limit`` after ``offset``, with how many there are (``total_count``) and the next page."""
        check_list_query(status, limit, offset)
        service = service_of(request)
        await service.wait_for_position(min_position, OrderList.name)
        async with service.target.read() as sql:
            rows = await list_orders(sql, status=status, prefix=q, limit=limit, offset=offset)
            total = await count_orders(sql, status=status, prefix=q)
        following = None
        if offset + len(rows) < total:
            query = {"status": status, "q": q, "limit": limit, "offset": offset + len(rows)}
            following = "/api/orders?" + urlencode({key: value for key, value in query.items() if value})
        return {
            "orders": [order_json(row) for row in rows],
            "total_count": total,
            "offset": offset,
            "limit": limit,
            "next": following,
        }

    @app.get("/api/orders/{order_id}")
    async def order(
        order_id: str, request: Request, response: Response, min_position: int | None = None
    ) -> dict[str, Any]:
        """One order from the order list read model, with the ETag of the version it shows; 404
        when it has none. A change sent with that ETag as ``If-Match`` is refused (412) if the
        order has moved on, even when the read model had not caught up yet."""
        service = service_of(request)
        await service.wait_for_position(min_position, OrderList.name)
        async with service.target.read() as sql:
            row = await find_order(sql, order_id)
        if row is None:
            raise el.AggregateNotFound(order_id, "order")
        set_etag(response, row.version)
        return order_json(row)

    @app.get("/api/orders/{order_id}/events")
    async def order_events(
        order_id: str, request: Request, min_position: int | None = None
    ) -> dict[str, Any]:
        """An order's events (type, version, position, time, data) from the order history read model."""
        service = service_of(request)
        await service.wait_for_position(min_position, OrderHistory.name)
        async with service.target.read() as sql:
            entries = await order_history(sql, order_id)
        if not entries:
            raise el.AggregateNotFound(order_id, "order")
        return {"order_id": order_id, "events": [asdict(entry) for entry in entries]}

    # ----------------------------------------------------------------- operations

    @app.get("/api/projections")
    async def projection_status(request: Request) -> dict[str, Any]:
        """Every projection's checkpoint, lag (events and seconds), rate and state."""
        service = service_of(request)
        statuses = await service.metrics.refresh(service.runner)
        head = max((status.head_position for status in statuses), default=0)
        now = time.monotonic()
        return {
            "head_position": head,
            "projections": [
                {**status_json(status), **service.history.as_json(status.name, now=now)}
                for status in statuses
            ],
        }

    @app.post("/api/projections/{name}/retry")
    async def retry_projection(name: str, request: Request) -> dict[str, Any]:
        """Retry the event a failed projection stopped at; 409 when it has not failed."""
        failed = await service_of(request).runner.retry(name)
        return {"projection": name, "retried": failed_event_json(failed)}

    @app.post("/api/projections/{name}/skip")
    async def skip_projection(name: str, request: Request) -> dict[str, Any]:
        """Skip the event a failed projection stopped at (kept as a dead letter); 409 if not failed."""
        failed = await service_of(request).runner.skip_failed_event(name)
        return {"projection": name, "skipped": failed_event_json(failed)}

    @app.post("/api/simulations", status_code=202)
    async def start_simulation(body: SimulationRequest, request: Request) -> dict[str, Any]:
        """Start simulated load (202); 409 while one is running."""
        progress = service_of(request).start_simulation(body.orders, body.concurrency, body.rate)
        return {"simulation": progress.as_json()}

    @app.get("/api/simulations/current")
    async def current_simulation(request: Request) -> dict[str, Any]:
        """The latest simulation's progress, or null."""
        progress = service_of(request).simulation
        return {"simulation": None if progress is None else progress.as_json()}

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        service = service_of(request)
        await service.metrics.refresh(service.runner)
        return Response(service.metrics.exposition(), media_type=CONTENT_TYPE)

    return app


async def last_position(service: OrderService, order: Order) -> int | None:
    """The global position of the order's latest event (for read-your-writes)."""
    async for recorded in service.store.read_stream(order.id, backwards=True, limit=1):
        return recorded.position
    return None


def install_demo_problem_handlers(app: FastAPI) -> None:
    """The service's own errors as problem details, beside the library's (``install_problem_handlers``)."""

    @app.exception_handler(UnknownProjection)
    async def no_projection(request: Request, error: UnknownProjection) -> JSONResponse:
        return problem_response(404, "unknown-projection", str(error), projection=error.projection)

    @app.exception_handler(ProjectionStateError)
    async def not_failed(request: Request, error: ProjectionStateError) -> JSONResponse:
        return problem_response(409, "projection-not-failed", str(error))

    @app.exception_handler(ReadModelBehind)
    async def behind(request: Request, error: ReadModelBehind) -> JSONResponse:
        return problem_response(
            503,
            "read-model-behind",
            str(error),
            headers={"Retry-After": str(READ_MODEL_RETRY_AFTER)},
            projection=error.projection,
            min_position=error.position,
        )

    @app.exception_handler(SimulationBusy)
    async def busy(request: Request, error: SimulationBusy) -> JSONResponse:
        return problem_response(409, "simulation-running", str(error), simulation=error.progress.as_json())
