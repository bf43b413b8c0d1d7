"""Given / when / then for an HTTP API: past events in the app's store, a request, the answer.

Shaped after Emmett's ``ApiSpecification``: a scenario reads as the rule it checks, and runs
the real application (its lifespan started and stopped around it, its real store) in process
through httpx, without a server or a port::

    from eventledger.http.testing import api_scenario

    async def test_a_stale_if_match_is_refused(settings: DemoSettings) -> None:
        app = create_app(settings)
        await (
            api_scenario(app, store=lambda: app.state.service.store)
            .given("order-1", OrderCreated(...), OrderConfirmed(order_id="order-1"))
            .when(lambda client: client.post("/api/orders/order-1/cancel", headers={"If-Match": 'W/"1"'}))
            .then_problem(412, code="precondition-failed", actual_version=2)
        )

``then`` checks the status and whatever else it is given (headers, the JSON body, the new
events of each stream); ``then_problem`` checks a problem details answer and, unless told
otherwise, that nothing was appended. Both return the response for further checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventledger.errors import InvalidArgument
from eventledger.events import Event
from eventledger.http.problems import PROBLEM_JSON
from eventledger.store.base import EventStore
from eventledger.store.expected_version import ANY
from eventledger.testing.scenarios import side_by_side

Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
"""What ``when`` takes: a function that sends one request with the client it is given."""

_UNCHECKED: Any = object()


def api_scenario(app: ASGIApp, *, store: EventStore | Callable[[], EventStore]) -> ApiScenario:
    """Start an API scenario on ``app``, whose events live in ``store``.

    ``store`` may be a function returning the store, called once the app has started, for an
    app that opens its store in its lifespan (``lambda: app.state.store``).
    """
    return ApiScenario(app, store)


class ApiScenario:
    """An application, the events already in its store, and the request under test."""

    def __init__(self, app: ASGIApp, store: EventStore | Callable[[], EventStore]) -> None:
        self.app = app
        self.store = store
        self.past: list[tuple[str, tuple[Event, ...]]] = []
        self.request: Request | None = None

    def given(self, stream_id: str, *events: Event) -> ApiScenario:
        """Events appended to ``stream_id`` in the app's store before the request (call again for
        other streams)."""
        self.past.append((stream_id, events))
        return self

    def when(self, request: Request) -> ApiScenario:
        """The request under test: ``lambda client: client.post("/carts/1/items", json=...)``."""
        self.request = request
        return self

    async def then(
        self,
        status: int,
        *,
        headers: Mapping[str, str] | None = None,
        body: Any = _UNCHECKED,
        events: Mapping[str, Sequence[Event]] | None = None,
    ) -> httpx.Response:
        """Send the request; assert its status, then each of ``headers`` (the other headers are
        not checked), the JSON ``body`` (equal), and ``events``: the new events of each stream
        named, and no new event in any other stream. Returns the response."""
        response, new_events = await self._run()
        _check_status(response, status)
        for name, value in (headers or {}).items():
            if response.headers.get(name) != value:
                raise AssertionError(
                    f"expected header {name}: {value!r}, got {response.headers.get(name)!r}{_shown(response)}"
                )
        if body is not _UNCHECKED and _json(response) != body:
            raise AssertionError(f"expected the body {body!r}, got {_json(response)!r}")
        if events is not None:
            _check_events(events, new_events)
        return response

    async def then_problem(
        self,
        status: int,
        *,
        code: str | None = None,
        events: Mapping[str, Sequence[Event]] | None = None,
        **members: Any,
    ) -> httpx.Response:
        """Send the request; assert a problem details answer with ``status``, ``code`` and each
        of ``members`` (``stream_id="cart-1"``, ``detail=...``; others are not checked), and
        that no event was appended (unless ``events`` says which were). Returns the response."""
        response, new_events = await self._run()
        _check_status(response, status)
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if media_type != PROBLEM_JSON:
            shown = media_type or "none"
            raise AssertionError(f"expected a problem ({PROBLEM_JSON}), got {shown}{_shown(response)}")
        problem = _json(response)
        expected = {"status": status, **({} if code is None else {"code": code}), **members}
        differences = {
            name: (value, problem.get(name, "<missing>"))
            for name, value in expected.items()
            if problem.get(name, _UNCHECKED) != value
        }
        if differences:
            lines = [f"  {name}: expected {mine!r}, got {got!r}" for name, (mine, got) in differences.items()]
            lines.append(f"the whole problem: {problem!r}")
            raise AssertionError("the problem differs:\n" + "\n".join(lines))
        _check_events(events or {}, new_events)
        return response

    async def _run(self) -> tuple[httpx.Response, list[tuple[str, Event]]]:
        if self.request is None:
            raise InvalidArgument("an API scenario needs a request: call .when(lambda client: ...) first")
        async with running(self.app) as state:
            store = self.store if isinstance(self.store, EventStore) else self.store()
            for stream_id, events in self.past:
                await store.append(stream_id, events, expected_version=ANY)
            mark = await _last_position(store)
            transport = httpx.ASGITransport(app=_with_state(self.app, state))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                response = await self.request(client)
            new_events = [
                (recorded.stream_id, recorded.event) async for recorded in store.read_all(after=mark)
            ]
        return response, new_events


async def _last_position(store: EventStore) -> int:
    """The position of the newest event in the log (its read order, which on PostgreSQL is not
    the order of positions); a later commit reads after it."""
    last = 0
    async for recorded in store.read_all():
        last = recorded.position
    return last


def _check_status(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise AssertionError(f"expected status {status}, got {response.status_code}{_shown(response)}")


def _check_events(expected: Mapping[str, Sequence[Event]], new_events: list[tuple[str, Event]]) -> None:
    actual: dict[str, list[Event]] = {}
    for stream_id, event in new_events:
        actual.setdefault(stream_id, []).append(event)
    problems = []
    for stream_id in sorted(set(expected) | set(actual)):
        mine, theirs = list(expected.get(stream_id, ())), actual.get(stream_id, [])
        if mine != theirs:
            problems.append(side_by_side(mine, theirs, title=f"stream {stream_id!r}: the new events differ"))
    if problems:
        raise AssertionError("\n".join(problems))


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as error:
        raise AssertionError(f"expected a JSON body{_shown(response)}") from error


def _shown(response: httpx.Response) -> str:
    request = response.request
    return f" ({request.method} {request.url.path} answered {response.status_code}: {response.text[:500]})"


# --------------------------------------------------------------------- running the app in process


@asynccontextmanager
async def running(app: ASGIApp) -> AsyncIterator[dict[str, Any]]:
    """Run ``app``'s lifespan (startup, then shutdown) around the block, as a server would.

    Yields the lifespan state the app set up, which each request's scope starts from. A
    failed startup or shutdown raises the app's own error.
    """
    state: dict[str, Any] = {}
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    lifespan: asyncio.Task[None] = asyncio.create_task(_call(app, scope, to_app, from_app), name="lifespan")
    try:
        await to_app.put({"type": "lifespan.startup"})
        await _answer(lifespan, from_app, "startup")
        yield state
        await to_app.put({"type": "lifespan.shutdown"})
        await _answer(lifespan, from_app, "shutdown")
    finally:
        if not lifespan.done():
            lifespan.cancel()
        await asyncio.gather(lifespan, return_exceptions=True)


async def _call(
    app: ASGIApp, scope: Scope, to_app: asyncio.Queue[Message], from_app: asyncio.Queue[Message]
) -> None:
    await app(scope, to_app.get, from_app.put)


async def _answer(lifespan: asyncio.Task[None], from_app: asyncio.Queue[Message], phase: str) -> None:
    """Wait for the app's answer to ``phase``; raise its error if it failed."""
    message = asyncio.ensure_future(from_app.get())
    await asyncio.wait([message, lifespan], return_when=asyncio.FIRST_COMPLETED)
    if not message.done():
        message.cancel()
        lifespan.result()  # the app ended without answering: its own error, if it raised one
        raise AssertionError(f"the app ended its lifespan without answering {phase}")
    answer = message.result()
    if answer["type"] == f"lifespan.{phase}.failed":
        # Starlette raises the app's own error right after saying so: let the test see that.
        await asyncio.wait([lifespan])
        lifespan.result()
        raise AssertionError(f"the app's lifespan {phase} failed: {answer.get('message', '')}")


def _with_state(app: ASGIApp, state: dict[str, Any]) -> ASGIApp:
    """``app`` with the lifespan state in every request's scope (a copy each, as servers do)."""

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    return with_state
