"""What a reactor's handler emits, without a store: one append per stream, ids from the source event,
an idempotency key that does not change between deliveries."""

from __future__ import annotations

import uuid

import pytest
from reactor_rig import Ping, Pong

import eventledger as el
from eventledger.errors import InvalidArgument, SerializationError
from eventledger.events import decode_metadata
from eventledger.projections.reactions import Reactions, reaction_key


def source(**metadata: object) -> el.RecordedEvent:
    return el.RecordedEvent(
        event_id=uuid.uuid4(),
        stream_id="ping-1",
        version=1,
        position=7,
        type="test.reactors.ping",
        event=Ping(n=1),
        metadata=dict(metadata),
    )


def test_each_emit_becomes_one_request_with_the_source_events_ids_and_the_handlers_own_keys() -> None:
    recorded = source(correlation_id="order-9")
    emit = Reactions("echo").emit_for(recorded)
    emit("pong-1", [Pong(n=1), Pong(n=2)], expected_version=3, metadata={"tenant": "t1"})
    [request] = emit.requests
    assert (request.stream_id, len(request.events), request.expected) == ("pong-1", 2, 3)
    assert request.metadata is not None
    assert decode_metadata(request.metadata) == {
        "tenant": "t1",
        "correlation_id": "order-9",
        "causation_id": str(recorded.event_id),
    }


def test_a_source_without_a_correlation_id_lends_its_own_id() -> None:
    recorded = source()
    emit = Reactions("echo").emit_for(recorded)
    assert (emit.correlation_id, emit.causation_id) == (str(recorded.event_id), str(recorded.event_id))


def test_emitting_to_one_stream_twice_in_one_reaction_is_refused() -> None:
    emit = Reactions("echo").emit_for(source())
    emit("pong-1", [Pong(n=1)], expected_version=el.ANY)
    with pytest.raises(InvalidArgument, match="'pong-1' is emitted to twice"):
        emit("pong-1", [Pong(n=2)], expected_version=el.ANY)


def test_a_handler_may_not_set_the_ids_that_come_from_the_source_event() -> None:
    emit = Reactions("echo").emit_for(source())
    with pytest.raises(InvalidArgument, match="causation_id"):
        emit("pong-1", [Pong(n=1)], expected_version=el.ANY, metadata={"causation_id": "mine"})


def test_an_event_that_cannot_be_stored_fails_the_emit_itself() -> None:
    emit = Reactions("echo").emit_for(source())
    with pytest.raises(SerializationError):
        emit("pong-1", ["not an event"], expected_version=el.ANY)  # type: ignore[list-item]
    assert emit.requests == []


def test_the_idempotency_key_is_the_same_for_every_delivery_and_differs_between_reactors() -> None:
    recorded = source()
    first = Reactions("echo").emit_for(recorded).key
    again = Reactions("echo").emit_for(recorded).key
    assert first == again == reaction_key("echo", recorded)
    assert Reactions("audit").emit_for(recorded).key != first
    assert Reactions("echo").emit_for(source()).key != first


def test_a_batch_keeps_each_source_events_reaction_in_order_and_leaves_out_those_without_one() -> None:
    reactions = Reactions("echo")
    for n, emits in enumerate([1, 0, 2]):
        emit = reactions.emit_for(source())
        for index in range(emits):
            emit(f"pong-{n}-{index}", [Pong(n=n)], expected_version=el.ANY)
    assert [[request.stream_id for request in group] for group in reactions.groups] == [
        ["pong-0-0"],
        ["pong-2-0", "pong-2-1"],
    ]
    assert reactions.event_count == 3
