"""HTTP for FastAPI applications: ETags from stream versions, If-Match preconditions, problem details.

``pip install 'eventledger[http]'`` (FastAPI; httpx for :mod:`eventledger.http.testing`). Nothing
else in eventledger imports this package, so applications without FastAPI never load it.

- :mod:`.etags`: ``format_etag`` (``W/"3"``), ``parse_etag``, ``parse_if_match``, and
  ``InvalidPrecondition`` for a header that is not a version's tag (a 400).
- :mod:`.preconditions`: ``IfMatchVersion``, a route parameter with the version ``If-Match``
  expects, and ``set_etag`` for the response.
- :mod:`.problems`: ``install_problem_handlers(app)``, the library's errors as RFC 9457
  ``application/problem+json`` (412 for a stale ``If-Match``, 409 for other conflicts, 422, 404,
  400, 503), and ``problem_response`` for the application's own errors.
- :mod:`.testing`: ``api_scenario(app, store=...)``, given events / when a request / then the
  status, headers, body and new events.
"""

try:
    import fastapi  # noqa: F401  (only to say which extra is missing)
except ModuleNotFoundError as missing:
    raise ModuleNotFoundError(
        f"eventledger.http needs FastAPI: pip install 'eventledger[http]' ({missing})", name=missing.name
    ) from missing

from eventledger.http.etags import IF_MATCH, InvalidPrecondition, format_etag, parse_etag, parse_if_match
from eventledger.http.preconditions import IfMatchVersion, Versioned, expected_version_from_if_match, set_etag
from eventledger.http.problems import (
    PROBLEM_JSON,
    Problem,
    install_problem_handlers,
    problem_for,
    problem_response,
)

__all__ = [
    "IF_MATCH",
    "PROBLEM_JSON",
    "IfMatchVersion",
    "InvalidPrecondition",
    "Problem",
    "Versioned",
    "expected_version_from_if_match",
    "format_etag",
    "install_problem_handlers",
    "parse_etag",
    "parse_if_match",
    "problem_for",
    "problem_response",
    "set_etag",
]
