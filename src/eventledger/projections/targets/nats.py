"""Integration events to NATS JetStream: acknowledged publishes, de-duplicated by the event id.

Needs the ``nats`` extra (nats-py). Bind an
:class:`~eventledger.projections.integration_events.IntegrationEvents` projection to a
:class:`~eventledger.projections.targets.messages.BrokerTarget` of a :class:`JetStreamPublisher`::

    class OrdersOut(IntegrationEvents, name="orders-out"):
        pass

    publisher = JetStreamPublisher("nats://127.0.0.1:4222", stream="ORDERS")
    orders_out = OrdersOut(BrokerTarget(publisher, bookkeeping=SQLiteTarget("out.db")))

Each event becomes one JetStream publish to the message's subject (which a stream must capture:
JetStream answers only for subjects of a stream), with the ``eventledger-*`` headers and
``Nats-Msg-Id`` set to the event id: the server drops a repeat inside the stream's duplicate
window (two minutes by default), so the events published again after a crash or an outage are
stored once. The publisher waits for each acknowledgement before the next. A publish JetStream
refuses (a wrong expected stream, say) raises
:class:`~eventledger.projections.targets.messages.PublishFailed`; an unreachable server, a
timeout, no responder (no stream takes the subject, or JetStream is not up yet) or a stream
leader election is passing trouble, retried without limit. The client reconnects by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.client import JetStreamContext

from eventledger.projections.targets.messages import (
    MessageMapping,
    MessagePublisher,
    OutgoingMessage,
    PublishFailed,
)

__all__ = ["MSG_ID_HEADER", "JetStreamPublisher"]

MSG_ID_HEADER: Final = "Nats-Msg-Id"
"""The header JetStream de-duplicates by."""


class JetStreamPublisher(MessagePublisher):
    """Publishes events to JetStream on the NATS servers ``servers``.

    ``stream``: the stream the subjects must land in (JetStream refuses a publish captured by
    another stream); None accepts any. ``ack_timeout``: seconds to wait for each acknowledgement.
    ``connect_options`` go to :func:`nats.connect` as they are (credentials, TLS); reconnecting
    is unlimited unless they say otherwise.
    """

    broker: ClassVar[str] = "NATS JetStream"
    transient_errors = (
        nats.errors.TimeoutError,
        nats.errors.NoRespondersError,
        nats.errors.ConnectionClosedError,
        nats.errors.ConnectionReconnectingError,
        nats.errors.OutboundBufferLimitError,
        nats.errors.StaleConnectionError,
        nats.errors.NoServersError,
        nats.js.errors.ServiceUnavailableError,
        ConnectionError,
        TimeoutError,
        OSError,
    )

    def __init__(
        self,
        servers: str | Sequence[str] = "nats://127.0.0.1:4222",
        *,
        stream: str | None = None,
        ack_timeout: float = 10.0,
        connect_options: Mapping[str, Any] | None = None,
        mapping: MessageMapping | None = None,
    ) -> None:
        super().__init__(mapping)
        self.servers = [servers] if isinstance(servers, str) else list(servers)
        self.stream = stream
        self.ack_timeout = ack_timeout
        self.connect_options = {"max_reconnect_attempts": -1, **(connect_options or {})}
        self._client: Client | None = None
        self._jetstream: JetStreamContext | None = None
        self._connecting = asyncio.Lock()
        #: Publishes the server reported as duplicates and dropped (repeats after a crash or outage).
        self.duplicates = 0

    def __repr__(self) -> str:
        return f"JetStreamPublisher(stream={self.stream!r})"

    async def send(self, message: OutgoingMessage) -> None:
        """Publish ``message`` with ``Nats-Msg-Id`` and wait for JetStream's acknowledgement."""
        jetstream = await self._ready()
        headers = {**message.headers, "Content-Type": message.content_type, MSG_ID_HEADER: message.message_id}
        try:
            ack = await jetstream.publish(
                message.subject, message.body, timeout=self.ack_timeout, stream=self.stream, headers=headers
            )
        except nats.js.errors.ServiceUnavailableError:
            raise  # a leader election or a restarting server: passing trouble
        except nats.js.errors.APIError as error:
            raise PublishFailed(self.broker, message.message_id, message.subject, str(error)) from error
        if ack.duplicate:
            self.duplicates += 1

    async def _ready(self) -> JetStreamContext:
        async with self._connecting:
            if self._jetstream is None:
                self._client = await nats.connect(servers=self.servers, **self.connect_options)
                self._jetstream = self._client.jetstream()
            return self._jetstream

    async def close(self) -> None:
        """Drain and close the connection; the next send connects again."""
        async with self._connecting:
            client, self._client, self._jetstream = self._client, None, None
        if client is not None and not client.is_closed:
            await client.close()
