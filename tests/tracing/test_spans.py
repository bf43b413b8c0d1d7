"""Spans for appends, commands, repositories, projection batches and reactions, and the span ids
recorded in event metadata, read back from the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import eventledger as el
from eventledger.errors import ProjectionFailed
from eventledger.projections import (
    Emit,
    MemoryReadModel,
    MemoryTarget,
    Projection,
    ProjectionRetryPolicy,
    Reactor,
    handles,
)
from eventledger.tracing import SPAN_ID_KEY, TRACE_ID_KEY, Tracing


class SeatBooked(el.Event, type_name="tracing-test.SeatBooked"):
    seat: str


class SeatConfirmed(el.Event, type_name="tracing-test.SeatConfirmed"):
    seat: str


class BookSeat(el.Command):
    seat: str


@dataclass(frozen=True)
class Seat:
    booked: bool = False


def decide(command: BookSeat, state: Seat) -> list[SeatBooked]:
    return [] if state.booked else [SeatBooked(seat=command.seat)]


seats: el.Decider[BookSeat, Seat, SeatBooked] = el.Decider(Seat, lambda state, event: Seat(True), decide)


class Booking(el.Aggregate, type_name="tracing-test.booking"):
    seats: list[str] = []

    def book(self, seat: str) -> None:
        self.record(SeatBooked(seat=seat))

    @el.applies
    def _booked(self, event: SeatBooked) -> None:
        self.seats.append(event.seat)


class BookedSeats(Projection[MemoryReadModel], name="booked-seats"):
    tables = ("seats",)

    @handles
    async def booked(self, event: SeatBooked, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
        model.table("seats")[event.seat] = recorded.position


class Confirmations(Reactor, name="confirmations"):
    @handles
    async def booked(self, event: SeatBooked, recorded: el.RecordedEvent, emit: Emit) -> None:
        emit(f"confirmation-{event.seat}", [SeatConfirmed(seat=event.seat)], expected_version=el.NO_STREAM)


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def only(spans: Sequence[ReadableSpan]) -> ReadableSpan:
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def ids_of(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


async def test_an_append_span_carries_stream_count_expected_version_and_outcome(
    store: el.EventStore, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    tracing.instrument_store(store)
    result = await store.append(
        "seat-1", [SeatBooked(seat="1"), SeatConfirmed(seat="1")], expected_version=el.NO_STREAM
    )
    span = only(named(exporter, "eventledger.append"))
    assert span.kind is SpanKind.PRODUCER
    assert attributes(span) == {
        "eventledger.store": type(store).__name__.removesuffix("EventStore").lower(),
        "eventledger.stream_id": "seat-1",
        "eventledger.event_count": 2,
        "eventledger.expected_version": 0,
        "eventledger.outcome": "appended",
        "eventledger.version": 2,
        "eventledger.first_position": result.positions[0],
        "eventledger.last_position": result.positions[-1],
    }


async def test_every_appended_event_records_the_append_spans_trace_and_span_ids(
    store: el.EventStore, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    tracing.instrument_store(store)
    await store.append("seat-1", [SeatBooked(seat="1"), SeatConfirmed(seat="1")], expected_version=el.ANY)
    trace_id, span_id = ids_of(only(named(exporter, "eventledger.append")))
    recorded = [event async for event in store.read_stream("seat-1")]
    assert [(event.metadata[TRACE_ID_KEY], event.metadata[SPAN_ID_KEY]) for event in recorded] == [
        (trace_id, span_id),
        (trace_id, span_id),
    ]


async def test_an_append_without_a_correlation_id_takes_the_trace_id_and_an_explicit_one_is_kept(
    store: el.EventStore, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    tracing.instrument_store(store)
    await store.append("seat-1", [SeatBooked(seat="1")], expected_version=el.ANY)
    await store.append(
        "seat-2", [SeatBooked(seat="2")], expected_version=el.ANY, metadata={"correlation_id": "order-9"}
    )
    first, _ = named(exporter, "eventledger.append")
    assert [event.correlation_id async for event in store.read_stream("seat-1")] == [ids_of(first)[0]]
    assert [event.correlation_id async for event in store.read_stream("seat-2")] == ["order-9"]


async def test_a_refused_append_ends_its_span_with_outcome_conflict_and_status_error(
    store: el.EventStore, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    tracing.instrument_store(store)
    await store.append("seat-1", [SeatBooked(seat="1")], expected_version=el.NO_STREAM)
    with pytest.raises(el.ConcurrencyError):
        await store.append("seat-1", [SeatBooked(seat="1")], expected_version=el.NO_STREAM)
    refused = named(exporter, "eventledger.append")[1]
    assert attributes(refused)["eventledger.outcome"] == "conflict"
    assert refused.status.status_code is StatusCode.ERROR
    assert [event.name for event in refused.events] == ["exception"]


async def test_a_multi_stream_append_is_one_span_and_each_event_records_its_ids(
    store: el.EventStore, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    tracing.instrument_store(store)
    await store.append_many(
        [
            el.AppendRequest("seat-1", [SeatBooked(seat="1")], expected_version=el.NO_STREAM),
            el.AppendRequest("seat-2", [SeatBooked(seat="2")], expected_version=el.NO_STREAM),
        ]
    )
    span = only(named(exporter, "eventledger.append_many"))
    assert attributes(span)["eventledger.stream_id"] == ("seat-1", "seat-2")
    assert attributes(span)["eventledger.event_count"] == 2
    assert attributes(span)["eventledger.outcome"] == "appended"
    ids = [(event.metadata[TRACE_ID_KEY], event.metadata[SPAN_ID_KEY]) async for event in store.read_all()]
    assert ids == [ids_of(span)] * 2


async def test_a_handled_command_is_a_span_that_parents_its_append_and_its_trace_correlates_the_events(
    store: el.EventStore, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    handler = tracing.instrument_handler(el.CommandHandler(tracing.instrument_store(store), seats))
    command = BookSeat(seat="7")
    await handler.handle("seat-7", command)
    handled = only(named(exporter, "eventledger.command"))
    append = only(named(exporter, "eventledger.append"))
    assert append.parent is not None and handled.context is not None
    assert append.parent.span_id == handled.context.span_id
    assert attributes(handled) == {
        "eventledger.stream_id": "seat-7",
        "eventledger.command_type": "BookSeat",
        "eventledger.command_id": command.command_id,
        "eventledger.conflicts": 0,
        "eventledger.outcome": "decided",
        "eventledger.version": 1,
        "eventledger.event_count": 1,
    }
    (recorded,) = [event async for event in store.read_stream("seat-7")]
    # The command started the chain, so the trace stands in as its correlation id; the command
    # is still the cause.
    assert recorded.correlation_id == ids_of(handled)[0]
    assert recorded.causation_id == command.command_id


async def test_a_command_with_its_own_correlation_id_keeps_it(
    store: el.EventStore, tracing: Tracing
) -> None:
    handler = tracing.instrument_handler(el.CommandHandler(tracing.instrument_store(store), seats))
    await handler.handle("seat-7", BookSeat(seat="7", correlation_id="checkout-3"))
    assert [event.correlation_id async for event in store.read_stream("seat-7")] == ["checkout-3"]


async def test_a_command_that_decides_nothing_has_outcome_nothing(
    store: el.EventStore, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    handler = tracing.instrument_handler(el.CommandHandler(store, seats))
    await handler.handle("seat-7", BookSeat(seat="7"))
    await handler.handle("seat-7", BookSeat(seat="7"))
    assert [attributes(span)["eventledger.outcome"] for span in named(exporter, "eventledger.command")] == [
        "decided",
        "nothing",
    ]


async def test_repository_loads_and_saves_are_spans_with_stream_version_and_outcome(
    store: el.EventStore, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    bookings = tracing.instrument_repository(el.Repository(store, Booking))
    booking = Booking.new("b-1")
    booking.book("12A")
    await bookings.save(booking)
    loaded = await bookings.load("b-1")
    with pytest.raises(el.AggregateNotFound):
        await bookings.load("b-2")
    save = only(named(exporter, "eventledger.repository.save"))
    found, missing = named(exporter, "eventledger.repository.load")
    assert attributes(save)["eventledger.stream_id"] == booking.stream_id
    assert attributes(save)["eventledger.event_count"] == 1
    assert attributes(save)["eventledger.expected_version"] == 0
    assert attributes(save)["eventledger.outcome"] == "appended"
    assert attributes(found)["eventledger.outcome"] == "loaded"
    assert attributes(found)["eventledger.version"] == loaded.version == 1
    assert attributes(missing)["eventledger.outcome"] == "not_found"
    assert missing.status.status_code is not StatusCode.ERROR


async def test_a_projection_batch_span_names_its_positions_and_links_to_the_spans_that_appended(
    store: el.EventStore, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    tracing.instrument_store(store)
    first = await store.append("seat-1", [SeatBooked(seat="1")], expected_version=el.ANY)
    last = await store.append("seat-2", [SeatBooked(seat="2"), SeatBooked(seat="3")], expected_version=el.ANY)
    appends = named(exporter, "eventledger.append")
    runner = el.ProjectionRunner(store, [BookedSeats(MemoryTarget())], batch_size=10)
    tracing.observe_runner(runner)
    await runner.run_until_caught_up()
    batch = only(named(exporter, "eventledger.projection.batch"))
    assert batch.kind is SpanKind.CONSUMER
    assert attributes(batch) == {
        "eventledger.projection": "booked-seats",
        "eventledger.build": 1,
        "eventledger.first_position": first.positions[0],
        "eventledger.last_position": last.positions[-1],
        "eventledger.event_count": 3,
        "eventledger.rebuilding": False,
    }
    linked = [(link.context.trace_id, link.context.span_id) for link in batch.links]
    assert linked == [
        (span.context.trace_id, span.context.span_id) for span in appends if span.context is not None
    ]


async def test_a_failing_batch_span_records_the_error(
    store: el.EventStore, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    class Broken(Projection[MemoryReadModel], name="broken"):
        @handles
        async def booked(self, event: SeatBooked, recorded: el.RecordedEvent, model: MemoryReadModel) -> None:
            raise RuntimeError(f"seat {event.seat} cannot be projected")

    await store.append("seat-1", [SeatBooked(seat="1")], expected_version=el.ANY)
    retry = ProjectionRetryPolicy(attempts=1, first_delay=0.001, max_delay=0.001)
    runner = el.ProjectionRunner(store, [Broken(MemoryTarget())], retry=retry)
    tracing.observe_runner(runner)
    with pytest.raises(ProjectionFailed):
        await runner.run_until_caught_up()
    batch = named(exporter, "eventledger.projection.batch")[0]
    assert batch.status.status_code is StatusCode.ERROR
    assert "seat 1 cannot be projected" in (batch.status.description or "")


async def test_a_reaction_is_a_span_inside_its_batch_linked_to_the_source_events_append(
    store: el.EventStore, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    tracing.instrument_store(store)
    source = await store.append("seat-4", [SeatBooked(seat="4")], expected_version=el.ANY)
    append = only(named(exporter, "eventledger.append"))
    reactor = Confirmations(store)
    runner = el.ProjectionRunner(store, [reactor])
    tracing.observe_runner(runner)
    try:
        await runner.run_until_caught_up()
    finally:
        await reactor.target.close()
    reaction = only(named(exporter, "eventledger.reaction"))
    # The reactor reads its own reaction in a later batch (no handler: no reaction span there).
    batch = named(exporter, "eventledger.projection.batch")[0]
    assert attributes(batch)["eventledger.first_position"] == source.positions[0]
    assert reaction.parent is not None and batch.context is not None and append.context is not None
    assert reaction.parent.span_id == batch.context.span_id
    assert [link.context.span_id for link in reaction.links] == [append.context.span_id]
    assert attributes(reaction)["eventledger.projection"] == "confirmations"
    assert attributes(reaction)["eventledger.position"] == source.positions[0]
    assert attributes(reaction)["eventledger.event_type"] == "tracing-test.SeatBooked"


async def test_the_events_a_reaction_emits_record_the_reaction_spans_ids_and_keep_the_sources_correlation(
    store: el.EventStore, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    await store.append(
        "seat-4", [SeatBooked(seat="4")], expected_version=el.ANY, metadata={"correlation_id": "order-4"}
    )
    reactor = Confirmations(store)
    runner = el.ProjectionRunner(store, [reactor])
    tracing.observe_runner(runner)
    try:
        await runner.run_until_caught_up()
    finally:
        await reactor.target.close()
    reaction = only(named(exporter, "eventledger.reaction"))
    (emitted,) = [event async for event in store.read_stream("confirmation-4")]
    assert (emitted.metadata[TRACE_ID_KEY], emitted.metadata[SPAN_ID_KEY]) == ids_of(reaction)
    assert emitted.correlation_id == "order-4"


async def test_instrumenting_a_store_twice_makes_one_span_per_append(
    store: el.EventStore, tracing: Tracing, exporter: InMemorySpanExporter
) -> None:
    tracing.instrument_store(tracing.instrument_store(store))
    await store.append("seat-1", [SeatBooked(seat="1")], expected_version=el.ANY)
    assert len(named(exporter, "eventledger.append")) == 1


async def test_with_tracing_off_the_metadata_gets_no_ids(store: el.EventStore) -> None:
    from opentelemetry.trace import NoOpTracerProvider

    Tracing(NoOpTracerProvider()).instrument_store(store)
    await store.append("seat-1", [SeatBooked(seat="1")], expected_version=el.ANY)
    assert [event.metadata async for event in store.read_stream("seat-1")] == [{}]


def test_a_provider_of_the_tests_own_is_what_the_spans_go_to(tracer_provider: TracerProvider) -> None:
    assert Tracing(tracer_provider).tracer is not None
