"""OpenTelemetry spans for appends, commands, repositories, projection batches and reactions.

>>> tracing = Tracing()                       # the global TracerProvider unless given one
>>> async def example() -> None:
...     store = tracing.instrument_store(await open_store("sqlite:///orders.db"))
...     handler = tracing.instrument_handler(CommandHandler(store, order_decider))
...     tracing.observe_runner(ProjectionRunner(store, [OrderSummaries(target)]))

Nothing in the store, the domain layer or the runner imports OpenTelemetry. Instrumenting an
object shadows its public methods on that one instance with traced versions (the class and
every other instance stay as they were), so an uninstrumented store pays nothing; the runner
is observed through its listeners (:meth:`~eventledger.projections.ProjectionListener.applying`
and :meth:`~eventledger.projections.ProjectionListener.reacting`).

Spans (attributes under ``eventledger.``):

- ``eventledger.append`` / ``eventledger.append_many`` (producer): ``store``, ``stream_id``,
  ``event_count``, ``expected_version``, ``outcome`` (``appended``, ``conflict``, ``error``),
  then ``version``, ``first_position``, ``last_position``. Its trace and span ids go into every
  appended event's metadata (:mod:`eventledger.tracing.ids`).
- ``eventledger.command`` around :meth:`CommandHandler.handle <eventledger.CommandHandler.handle>`:
  ``command_type``, ``command_id``, ``stream_id``, ``outcome`` (``decided``, ``nothing``,
  ``conflict``, ``error``), ``conflicts`` retried, ``version``, ``event_count``.
- ``eventledger.repository.load`` / ``eventledger.repository.save``: ``aggregate_type``,
  ``stream_id``, ``version``, ``event_count`` (save), ``outcome``.
- ``eventledger.projection.batch`` (consumer): ``projection``, ``build``, ``first_position``,
  ``last_position``, ``event_count``, ``rebuilding``; linked to the spans that appended its
  events.
- ``eventledger.reaction``, a child of its batch: ``projection``, ``stream_id``, ``position``,
  ``event_type``, ``event_id``; linked to the span that appended the source event. The events
  the reaction emits record its ids (through ``EMITTED_METADATA``), as appended events do.

A failing call's span records the exception and ends with status ERROR.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

from eventledger.domain.commands import CommandHandler, CommandResult
from eventledger.domain.repository import Repository
from eventledger.errors import AggregateNotFound, ConcurrencyError
from eventledger.events import Event
from eventledger.projections.listeners import BatchStarting, ProjectionListener, Reacting
from eventledger.projections.reactions import EMITTED_METADATA
from eventledger.projections.runner import ProjectionRunner
from eventledger.store.appends import AppendRequest
from eventledger.store.base import EventStore
from eventledger.store.expected_version import ExpectedVersion
from eventledger.store.records import AppendResult
from eventledger.tracing.ids import appending_span, links_to_appenders, span_ids, traced_metadata

__all__ = ["INSTRUMENTATION_NAME", "Tracing"]

INSTRUMENTATION_NAME: Final = "eventledger"
"""The instrumentation scope of every span and instrument eventledger makes."""

AnyStore = TypeVar("AnyStore", bound=EventStore)
AnyHandler = TypeVar("AnyHandler", bound=CommandHandler[Any, Any, Any])
AnyRepository = TypeVar("AnyRepository", bound=Repository[Any, Any])


def library_version() -> str:
    """eventledger's installed version (``unknown`` when run from a source tree without metadata)."""
    try:
        return version("eventledger")
    except PackageNotFoundError:
        return "unknown"


def store_label(store: EventStore) -> str:
    """A short name for the store's backend: ``SQLiteEventStore`` -> ``sqlite``.

    The same rule as :func:`eventledger.metrics.backend_name`, which this module cannot import
    without importing ``prometheus_client``.
    """
    name = type(store).__name__
    return name.removesuffix("EventStore").lower() or name.lower()


def expected_label(expected: ExpectedVersion) -> int | str:
    """An expected version as a span attribute: the int, or the form's name (``ANY``)."""
    return expected if isinstance(expected, int) else repr(expected)


class Tracing:
    """eventledger's spans, made with ``tracer_provider`` (the global one by default).

    Instrument each object once; instrumenting it again with the same instance changes nothing.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self.tracer: Tracer = trace.get_tracer(
            INSTRUMENTATION_NAME, library_version(), tracer_provider=tracer_provider
        )
        self._instrumented: weakref.WeakSet[object] = weakref.WeakSet()

    def _first_time(self, target: object) -> bool:
        if target in self._instrumented:
            return False
        self._instrumented.add(target)
        return True

    # ----------------------------------------------------------------- store

    def instrument_store(self, store: AnyStore) -> AnyStore:
        """Trace ``store``'s appends and record the active span's ids in each appended event.

        Returns the same store: ``store = tracing.instrument_store(await open_store(url))``.
        """
        if not self._first_time(store):
            return store
        tracer = self.tracer
        label = store_label(store)
        append = store.append
        append_many = store.append_many

        async def traced_append(
            stream_id: str,
            events: Sequence[Event],
            *,
            expected_version: ExpectedVersion,
            metadata: Mapping[str, Any] | None = None,
        ) -> AppendResult:
            attributes = {
                "eventledger.store": label,
                "eventledger.stream_id": stream_id,
                "eventledger.event_count": len(events),
                "eventledger.expected_version": expected_label(expected_version),
            }
            with _span(tracer, "eventledger.append", SpanKind.PRODUCER, attributes) as span:
                result = await _outcome(
                    span,
                    append(
                        stream_id,
                        events,
                        expected_version=expected_version,
                        metadata=traced_metadata(metadata, span),
                    ),
                )
                _record_result(span, [result])
                return result

        async def traced_append_many(requests: Sequence[AppendRequest]) -> list[AppendResult]:
            if not isinstance(requests, list | tuple):
                return await append_many(requests)  # the store names what is wrong with it
            attributes = {
                "eventledger.store": label,
                "eventledger.stream_id": [str(getattr(request, "stream_id", "")) for request in requests],
                "eventledger.event_count": sum(
                    len(request.events) for request in requests if isinstance(request, AppendRequest)
                ),
            }
            with _span(tracer, "eventledger.append_many", SpanKind.PRODUCER, attributes) as span:
                traced = [
                    replace(request, metadata=traced_metadata(request.metadata, span))
                    if isinstance(request, AppendRequest)
                    else request
                    for request in requests
                ]
                results = await _outcome(span, append_many(traced))
                _record_result(span, results)
                return results

        _shadow(store, "append", traced_append)
        _shadow(store, "append_many", traced_append_many)
        return store

    # ----------------------------------------------------------------- domain

    def instrument_handler(self, handler: AnyHandler) -> AnyHandler:
        """Trace each command ``handler`` handles (its appends are traced if its store is)."""
        if not self._first_time(handler):
            return handler
        tracer = self.tracer
        handle = handler.handle

        async def traced_handle(
            stream_id: str, command: Any, *, expected_version: ExpectedVersion | None = None, **options: Any
        ) -> CommandResult[Any, Any]:
            attributes: dict[str, Any] = {
                "eventledger.stream_id": stream_id,
                "eventledger.command_type": type(command).__name__,
            }
            command_id = getattr(command, "command_id", None)
            if isinstance(command_id, str):
                attributes["eventledger.command_id"] = command_id
            conflicts_before = handler.conflicts
            with _span(tracer, "eventledger.command", SpanKind.INTERNAL, attributes) as span:
                try:
                    result = await _outcome(
                        span, handle(stream_id, command, expected_version=expected_version, **options)
                    )
                finally:
                    span.set_attribute("eventledger.conflicts", handler.conflicts - conflicts_before)
                span.set_attribute("eventledger.outcome", "decided" if result.events else "nothing")
                span.set_attribute("eventledger.version", result.version)
                span.set_attribute("eventledger.event_count", len(result.events))
                return result

        _shadow(handler, "handle", traced_handle)
        return handler

    def instrument_repository(self, repository: AnyRepository) -> AnyRepository:
        """Trace ``repository``'s loads and saves (``update`` is a load and a save, each traced)."""
        if not self._first_time(repository):
            return repository
        tracer = self.tracer
        aggregate_type = str(getattr(repository.aggregate_class, "__aggregate_type__", ""))
        load = repository.load
        save = repository.save

        async def traced_load(aggregate_id: Any, **options: Any) -> Any:
            attributes = {
                "eventledger.aggregate_type": aggregate_type,
                "eventledger.stream_id": repository.aggregate_class.stream_id_for(aggregate_id),
            }
            with _span(tracer, "eventledger.repository.load", SpanKind.INTERNAL, attributes) as span:
                try:
                    aggregate = await load(aggregate_id, **options)
                except AggregateNotFound:
                    # Not a failure of the load: the caller asked about an aggregate that is not there.
                    span.set_attribute("eventledger.outcome", "not_found")
                    raise
                except BaseException as error:
                    _failed(span, error)
                    raise
                span.set_attribute("eventledger.outcome", "loaded")
                span.set_attribute("eventledger.version", aggregate.version)
                return aggregate

        async def traced_save(aggregate: Any, **options: Any) -> AppendResult:
            attributes = {
                "eventledger.aggregate_type": aggregate_type,
                "eventledger.stream_id": str(getattr(aggregate, "stream_id", "")),
                "eventledger.event_count": len(getattr(aggregate, "uncommitted_events", ())),
                "eventledger.expected_version": int(getattr(aggregate, "committed_version", 0)),
            }
            with _span(tracer, "eventledger.repository.save", SpanKind.INTERNAL, attributes) as span:
                result = await _outcome(span, save(aggregate, **options))
                _record_result(span, [result])
                return result

        _shadow(repository, "load", traced_load)
        _shadow(repository, "save", traced_save)
        return repository

    # ----------------------------------------------------------------- projections

    def observe_runner(self, runner: ProjectionRunner) -> None:
        """Trace ``runner``'s batches and its reactors' reactions from now on."""
        if self._first_time(runner):
            runner.add_listener(_TracingListener(self.tracer))


class _TracingListener(ProjectionListener):
    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    def applying(self, batch: BatchStarting) -> AbstractContextManager[object]:
        """A consumer span for the batch, linked to the spans that appended its events."""
        events = batch.events
        return self._tracer.start_as_current_span(
            "eventledger.projection.batch",
            kind=SpanKind.CONSUMER,
            attributes={
                "eventledger.projection": batch.projection,
                "eventledger.build": batch.build,
                "eventledger.first_position": events[0].position,
                "eventledger.last_position": events[-1].position,
                "eventledger.event_count": len(events),
                "eventledger.rebuilding": batch.rebuilding,
            },
            links=links_to_appenders(events),
        )

    def reacting(self, reaction: Reacting) -> AbstractContextManager[object]:
        """A span for one reactor handler, linked to the span that appended its source event;
        the events the handler emits record the span's ids."""
        return self._reaction_span(reaction)

    @contextmanager
    def _reaction_span(self, reaction: Reacting) -> Iterator[Span]:
        recorded = reaction.recorded
        source = appending_span(recorded)
        with self._tracer.start_as_current_span(
            "eventledger.reaction",
            attributes={
                "eventledger.projection": reaction.projection,
                "eventledger.stream_id": recorded.stream_id,
                "eventledger.position": recorded.position,
                "eventledger.event_type": recorded.type,
                "eventledger.event_id": str(recorded.event_id),
            },
            links=[] if source is None else [trace.Link(source)],
        ) as span:
            # Only the ids: a reaction's correlation id is its source's (reactions.py).
            ids = span_ids(span)
            token = EMITTED_METADATA.set(ids) if ids else None
            try:
                yield span
            finally:
                if token is not None:
                    EMITTED_METADATA.reset(token)


_Result = TypeVar("_Result")


def _span(
    tracer: Tracer, name: str, kind: SpanKind, attributes: Mapping[str, Any]
) -> AbstractContextManager[Span]:
    # Outcomes are recorded by hand (a conflict is an outcome, not a crash of the span).
    return tracer.start_as_current_span(
        name, kind=kind, attributes=attributes, record_exception=False, set_status_on_exception=False
    )


async def _outcome(span: Span, call: Awaitable[_Result]) -> _Result:
    """``call``'s result; a conflict or another error is recorded on ``span`` and raised again."""
    try:
        return await call
    except ConcurrencyError as error:
        span.set_attribute("eventledger.outcome", "conflict")
        span.set_status(Status(StatusCode.ERROR, "concurrency conflict"))
        span.record_exception(error)
        raise
    except BaseException as error:
        _failed(span, error)
        raise


def _failed(span: Span, error: BaseException) -> None:
    span.set_attribute("eventledger.outcome", "error")
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.record_exception(error)


def _record_result(span: Span, results: Sequence[AppendResult]) -> None:
    span.set_attribute("eventledger.outcome", "appended")
    positions = [position for result in results for position in result.positions]
    if len(results) == 1:
        span.set_attribute("eventledger.version", results[0].version)
    if positions:
        span.set_attribute("eventledger.first_position", positions[0])
        span.set_attribute("eventledger.last_position", positions[-1])


def _shadow(instance: object, name: str, function: Callable[..., Any]) -> None:
    """Make ``instance.name`` call ``function`` (an instance attribute shadows the class's method)."""
    vars(instance)[name] = function
