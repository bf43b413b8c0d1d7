"""What an append is on its way to a backend: requests checked and encoded, and observers told.

:meth:`EventStore.append_many <eventledger.store.base.EventStore.append_many>` takes
:class:`AppendRequest` objects; each is checked and encoded here, before any I/O, into an
:class:`EncodedAppend` that backends write (all of them in one transaction, or none).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eventledger.errors import ConcurrencyError, InvalidArgument
from eventledger.events import EncodedEvent, Event, encode_events, encode_metadata
from eventledger.store.expected_version import (
    ExpectedVersion,
    check_expected_version,
    expected_version_matches,
)
from eventledger.store.limits import check_batch, check_stream_id
from eventledger.store.records import AppendResult

AppendObserver = Callable[[int, float, bool], None]
"""Told of each append: ``(events written, seconds in the store, refused by a ConcurrencyError)``."""

_Outcome = TypeVar("_Outcome", AppendResult, list[AppendResult])


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """One stream's part of a multi-stream append (:meth:`EventStore.append_many`).

    >>> AppendRequest("account-1", [Debited(amount=10)], expected_version=3)  # doctest: +SKIP
    """

    stream_id: str
    events: Sequence[Event]
    expected_version: ExpectedVersion
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EncodedAppend:
    """An :class:`AppendRequest` checked and encoded, as backends receive it."""

    stream_id: str
    events: list[EncodedEvent]
    expected: ExpectedVersion
    metadata: str | None


def encode_requests(requests: object) -> list[EncodedAppend]:
    """Check and encode every request, or raise before anything is written.

    A stream may appear once: two requests for one stream would each expect a version the
    other changes, so the caller must put that stream's events in one request.
    """
    if not isinstance(requests, list | tuple):
        raise InvalidArgument(f"append_many takes a list of AppendRequest, not {type(requests).__name__}")
    encoded: list[EncodedAppend] = []
    seen: set[str] = set()
    for request in requests:
        if not isinstance(request, AppendRequest):
            raise InvalidArgument(f"append_many takes AppendRequest objects, not {type(request).__name__}")
        stream_id = check_stream_id(request.stream_id)
        if stream_id in seen:
            raise InvalidArgument(
                f"stream {stream_id!r} appears in two requests of one append_many; put its events "
                "in one request"
            )
        seen.add(stream_id)
        encoded.append(
            EncodedAppend(
                stream_id,
                encode_events(stream_id, check_batch(stream_id, request.events)),
                check_expected_version(stream_id, request.expected_version),
                encode_metadata(stream_id, request.metadata),
            )
        )
    return encoded


def check_versions(requests: Sequence[EncodedAppend], actual: Mapping[str, int]) -> None:
    """Raise :class:`ConcurrencyError` naming every request whose expected version does not
    hold against ``actual`` (each stream's current version; a stream not in it has none), in
    request order; return when all hold. Backends call it before writing anything."""
    conflicts = [
        (request.stream_id, request.expected, found)
        for request in requests
        if not expected_version_matches(request.expected, found := actual.get(request.stream_id, 0))
    ]
    if conflicts:
        raise ConcurrencyError(*conflicts[0], also=tuple(conflicts[1:]))


async def observed(observers: tuple[AppendObserver, ...], append: Awaitable[_Outcome]) -> _Outcome:
    """``append``'s outcome, with every observer told how many events it wrote and how long it took."""
    started = time.perf_counter()
    try:
        outcome = await append
    except ConcurrencyError:
        tell_observers(observers, 0, time.perf_counter() - started, True)
        raise
    results = outcome if isinstance(outcome, list) else [outcome]
    tell_observers(
        observers, sum(len(result.positions) for result in results), time.perf_counter() - started, False
    )
    return outcome


def tell_observers(
    observers: tuple[AppendObserver, ...], events: int, seconds: float, conflicted: bool
) -> None:
    for observer in observers:
        observer(events, seconds, conflicted)


class AppendObservers:
    """The observers of a store's appends (a part of :class:`~eventledger.store.base.EventStore`).

    Any number of instruments can watch: each joins with :meth:`add_append_observer`.
    """

    # A tuple, swapped whole on change: an append iterating it never sees it change.
    _append_observers: tuple[AppendObserver, ...] = ()

    def add_append_observer(self, observer: AppendObserver) -> None:
        """Tell ``observer`` of every append from now on, beside any other observers.

        Adding an observer that is already there (an equal callable) changes nothing.
        """
        if observer not in self._append_observers:
            self._append_observers = (*self._append_observers, observer)

    def remove_append_observer(self, observer: AppendObserver) -> None:
        """Stop telling ``observer`` of appends (nothing happens if it is not observing)."""
        self._append_observers = tuple(known for known in self._append_observers if known != observer)

    @property
    def append_observers(self) -> tuple[AppendObserver, ...]:
        """Everything told of this store's appends, in the order it joined."""
        return self._append_observers

    @property
    def append_observer(self) -> AppendObserver | None:
        """The single-slot form of :attr:`append_observers`: None when nothing observes appends.

        Otherwise one callable that tells every observer. Assigning replaces all observers
        with the one given (None removes them all); instruments that should coexist join with
        :meth:`add_append_observer` instead.
        """
        observers = self._append_observers
        if not observers:
            return None
        if len(observers) == 1:
            return observers[0]
        return lambda events, seconds, conflicted: tell_observers(observers, events, seconds, conflicted)

    @append_observer.setter
    def append_observer(self, observer: AppendObserver | None) -> None:
        self._append_observers = () if observer is None else (observer,)
