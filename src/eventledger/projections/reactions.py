"""What a reactor's handlers emit: each source event's reaction, collected for one batch.

A reactor's handler receives an :class:`Emit` bound to the event it reacts to. Each call
records one stream's part of that event's reaction; nothing is written yet. When the batch's
handlers are done, the target writes every source event's reaction as one multi-stream append
(all its streams or none), in order, in the transaction that also moves the reactor's
checkpoint (see :mod:`eventledger.projections.targets.store`).

Every emitted event carries where it came from: ``causation_id`` is the source event's id and
``correlation_id`` the source's correlation id, or the source's own id when it has none (so a
whole chain of reactions shares the id of the event that started it).

Effects outside the store (a payment service, a mail, a broker) cannot join that transaction:
a handler that causes them directly does so at least once (again when the batch is retried or
the process dies before the commit). :attr:`Emit.key` is the idempotency key for them: the same
for every delivery of the same source event to the same reactor.

This module sits below the targets and the reactor, which both need it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Final

from eventledger.errors import InvalidArgument
from eventledger.events import Event, RecordedEvent
from eventledger.store.appends import AppendRequest, EncodedAppend, encode_requests
from eventledger.store.expected_version import ExpectedVersion

REACTION_KEYS: Final = ("correlation_id", "causation_id")
"""The metadata keys a reaction's events get from their source event (a handler may not set them)."""

EMITTED_METADATA: Final[ContextVar[Mapping[str, Any] | None]] = ContextVar(
    "eventledger_emitted_metadata", default=None
)
"""Keys added to the metadata of every event emitted while it is set (None: none). A listener
wrapping a reaction sets it (tracing puts its reaction span's ids here); a handler's own keys
and the source's ids win over it."""

_KEYS_NAMESPACE: Final = uuid.UUID("6f1d3c52-8a9e-4f57-9b1e-2d0c7a5e4b13")


def reaction_key(reactor: str, source: RecordedEvent) -> str:
    """The idempotency key of ``reactor``'s reaction to ``source``: a UUID derived from both.

    Deterministic, so every delivery of the same event to the same reactor gives the same key,
    and two reactors reacting to one event give different keys.
    """
    return str(uuid.uuid5(_KEYS_NAMESPACE, f"{reactor}\x00{source.event_id}"))


class Emit:
    """Emits a reaction to one source event; a reactor's handler calls it.

    >>> emit("account-1", [Debited(amount=10)], expected_version=7)   # doctest: +SKIP

    Each call is one stream's part of the reaction: the stream, its events and the version the
    handler decided on (an exact int, ``ANY``, ``NO_STREAM`` or ``STREAM_EXISTS``, as for
    :meth:`~eventledger.EventStore.append`). All the parts of one source event's reaction are
    written together or not at all; a part whose expected version does not hold fails the
    reaction like a handler error (retried, then the reactor stops at the event). The events
    are checked and encoded at the call, so an event that cannot be stored fails the handler
    there. A stream takes one call per reaction.

    No events, an exact version: a version check alone. The reaction then holds only while
    that stream is still at the version, for a decision that read a stream it does not write
    (a refusal decided on an aggregate's state).
    """

    __slots__ = ("_metadata", "_reactor", "_streams", "requests", "source")

    def __init__(self, reactor: str, source: RecordedEvent) -> None:
        self._reactor = reactor
        #: The event this reaction answers.
        self.source = source
        #: The reaction so far: one encoded append per stream, in the order emitted.
        self.requests: list[EncodedAppend] = []
        self._streams: set[str] = set()
        self._metadata = {"correlation_id": self.correlation_id, "causation_id": self.causation_id}

    def __call__(
        self,
        stream_id: str,
        events: Sequence[Event],
        *,
        expected_version: ExpectedVersion,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Add ``events`` for ``stream_id`` to the reaction; ``metadata`` adds keys of your own."""
        if stream_id in self._streams:
            raise InvalidArgument(
                f"stream {stream_id!r} is emitted to twice in the reaction to event {self.source.event_id}; "
                "emit its events in one call"
            )
        chosen = dict(metadata or {})
        taken = [key for key in REACTION_KEYS if key in chosen]
        if taken:
            raise InvalidArgument(
                f"metadata key(s) {', '.join(taken)} are set from the source event; choose other names"
            )
        ambient = EMITTED_METADATA.get()
        if ambient:
            chosen = {**ambient, **chosen}
        chosen.update(self._metadata)
        self.requests.extend(encode_requests([AppendRequest(stream_id, events, expected_version, chosen)]))
        self._streams.add(stream_id)

    @property
    def causation_id(self) -> str:
        """The source event's id: what caused the emitted events."""
        return str(self.source.event_id)

    @property
    def correlation_id(self) -> str:
        """The source event's correlation id, or its own id when it has none."""
        return self.source.correlation_id or str(self.source.event_id)

    @property
    def key(self) -> str:
        """The idempotency key for effects outside the store (see :func:`reaction_key`)."""
        return reaction_key(self._reactor, self.source)


class Reactions:
    """The session a reactor's batch hands its handlers: one :class:`Emit` per source event."""

    __slots__ = ("_emits", "reactor")

    def __init__(self, reactor: str) -> None:
        self.reactor = reactor
        self._emits: list[Emit] = []

    def emit_for(self, source: RecordedEvent) -> Emit:
        """A new :class:`Emit` for ``source``, kept in the batch's order."""
        emit = Emit(self.reactor, source)
        self._emits.append(emit)
        return emit

    @property
    def groups(self) -> list[list[EncodedAppend]]:
        """Each source event's reaction (those that emitted anything), in the order of the log."""
        return [emit.requests for emit in self._emits if emit.requests]

    @property
    def event_count(self) -> int:
        """How many events the batch's reactions hold."""
        return sum(len(request.events) for emit in self._emits for request in emit.requests)
