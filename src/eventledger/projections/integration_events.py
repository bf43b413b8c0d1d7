"""A projection that publishes events to a broker: integration events out, at least once.

>>> class OrdersOut(IntegrationEvents, name="orders-out"):
...     pass
>>> publisher = RabbitMQPublisher("amqp://guest:guest@127.0.0.1/", exchange="orders")   # doctest: +SKIP
>>> runner = ProjectionRunner(store, [OrdersOut(BrokerTarget(publisher, bookkeeping=SQLiteTarget("out.db")))])

Every event of the log reaches :meth:`MessagePublisher.publish
<eventledger.projections.targets.messages.MessagePublisher.publish>`, whose mapping decides what
is published (:func:`~eventledger.projections.targets.messages.select` keeps some types). The
checkpoint lives in the bookkeeping target and moves after the batch's messages are confirmed;
see :mod:`eventledger.projections.targets.messages` for what that guarantees.
"""

from __future__ import annotations

from eventledger.events import Event, RecordedEvent
from eventledger.projections.projection import Projection, handles
from eventledger.projections.targets.messages import MessagePublisher

__all__ = ["IntegrationEvents"]


class IntegrationEvents(Projection[MessagePublisher]):
    """Base class of integration-event publishers: subclass it with a stable ``name``.

    Bind it to a :class:`~eventledger.projections.targets.messages.BrokerTarget`. Keep the
    runner's ``batch_size`` modest: a batch interrupted by a crash is published again.
    """

    @handles(Event)
    async def publish(self, event: Event, recorded: RecordedEvent, publisher: MessagePublisher) -> None:
        """Hand the event to the publisher, which maps it and waits for the broker's confirmation."""
        await publisher.publish(recorded)
