"""Integration events to RabbitMQ: persistent messages, publisher confirms, the event id as message id.

Needs the ``rabbitmq`` extra (aio-pika). Bind an
:class:`~eventledger.projections.integration_events.IntegrationEvents` projection to a
:class:`~eventledger.projections.targets.messages.BrokerTarget` of a :class:`RabbitMQPublisher`::

    class OrdersOut(IntegrationEvents, name="orders-out"):
        pass

    publisher = RabbitMQPublisher("amqp://guest:guest@127.0.0.1:5672/", exchange="orders")
    orders_out = OrdersOut(BrokerTarget(publisher, bookkeeping=SQLiteTarget("out.db")))

Each event becomes one message (see :func:`~eventledger.projections.targets.messages.default_message`)
published to ``exchange`` with the message's subject as routing key, ``delivery_mode``
persistent, ``message_id`` the event id (consumers drop repeats by it: delivery is at least
once), ``type`` the event type, ``correlation_id`` the event's, and the ``eventledger-*`` headers.
The publisher waits for the broker's confirmation of each message before the next; a message
the broker nacks, or cannot route anywhere (``mandatory``, on by default: an exchange without a
bound queue would drop it silently), raises
:class:`~eventledger.projections.targets.messages.PublishFailed`.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustConnection, DeliveryMode, ExchangeType
from aio_pika.exceptions import (
    CONNECTION_EXCEPTIONS,
    ChannelInvalidStateError,
    DeliveryError,
    PublishError,
)

from eventledger.projections.targets.messages import (
    MessageMapping,
    MessagePublisher,
    OutgoingMessage,
    PublishFailed,
)

__all__ = ["RabbitMQPublisher"]


class RabbitMQPublisher(MessagePublisher):
    """Publishes events to ``exchange`` on the RabbitMQ server at ``url`` (an ``amqp://`` URL).

    ``exchange`` ``""`` is the default exchange (the routing key names a queue); another name is
    declared durable, of ``exchange_type``, on connecting (``declare=False``: it must exist).
    ``confirm_timeout``: seconds to wait for each confirmation. The connection is aio-pika's
    robust one: it reconnects by itself after an outage, and sends meanwhile fail as passing trouble.
    """

    broker: ClassVar[str] = "RabbitMQ"
    transient_errors = (*CONNECTION_EXCEPTIONS, ChannelInvalidStateError, ConnectionError, TimeoutError)

    def __init__(
        self,
        url: str,
        *,
        exchange: str = "",
        exchange_type: ExchangeType = ExchangeType.TOPIC,
        declare: bool = True,
        mandatory: bool = True,
        confirm_timeout: float = 30.0,
        mapping: MessageMapping | None = None,
    ) -> None:
        super().__init__(mapping)
        self.url = url
        self.exchange_name = exchange
        self.exchange_type = exchange_type
        self.declare = declare
        self.mandatory = mandatory
        self.confirm_timeout = confirm_timeout
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._connecting = asyncio.Lock()

    def __repr__(self) -> str:
        # The URL may hold a password: name the exchange only.
        return f"RabbitMQPublisher(exchange={self.exchange_name!r})"

    async def send(self, message: OutgoingMessage) -> None:
        """Publish ``message`` as a persistent message and wait for the broker's confirmation."""
        exchange = await self._ready()
        amqp = aio_pika.Message(
            message.body,
            headers=dict(message.headers),
            content_type=message.content_type,
            delivery_mode=DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            type=message.type,
        )
        try:
            await exchange.publish(
                amqp, routing_key=message.subject, mandatory=self.mandatory, timeout=self.confirm_timeout
            )
        except (DeliveryError, PublishError) as error:
            reason = "unroutable: no queue is bound for it" if isinstance(error, PublishError) else "nacked"
            raise PublishFailed(self.broker, message.message_id, message.subject, reason) from error

    async def _ready(self) -> AbstractExchange:
        async with self._connecting:
            if self._exchange is None:
                connection = self._connection
                if connection is None:
                    connection = self._connection = await aio_pika.connect_robust(self.url)
                # on_return_raises: an unroutable mandatory message raises instead of vanishing.
                channel = await connection.channel(publisher_confirms=True, on_return_raises=self.mandatory)
                if not self.exchange_name:
                    self._exchange = channel.default_exchange
                elif self.declare:
                    self._exchange = await channel.declare_exchange(
                        self.exchange_name, self.exchange_type, durable=True
                    )
                else:
                    self._exchange = await channel.get_exchange(self.exchange_name)
            return self._exchange

    async def close(self) -> None:
        """Close the connection; the next send connects again."""
        async with self._connecting:
            connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            await connection.close()
