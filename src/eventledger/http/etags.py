"""Entity tags from stream versions: ``W/"<version>"`` out, ``If-Match`` in.

A stream's version is the natural validator of the resource its events describe: any change
appends an event, so the version moves exactly when the resource does. The tag is *weak*
because the bytes of a representation can differ at one version (another JSON layout, another
media type) while the state they show is the same, and a strong tag promises equal bytes.

RFC 9110 asks servers to compare ``If-Match`` with the strong function, under which no weak tag
ever matches. Like Emmett and Marten, this module instead reads both ``W/"3"`` and ``"3"`` as
"version 3", since what the client asserts is the state it saw, not the bytes: a client that
echoes the ``ETag`` it was given gets the check it asked for. ``If-Match: *`` means "the
resource exists", which is :data:`~eventledger.STREAM_EXISTS`.

Pure functions, without FastAPI: :mod:`eventledger.http.preconditions` wires them to requests.
"""

from __future__ import annotations

import re
from typing import Final

from eventledger.errors import InvalidArgument
from eventledger.store.expected_version import STREAM_EXISTS, ExpectedVersion
from eventledger.store.limits import MAX_VERSION

IF_MATCH: Final = "If-Match"
"""The request header that carries the version a client saw."""

_ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"')
_SHOWN_LENGTH = 100


class InvalidPrecondition(InvalidArgument):
    """A precondition header (``If-Match``) is not one this service can check; nothing was done.

    ``header`` and ``value`` are the header as the client sent it; answered with 400.
    """

    def __init__(self, header: str, value: str, reason: str) -> None:
        self.header = header
        self.value = value
        self.reason = reason
        shown = repr(value)
        if len(value) > _SHOWN_LENGTH:
            shown = f"{value[:_SHOWN_LENGTH]!r}... ({len(value)} characters)"
        super().__init__(f"{header} {shown}: {reason}")


def format_etag(version: int) -> str:
    """The weak entity tag of a stream at ``version``: ``W/"3"``.

    >>> format_etag(3)
    'W/"3"'
    """
    if type(version) is not int or not 0 <= version <= MAX_VERSION:
        raise InvalidArgument(f"an entity tag is made from a stream version (an int from 0), not {version!r}")
    return f'W/"{version}"'


def parse_etag(tag: str, *, header: str = IF_MATCH) -> int:
    """The version in one entity tag, weak (``W/"3"``) or strong (``"3"``).

    Anything else raises :class:`InvalidPrecondition` naming ``header`` and the value.

    >>> parse_etag('W/"3"')
    3
    """
    text = tag.strip()
    match = _ENTITY_TAG.fullmatch(text)
    if match is None:
        raise InvalidPrecondition(header, tag, 'not an entity tag; send the ETag as it was given, e.g. W/"3"')
    opaque = match.group(2)
    if not opaque.isascii() or not opaque.isdigit() or (len(opaque) > 1 and opaque.startswith("0")):
        raise InvalidPrecondition(header, tag, "not the entity tag of a version (W/\"<version>\")")
    version = int(opaque)
    if version >= MAX_VERSION:  # a stream at MAX_VERSION takes no more events, so none can expect it
        raise InvalidPrecondition(header, tag, f"version {version} is beyond the largest ({MAX_VERSION - 1})")
    return version


def parse_if_match(value: str | None, *, header: str = IF_MATCH) -> ExpectedVersion | None:
    """The expected version an ``If-Match`` header asks for: None without one.

    ``W/"3"`` or ``"3"`` expects version 3; ``*`` expects the stream to exist. A list of
    several tags is refused (:class:`InvalidPrecondition`): a change is checked against one
    version, and a client that saw one resource sends one tag.

    >>> parse_if_match('W/"3"'), parse_if_match("*"), parse_if_match(None)
    (3, STREAM_EXISTS, None)
    """
    if value is None:
        return None
    text = value.strip()
    if text == "*":
        return STREAM_EXISTS
    if not text:
        raise InvalidPrecondition(header, value, 'empty; send the ETag as it was given, e.g. W/"3"')
    tags = _split_list(text)
    if len(tags) > 1:
        raise InvalidPrecondition(
            header, value, "several entity tags; send the one ETag the change is based on"
        )
    return parse_etag(tags[0], header=header)


def _split_list(text: str) -> list[str]:
    """The members of a comma-separated header list; commas inside quotes belong to the tag."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for character in text:
        if character == '"':
            quoted = not quoted
        if character == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()] or [text]
