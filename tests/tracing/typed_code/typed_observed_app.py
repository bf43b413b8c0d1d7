"""A typed user module: traced and metered commands, and integration events to RabbitMQ and NATS.

Checked by mypy --strict (tests/tracing/test_observability_types.py), never run.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import eventledger as el
from eventledger.projections import SQLiteTarget
from eventledger.projections.integration_events import IntegrationEvents
from eventledger.projections.targets.messages import (
    BrokerTarget,
    OutgoingMessage,
    default_message,
    json_body,
    select,
)
from eventledger.projections.targets.nats import JetStreamPublisher
from eventledger.projections.targets.rabbitmq import RabbitMQPublisher
from eventledger.tracing import OtelMetrics, Tracing


class TicketIssued(el.Event, type_name="typed-observed.TicketIssued"):
    ticket: str


class IssueTicket(el.Command):
    ticket: str


@dataclass(frozen=True)
class Desk:
    issued: int = 0


def decide(command: IssueTicket, state: Desk) -> list[TicketIssued]:
    return [TicketIssued(ticket=command.ticket)]


desk: el.Decider[IssueTicket, Desk, TicketIssued] = el.Decider(
    Desk, lambda state, event: Desk(state.issued + 1), decide
)


class TicketsOut(IntegrationEvents, name="tickets-out"):
    pass


def public_contract(recorded: el.RecordedEvent) -> OutgoingMessage | None:
    if not isinstance(recorded.event, TicketIssued):
        return None
    message = default_message(recorded, prefix="tickets")
    return OutgoingMessage(
        subject="tickets.issued",
        body=json_body({"ticket": recorded.event.ticket, "at": recorded.recorded_at}),
        message_id=message.message_id,
        headers=message.headers,
        correlation_id=message.correlation_id,
    )


async def main() -> int:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing = Tracing(tracer_provider)
    otel_metrics = OtelMetrics(MeterProvider(metric_readers=[InMemoryMetricReader()]))

    store = tracing.instrument_store(otel_metrics.instrument_store(await el.open_store("sqlite:///app.db")))
    handler = tracing.instrument_handler(el.CommandHandler(store, desk))
    result: el.CommandResult[Desk, TicketIssued] = await handler.handle("desk-1", IssueTicket(ticket="A1"))

    to_rabbit = TicketsOut(
        BrokerTarget(
            RabbitMQPublisher("amqp://guest:guest@127.0.0.1/", exchange="tickets", mapping=public_contract),
            bookkeeping=SQLiteTarget("out.db"),
        )
    )
    to_nats = TicketsOut(
        BrokerTarget(
            JetStreamPublisher("nats://127.0.0.1:4222", stream="TICKETS", mapping=select([TicketIssued])),
            bookkeeping=SQLiteTarget("nats-out.db"),
            start="end",
        )
    )
    for projection in (to_rabbit, to_nats):
        runner = el.ProjectionRunner(store, [projection], batch_size=20)
        tracing.observe_runner(runner)
        otel_metrics.observe_runner(runner)
        await runner.run_until_caught_up()
        await otel_metrics.refresh(runner)
    await store.close()
    return result.version + len(spans.get_finished_spans())
