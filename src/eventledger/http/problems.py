"""The library's errors as HTTP problem details (RFC 9457, ``application/problem+json``).

:func:`install_problem_handlers` makes every error a route lets through answer in one format::

    HTTP/1.1 412 Precondition Failed
    Content-Type: application/problem+json

    {"type": "about:blank", "title": "Precondition Failed", "status": 412,
     "detail": "stream 'cart-1' is at version 4, not version 3 as expected; read it again and decide anew",
     "code": "precondition-failed", "stream_id": "cart-1", "expected_version": 3, "actual_version": 4}

| error | status | ``code`` |
| --- | --- | --- |
| ``ConcurrencyError``, the request sent ``If-Match`` | 412 | ``precondition-failed`` |
| ``ConcurrencyError``, without ``If-Match`` | 409 | ``concurrency-conflict`` |
| ``DomainError`` | 422 | ``rule-violated`` |
| ``AggregateNotFound`` | 404 | ``not-found`` |
| ``InvalidPrecondition`` (a bad ``If-Match``) | 400 | ``invalid-precondition`` |
| ``InvalidArgument`` | 400 | ``invalid-argument`` |
| ``StoreUnavailable`` (with ``Retry-After``) | 503 | ``store-unavailable`` |
| FastAPI's request validation | 422 | ``invalid-request`` |
| unknown route, wrong method, any ``HTTPException`` | its own | ``http-error`` |
| any other ``EventLedgerError`` | 500 | ``internal-error`` |

``type`` is ``about:blank`` and ``title`` the status's phrase, as RFC 9457 asks when a problem
has no type URI of its own; ``code`` tells apart problems that share a status (409 for "it
already exists" and for a lost race look the same otherwise). The facts an error keeps are
extension members with their JSON types: versions are numbers, ids strings.

A 503 and a 500 say nothing of the cause (a server's host name or a stored event's data is
not the client's business); the cause is logged. Everything else is the caller's doing, and
the detail says what it was.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from eventledger.errors import (
    AggregateNotFound,
    ConcurrencyError,
    DomainError,
    EventLedgerError,
    InvalidArgument,
    StoreUnavailable,
)
from eventledger.http.etags import IF_MATCH, InvalidPrecondition
from eventledger.store.expected_version import STREAM_EXISTS

logger = logging.getLogger(__name__)

PROBLEM_JSON: Final = "application/problem+json"
"""The media type of a problem details body."""

DEFAULT_RETRY_AFTER_SECONDS: Final = 1
"""What a 503 tells clients to wait before retrying, unless the app says otherwise."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem detail: the status, the ``code`` that names its kind, what happened, and facts.

    ``extensions`` become members of the body beside ``type``, ``title``, ``status``,
    ``detail`` and ``code``; ``headers`` go on the response (``Retry-After``, ``Allow``). An
    application with type URIs of its own passes ``type`` and ``title`` as extensions; ``status``,
    ``detail`` and ``code`` are the fields', so the body cannot contradict the response.
    """

    status: int
    code: str
    detail: str
    extensions: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clashing = sorted(_OWN_MEMBERS & set(self.extensions))
        if clashing:
            raise InvalidArgument(
                f"problem {self.code!r}: an extension member cannot be named {' or '.join(clashing)}; "
                "that is the problem's own field"
            )

    def body(self) -> dict[str, Any]:
        """The JSON body: the standard members first, then the extensions."""
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": title_of(self.status),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        body.update(self.extensions)  # an application's own type and title replace the defaults in place
        return body

    def response(self) -> JSONResponse:
        """The problem as an ``application/problem+json`` response."""
        return JSONResponse(self.body(), self.status, headers=dict(self.headers), media_type=PROBLEM_JSON)


_OWN_MEMBERS: Final = frozenset({"status", "detail", "code"})

_WITHOUT_BODY: Final = frozenset({204, 304})
"""Statuses whose responses have no body (RFC 9110), so no problem either."""

_RFC_9110_TITLES: Final = {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}
"""The phrases RFC 9110 renamed, which Python's ``HTTPStatus`` has only from 3.13 on."""


def title_of(status: int) -> str:
    """The status's phrase as RFC 9110 has it: the ``title`` of a problem without a type URI."""
    if status in _RFC_9110_TITLES:
        return _RFC_9110_TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status Python does not know (599): still a problem, titled by its number
        return f"HTTP {status}"


def problem_response(
    status: int, code: str, detail: str, /, *, headers: Mapping[str, str] | None = None, **extensions: Any
) -> JSONResponse:
    """A problem response of the application's own, in the same format as the library's.

    >>> problem_response(409, "simulation-running", "a simulation is already running").status_code
    409
    """
    return Problem(status, code, detail, extensions, headers or {}).response()


# --------------------------------------------------------------------- from errors to problems


def concurrency_problem(error: ConcurrencyError, *, precondition_sent: bool) -> Problem:
    """412 when the client's ``If-Match`` version was stale, 409 when another writer won a race
    the request did not set a precondition for (creating what exists, a conflict past the retries)."""
    extensions: dict[str, Any] = _conflict_facts(error.stream_id, error.expected, error.actual)
    if error.also:
        extensions["conflicts"] = [_conflict_facts(*conflict) for conflict in error.conflicts]
    detail = "; ".join(_describe_conflict(*conflict) for conflict in error.conflicts)
    if precondition_sent:
        return Problem(412, "precondition-failed", detail, extensions)
    return Problem(409, "concurrency-conflict", detail, extensions)


def _conflict_facts(stream_id: str, expected: object, actual: int) -> dict[str, Any]:
    facts: dict[str, Any] = {"stream_id": stream_id}
    if type(expected) is int:
        facts["expected_version"] = expected
    facts["actual_version"] = actual
    return facts


def _describe_conflict(stream_id: str, expected: object, actual: int) -> str:
    if expected == 0 and type(expected) is int:
        return f"stream {stream_id!r} already exists (it is at version {actual})"
    if expected is STREAM_EXISTS:
        return f"stream {stream_id!r} does not exist"
    return (
        f"stream {stream_id!r} is at version {actual}, not version {expected} as expected; "
        "read it again and decide anew"
    )


def problem_for(error: EventLedgerError, request: Request) -> Problem:
    """The problem an error of the library answers ``request`` with (see the module's table)."""
    if isinstance(error, ConcurrencyError):
        return concurrency_problem(error, precondition_sent=IF_MATCH in request.headers)
    if isinstance(error, DomainError):
        return Problem(422, "rule-violated", str(error))
    if isinstance(error, AggregateNotFound):
        return Problem(404, "not-found", str(error), {"stream_id": error.stream_id})
    if isinstance(error, InvalidPrecondition):
        facts = {"header": error.header, "value": error.value}
        return Problem(400, "invalid-precondition", str(error), facts)
    if isinstance(error, InvalidArgument):
        stream_id = getattr(error, "stream_id", None)
        facts = {"stream_id": stream_id} if isinstance(stream_id, str) else {}  # an invalid id: any object
        return Problem(400, "invalid-argument", str(error), facts)
    if isinstance(error, StoreUnavailable):
        retry_after = getattr(request.app.state, "eventledger_retry_after", DEFAULT_RETRY_AFTER_SECONDS)
        logger.warning("%s %s: the event store is unavailable: %s", request.method, request.url.path, error)
        return Problem(
            503,
            "store-unavailable",
            "the event store is unavailable; retry later",
            headers={"Retry-After": str(retry_after)},
        )
    logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return Problem(500, "internal-error", "the service failed to handle the request")


def validation_problem(error: RequestValidationError) -> Problem:
    """422 naming every field that did not fit: ``errors`` lists where (``in``: body, query,
    path, header), which ``field`` (dotted) and the ``problem``; ``detail`` joins them. A body
    that is not JSON at all is malformed, not unprocessable: 400, saying where it broke."""
    errors = []
    malformed = True
    for item in error.errors():
        location = [str(part) for part in item.get("loc", ())]
        where = location[0] if location else "body"
        problem = str(item.get("msg", ""))
        if item.get("type") == "json_invalid":  # FastAPI puts the character offset where a field goes
            problem = f"{problem} at character {location[1]}" if len(location) > 1 else problem
            location = location[:1]
        else:
            malformed = False
        errors.append({"in": where, "field": ".".join(location[1:]), "problem": problem})
    detail = "; ".join(f"{entry['field'] or entry['in']}: {entry['problem']}" for entry in errors)
    status = 400 if errors and malformed else 422
    return Problem(status, "invalid-request", detail or "the request is invalid", {"errors": errors})


def http_problem(error: HTTPException, request: Request) -> Problem:
    """A problem for an ``HTTPException``: an unknown route or method, or one a route raised."""
    detail = error.detail
    if detail == HTTPStatus(error.status_code).phrase:
        if error.status_code == 404:
            detail = f"nothing at {request.url.path}"
        elif error.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
    return Problem(error.status_code, "http-error", detail, headers=error.headers or {})


# --------------------------------------------------------------------- the handlers


def install_problem_handlers(app: FastAPI, *, retry_after_seconds: int = DEFAULT_RETRY_AFTER_SECONDS) -> None:
    """Answer the library's errors, request validation and HTTP errors as problem details.

    Install it once, before the app serves; handlers the app adds later for its own errors
    (built with :func:`problem_response`) sit beside these. ``retry_after_seconds`` is the
    ``Retry-After`` of a 503.
    """
    if type(retry_after_seconds) is not int or retry_after_seconds < 0:
        raise InvalidArgument(f"retry_after_seconds must be an int of 0 or more, not {retry_after_seconds!r}")
    app.state.eventledger_retry_after = retry_after_seconds

    async def library_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, EventLedgerError)
        return problem_for(error, request).response()

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return validation_problem(error).response()

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if error.status_code in _WITHOUT_BODY:
            return Response(status_code=error.status_code, headers=error.headers)
        return http_problem(error, request).response()

    app.add_exception_handler(EventLedgerError, library_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
