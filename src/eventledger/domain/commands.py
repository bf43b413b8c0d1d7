"""Commands and the handler that runs a decider against a stream.

A command is an intent with ids that trace it. Handling one is always the same four steps:
read the stream, fold its events into the state, decide, append the new events with the
stream's version as the expected version. When another writer appended in between, the
append raises :class:`~eventledger.ConcurrencyError` and the whole command runs again on the
fresh state, as the :class:`~eventledger.RetryPolicy` allows.

The time is part of the command: the handler reads its :class:`~eventledger.domain.clock.Clock`
once per command and sets ``command.now`` (unless the caller set it), so ``decide`` stays pure
and reads the time from the command; the produced events' metadata records it as ``now``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import pydantic

from eventledger.domain.clock import Clock, system_clock, timestamp, utc
from eventledger.domain.decider import Decider, EventType
from eventledger.domain.retry import NO_RETRY, RetryPolicy
from eventledger.errors import ConcurrencyError
from eventledger.events import Metadata
from eventledger.store.base import EventStore
from eventledger.store.expected_version import (
    ANY,
    ExpectedVersion,
    check_expected_version,
    expected_version_matches,
)
from eventledger.store.records import AppendResult

CommandType = TypeVar("CommandType")
State = TypeVar("State")


class Command(pydantic.BaseModel):
    """Base class of commands: an immutable, validated intent.

    - ``command_id``: unique per command (generated when not given).
    - ``correlation_id``: ties together everything one user action caused.
    - ``causation_id``: the id of the message that caused this command, if any.
    - ``metadata``: what the caller wants recorded with the events (a client id, a user, an IP
      address); a JSON object, not a business field, so ``model_dump()`` leaves it out.
    - ``now``: when the command is decided, timezone-aware. A
      :class:`~eventledger.CommandHandler` sets it from its clock unless the caller did, so a
      rule that depends on the time reads ``command.now`` and a test states the time it runs at.
      Also left out of ``model_dump()``.

    The events a command produces carry all of these in their metadata (see :meth:`event_metadata`).
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    command_id: str = pydantic.Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    correlation_id: str | None = None
    causation_id: str | None = None
    metadata: Metadata = pydantic.Field(default_factory=dict, exclude=True)
    now: pydantic.AwareDatetime | None = pydantic.Field(default=None, exclude=True)

    def __hash__(self) -> int:
        # A frozen model hashes all its fields; ``metadata`` is a dict, so it is left out (equal
        # commands still hash alike), and commands stay usable as set members and dict keys.
        return hash((type(self), *(value for name, value in self.__dict__.items() if name != "metadata")))

    def event_metadata(self) -> Metadata:
        """Metadata for the events this command produces.

        ``correlation_id`` and ``causation_id`` are the command's own; when it was not given one,
        the command starts the chain, so its ``command_id`` stands in. ``command_id`` and
        ``command_type`` are recorded too, and ``now`` (ISO-8601, UTC) when the command has a time.
        The command's ``metadata`` comes first: its keys cannot replace these.
        """
        merged: Metadata = {
            **self.metadata,
            "correlation_id": self.correlation_id or self.command_id,
            "causation_id": self.causation_id or self.command_id,
            "command_id": self.command_id,
            "command_type": type(self).__name__,
        }
        if self.now is not None:
            merged["now"] = timestamp(self.now)
        return merged


def merge_metadata(
    command: object, metadata: Mapping[str, Any] | None, *, now: datetime | None = None
) -> Metadata:
    """A command's event metadata (when it is a :class:`Command`) overlaid with ``metadata``.

    ``now`` (the time the command is decided at) is recorded last, as ISO-8601 UTC text: the time
    in the metadata is always the decision's.
    """
    merged: Metadata = command.event_metadata() if isinstance(command, Command) else {}
    if metadata:
        merged.update(metadata)
    if now is not None:
        merged["now"] = timestamp(now)
    return merged


def timed(command: CommandType, clock: Clock) -> tuple[CommandType, datetime]:
    """``command`` with its ``now`` set from ``clock`` (unless it has one), and that time.

    A command that is not a :class:`Command` cannot carry a time; it is returned as it is, and
    the time is still recorded in its events' metadata.
    """
    if isinstance(command, Command):
        if command.now is not None:
            return command, utc(command.now, source=type(command).__name__)
        now = utc(clock.now(), source=clock)
        return command.model_copy(update={"now": now}), now
    return command, utc(clock.now(), source=clock)


@dataclass(frozen=True, slots=True)
class CommandResult(Generic[State, EventType]):
    """What handling one command did.

    ``events`` is empty when the decision was to do nothing (then nothing was appended and
    ``positions`` is empty); ``version`` is the stream's version and ``state`` the state after
    the new events.
    """

    stream_id: str
    events: tuple[EventType, ...]
    version: int
    state: State
    positions: tuple[int, ...]


class CommandHandler(Generic[CommandType, State, EventType]):
    """Runs a :class:`Decider` against streams of a store.

    ``clock`` (default: :data:`~eventledger.domain.clock.system_clock`) gives each command its
    ``now``; a test passes a :class:`~eventledger.domain.clock.FixedClock`.

    >>> async def example(store: EventStore) -> None:
    ...     handler = CommandHandler(store, order_decider)
    ...     result = await handler.handle("order-1", ConfirmOrder(order_id="order-1"))
    """

    def __init__(
        self,
        store: EventStore,
        decider: Decider[CommandType, State, EventType],
        *,
        retry: RetryPolicy | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.decider = decider
        self.retry = retry if retry is not None else RetryPolicy()
        self.clock = clock
        #: ConcurrencyErrors met so far (each one led to a retry or, on the last attempt, an error).
        self.conflicts = 0

    async def handle(
        self,
        stream_id: str,
        command: CommandType,
        *,
        expected_version: ExpectedVersion | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> CommandResult[State, EventType]:
        """Load ``stream_id``, decide ``command`` on its state, append the events.

        The append's expected version is the version the state was folded from (``NO_STREAM``
        for an empty stream). ``metadata`` is stored with the events, on top of the command's
        own ids and metadata when it is a :class:`Command`, and under the time it is decided at
        (``now``: the command's own, or else the handler's clock read once, also across retries;
        ``decide`` sees it as ``command.now``). Business rule violations raised by ``decide``
        propagate unchanged; conflicts are retried per the handler's :class:`RetryPolicy`.

        ``expected_version`` is a version the caller saw (an HTTP ``If-Match``): the stream must
        still be there, so it is checked once, before deciding and again by the append, and a
        mismatch raises :class:`~eventledger.ConcurrencyError` without a retry (``ANY`` means no
        such check: the default, retried). The result's ``version`` is the one to hand back::

            result = await handler.handle("order-1", confirm, expected_version=3)
            etag = f'W/"{result.version}"'
        """
        command, now = timed(command, self.clock)
        event_metadata = merge_metadata(command, metadata, now=now)
        expected = None if expected_version is None else check_expected_version(stream_id, expected_version)

        async def attempt() -> CommandResult[State, EventType]:
            state, version = await self.load(stream_id)
            if expected is not None and not expected_version_matches(expected, version):
                raise ConcurrencyError(stream_id, expected, version)
            events = tuple(self.decider.decide(command, state))
            if not events:
                return CommandResult(stream_id, (), version, state, ())
            result: AppendResult = await self.store.append(
                stream_id, events, expected_version=version, metadata=event_metadata
            )
            return CommandResult(
                stream_id, events, result.version, self.decider.fold(events, state), result.positions
            )

        if expected is None or expected is ANY:
            return await self.retry.run(attempt, on_conflict=self._count_conflict)
        return await NO_RETRY.run(attempt, on_conflict=self._count_conflict)

    async def load(self, stream_id: str) -> tuple[State, int]:
        """The stream's current state and the version it was folded from (0 for no events).

        Every stored event goes to ``evolve`` as it is: the stream holds the decider's events.
        """
        state = self.decider.initial_state()
        version = 0
        async for recorded in self.store.read_stream(stream_id):
            state = self.decider.evolve(state, cast("EventType", recorded.event))
            version = recorded.version
        return state, version

    def _count_conflict(self, _: Exception) -> None:
        self.conflicts += 1
