"""Process managers: reactors that answer events in the global log by appending events, exactly once.

>>> class TransferProcess(Reactor, name="transfer-process"):
...     @handles
...     async def requested(self, event: TransferRequested, recorded: RecordedEvent, emit: Emit) -> None:
...         emit(f"account-{event.source}", [Debited(transfer_id=event.transfer_id, amount=event.amount)],
...              expected_version=ANY)
>>> runner = ProjectionRunner(store, [TransferProcess(store)])   # doctest: +SKIP

A reactor is a projection whose read model is the event store: it reads the global log like
any projection (the same runner, lease, status, metrics, retries and operator actions), and
its handlers *emit* events instead of writing tables. Each handler gets an :class:`Emit` bound
to the event it handles; the emitted events carry that event's id as ``causation_id`` and its
correlation id (or its id) as ``correlation_id``.

Exactly once: the reactions of a batch and the reactor's checkpoint commit in one transaction
of the store's own database (see :mod:`eventledger.projections.targets.store`), so a source
event's reaction is appended once, whenever the process dies. That holds for the store the
reactor is bound to, which may be another store than the one the runner reads. Effects
elsewhere (a payment service, a mail) that a handler causes directly happen at least once;
pass :attr:`Emit.key` to them as the idempotency key.

A handler that decides from state it read (an aggregate it loaded) should emit with the
exact version it read, and when it decides to write nothing there (a refusal), emit no events
with that version, a check alone: the reactions of one batch are checked in order against
each other, but a handler does not see the not-yet-committed reactions of events before it
in the same batch. An exact version that no longer holds fails the batch; the runner then
applies its events one at a time, and the handler runs again on fresh state.

A reactor is never rebuilt (its reactions must not be appended again): ``runner.rebuild``
refuses it, and raising its ``version`` continues from the old version's checkpoint.
"""

from __future__ import annotations

from typing import Any

from eventledger.errors import ProjectionDefinitionError
from eventledger.events import Event, RecordedEvent
from eventledger.projections.projection import BoundHandler, Projection
from eventledger.projections.reactions import Emit, Reactions
from eventledger.projections.targets.store import Start, StoreTarget, store_target
from eventledger.store.base import EventStore

__all__ = ["Emit", "Reactor"]


class Reactor(Projection[Reactions]):
    """Base class of process managers: subclass it and write ``@handles`` methods that emit.

    A handler is an ``async`` method taking the event (typed as its class), the
    :class:`RecordedEvent` envelope and an :class:`Emit`::

        @handles
        async def on_order_placed(self, event: OrderPlaced, recorded: RecordedEvent, emit: Emit) -> None:
            emit(f"shipment-{event.order_id}", [ShipmentRequested(...)], expected_version=NO_STREAM)

    Class keywords as for :class:`Projection`: ``name`` (stable: it keys the checkpoint) and
    ``version``. A reactor has no tables.

    ``Reactor(store)`` appends to ``store`` and keeps its checkpoint in ``store``'s database;
    run it with a :class:`~eventledger.projections.runner.ProjectionRunner` over the store it
    should react to (usually the same one). ``start``: where a reactor that has never run
    begins, at the beginning of the log (default) or after the newest event (``"end"``, for
    reactions that history should not trigger).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.tables:
            raise ProjectionDefinitionError(
                f"{cls.__qualname__}: a reactor has no tables; its effects are the events it emits"
            )

    def __init__(self, store: EventStore, *, start: Start = "beginning") -> None:
        super().__init__(store_target(store, start=start))
        self.store = store
        self._reacting: dict[type[Event], BoundHandler | None] = {}

    @property
    def store_target(self) -> StoreTarget[Any]:
        """The target the reactions go to (the store, with the checkpoint in its database)."""
        target = self.target
        assert isinstance(target, StoreTarget)
        return target

    def handler_for(self, event_type: type[Event]) -> BoundHandler | None:
        """The handler for ``event_type`` as the runner calls it: with the batch's reactions,
        from which it hands the method an :class:`Emit` for the event."""
        try:
            return self._reacting[event_type]
        except KeyError:
            pass
        handler = super().handler_for(event_type)
        reacting = None if handler is None else _with_emit(handler)
        self._reacting[event_type] = reacting
        return reacting


def _with_emit(handler: BoundHandler) -> BoundHandler:
    async def react(event: Event, recorded: RecordedEvent, reactions: Reactions) -> None:
        await handler(event, recorded, reactions.emit_for(recorded))

    return react
