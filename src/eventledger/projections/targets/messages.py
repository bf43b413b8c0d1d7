"""Integration events out: the message an event becomes, and the publisher behind a broker target.

A broker target (:mod:`~eventledger.projections.targets.rabbitmq`,
:mod:`~eventledger.projections.targets.nats`) is an
:class:`~eventledger.projections.targets.at_least_once.AtLeastOnceTarget` whose client is a
:class:`MessagePublisher`: the projection's handler hands each event to the publisher, which maps
it to an :class:`OutgoingMessage` (a :data:`MessageMapping`; :func:`default_message` unless
given one) and sends it, waiting for the broker to confirm it; only then, after the whole batch,
does the checkpoint move. A crash or outage before the checkpoint sends the batch again, so
every message carries the event id as its message id, for the broker (NATS JetStream's
``Nats-Msg-Id``) or the consumer (AMQP ``message_id``) to drop the repeats.

Order: the handler publishes one event at a time and waits for each confirmation, so the
messages of one stream (of the whole log, in fact) reach the broker in log order.

A broker's connection errors are passing trouble, not an event's fault: the runner retries the
batch without limit (state ``stalled``) until the broker is back. A message the broker refuses
(:class:`PublishFailed`) fails the event: retried, then the projection stops
at it until an operator retries it. Nothing is ever skipped on its own.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from eventledger.errors import EventLedgerError, InvalidArgument
from eventledger.events import Event, RecordedEvent
from eventledger.projections.targets.at_least_once import AtLeastOnceConnection, AtLeastOnceTarget
from eventledger.projections.targets.base import Target, TargetConnection
from eventledger.projections.targets.delegating import Start

__all__ = [
    "BrokerConnection",
    "BrokerTarget",
    "MessageMapping",
    "MessagePublisher",
    "OutgoingMessage",
    "PublishFailed",
    "default_message",
    "json_body",
    "select",
]

HEADER_PREFIX: Final = "eventledger-"
"""Prefix of the headers :func:`default_message` sets (``eventledger-type``, ``eventledger-stream``...)."""


class PublishFailed(EventLedgerError):
    """A broker refused an event's message, or did not confirm it (an integration-events target).

    Here rather than in :mod:`eventledger.errors` (at its 500 lines), beside what raises it.

    The projection retries the event and, when retries run out, stops at it: no event is skipped.
    """

    def __init__(self, broker: str, event_id: str, subject: str, reason: str) -> None:
        super().__init__(f"{broker} did not take the message of event {event_id} (to {subject!r}): {reason}")
        self.broker = broker
        self.event_id = event_id
        self.subject = subject
        self.reason = reason


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What one event becomes on the broker.

    ``subject`` is the AMQP routing key or the NATS subject; ``message_id`` the id consumers and
    brokers de-duplicate by (the event id unless a mapping says otherwise); ``headers`` go out as
    message headers (strings); ``correlation_id`` also fills AMQP's own property.
    """

    subject: str
    body: bytes
    message_id: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    correlation_id: str | None = None
    type: str | None = None


MessageMapping = Callable[[RecordedEvent], OutgoingMessage | None]
"""Turns an event into its public message, or None to publish nothing for it (the checkpoint
still moves past it). The place to keep a public contract apart from the stored event's shape."""


def default_message(recorded: RecordedEvent, *, prefix: str = "events") -> OutgoingMessage:
    """``recorded`` as a JSON message to ``{prefix}.{type}``, with headers saying where it comes from.

    The body is the event's fields as JSON (as stored). Headers: ``eventledger-type``,
    ``-stream``, ``-version``, ``-position``, ``-event-id``, ``-recorded-at`` and, when the
    metadata has them, ``-correlation-id`` and ``-causation-id``.
    """
    headers = {
        f"{HEADER_PREFIX}type": recorded.type,
        f"{HEADER_PREFIX}stream": recorded.stream_id,
        f"{HEADER_PREFIX}version": str(recorded.version),
        f"{HEADER_PREFIX}position": str(recorded.position),
        f"{HEADER_PREFIX}event-id": str(recorded.event_id),
        f"{HEADER_PREFIX}recorded-at": recorded.recorded_at.isoformat(),
    }
    if recorded.correlation_id is not None:
        headers[f"{HEADER_PREFIX}correlation-id"] = recorded.correlation_id
    if recorded.causation_id is not None:
        headers[f"{HEADER_PREFIX}causation-id"] = recorded.causation_id
    return OutgoingMessage(
        subject=f"{prefix}.{recorded.type}",
        body=recorded.event.model_dump_json().encode(),
        message_id=str(recorded.event_id),
        headers=headers,
        correlation_id=recorded.correlation_id,
        type=recorded.type,
    )


def select(
    types: Collection[type[Event]], mapping: MessageMapping | None = None, *, prefix: str = "events"
) -> MessageMapping:
    """A mapping that publishes only events of ``types`` (subclasses too), through ``mapping``
    (:func:`default_message` to ``prefix`` by default).

    >>> publisher = RabbitMQPublisher(url, exchange="orders", mapping=select([OrderPlaced]))  # doctest: +SKIP
    """
    chosen = tuple(types)
    if not chosen or not all(isinstance(kind, type) and issubclass(kind, Event) for kind in chosen):
        raise InvalidArgument(f"select() takes a non-empty collection of Event classes, not {types!r}")

    def selected(recorded: RecordedEvent) -> OutgoingMessage | None:
        if not isinstance(recorded.event, chosen):
            return None
        return mapping(recorded) if mapping is not None else default_message(recorded, prefix=prefix)

    return selected


def json_body(data: Mapping[str, Any]) -> bytes:
    """``data`` as compact JSON bytes (for mappings that build a public contract by hand)."""
    return json.dumps(data, separators=(",", ":"), default=str).encode()


class MessagePublisher(ABC):
    """Sends events to one broker, one confirmed message at a time (see the module docstring).

    Subclasses implement :meth:`send` and :meth:`close`, and name the errors that mean the
    broker is unreachable rather than that it refused the message (:attr:`transient_errors`).
    """

    #: A short name for messages and logs (``RabbitMQ``, ``NATS JetStream``).
    broker: ClassVar[str] = "broker"
    #: Errors of an unreachable or recovering broker: retried without limit, never an event's fault.
    transient_errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)

    def __init__(self, mapping: MessageMapping | None = None) -> None:
        self.mapping: MessageMapping = mapping if mapping is not None else default_message

    async def publish(self, recorded: RecordedEvent) -> OutgoingMessage | None:
        """Map ``recorded`` and send its message, returning once the broker confirmed it
        (None: the mapping chose to publish nothing for it)."""
        message = self.mapping(recorded)
        if message is not None:
            await self.send(message)
        return message

    @abstractmethod
    async def send(self, message: OutgoingMessage) -> None:
        """Send ``message`` and wait until the broker has it (persisted where the broker can);
        connect first if not connected. Raise when it cannot be confirmed."""

    @abstractmethod
    async def close(self) -> None:
        """Close the broker connection (sending again reconnects)."""

    def is_transient(self, error: BaseException) -> bool:
        """Is ``error`` the broker's passing trouble (see :attr:`transient_errors`)?"""
        return isinstance(error, self.transient_errors)


class BrokerTarget(AtLeastOnceTarget[MessagePublisher]):
    """An at-least-once target whose handlers get a :class:`MessagePublisher`.

    ``bookkeeping`` keeps the checkpoint (a SQL target); closing the target closes the publisher.
    """

    def __init__(
        self, publisher: MessagePublisher, *, bookkeeping: Target[Any], start: Start = "beginning"
    ) -> None:
        super().__init__(publisher, bookkeeping=bookkeeping, start=start)

    def describe(self) -> str:
        """The broker, and where the checkpoints are kept."""
        return f"integration events to {self.client!r} (checkpoints in {self.bookkeeping.describe()})"

    async def connect(self) -> BrokerConnection:
        """A connection whose bookkeeping goes to the bookkeeping target."""
        return BrokerConnection(self, await self.bookkeeping.connect())

    async def close(self) -> None:
        """Close the publisher and the bookkeeping target."""
        try:
            await self.client.close()
        finally:
            await super().close()


class BrokerConnection(AtLeastOnceConnection[MessagePublisher]):
    """An at-least-once connection that counts the broker's outages as passing trouble."""

    def __init__(self, target: BrokerTarget, bookkeeping: TargetConnection[Any]) -> None:
        super().__init__(target, bookkeeping)

    def is_transient(self, error: Exception) -> bool:
        """A broker outage (the handler's error, or its cause) is retried without limit."""
        publisher = self.target.client
        # The runner wraps a handler's error; the broker's own error is its cause.
        cause = error.__cause__ if error.__cause__ is not None else error
        return publisher.is_transient(cause) or publisher.is_transient(error) or super().is_transient(error)
