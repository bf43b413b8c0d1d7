"""``If-Match`` in, ``ETag`` out: optimistic concurrency over HTTP, for FastAPI routes.

A client reads a resource and gets its version as an ``ETag``; it sends that tag back as
``If-Match`` with a change; the route passes the version on as the command's expected
version, checked once and never retried, so a client that saw an older state gets 412 and
decides again on the new one instead of having its change applied to a state it never saw::

    from eventledger.http import IfMatchVersion, set_etag

    @app.post("/carts/{cart_id}/items")
    async def add_item(cart_id: str, body: AddItem, expected: IfMatchVersion, response: Response) -> None:
        result = await handler.handle(cart_id, body.command(cart_id), expected_version=expected)
        set_etag(response, result)
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Header
from starlette.responses import Response

from eventledger.http.etags import IF_MATCH, format_etag, parse_if_match
from eventledger.store.expected_version import ExpectedVersion


async def expected_version_from_if_match(
    if_match: Annotated[
        str | None,
        Header(
            alias=IF_MATCH,
            description='The ETag of the version the change is based on (W/"3"), or * for "it exists".',
        ),
    ] = None,
) -> ExpectedVersion | None:
    """The dependency behind :data:`IfMatchVersion`: the header's expected version, or None.

    A value that is not an entity tag of a version raises
    :class:`~eventledger.http.etags.InvalidPrecondition`, which the problem handlers answer with
    400 naming the header's value, so a client's mistake never reaches a command.
    """
    return parse_if_match(if_match)


IfMatchVersion = Annotated[ExpectedVersion | None, Depends(expected_version_from_if_match)]
"""A route parameter holding the version ``If-Match`` expects (None when the request sent none).

Pass it as ``expected_version`` to ``CommandHandler.handle`` (or ``Repository.update`` when
it is an int): None keeps the usual retry on conflicts; a version is checked once.
"""


class Versioned(Protocol):
    """Anything that knows the version of a stream: ``CommandResult``, ``AppendResult``, an aggregate."""

    @property
    def version(self) -> int:
        """The stream's version."""
        ...


def set_etag(response: Response, versioned: Versioned | int) -> str:
    """Put the weak ``ETag`` of ``versioned`` (or of a bare version) on ``response``; return it.

    With the tag the client can send its next change with ``If-Match`` and be told (412) when
    someone else changed the resource in between.
    """
    version = versioned if isinstance(versioned, int) else versioned.version
    tag = format_etag(version)
    response.headers["ETag"] = tag
    return tag
