"""The store-wide check: does every stored event still decode with today's classes and upcasters?

:func:`check_store` reads every stored row undecoded and decodes each one the way every read
path would, collecting failures instead of stopping at the first. It writes nothing. Run it
before deploying new event classes (``eventledger check``), or in a test against a copy of
production data.

>>> async def before_deploying(store: EventStore) -> None:
...     report = await check_store(store)
...     if not report.ok:
...         raise SystemExit(report.render())
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from eventledger.errors import EventLedgerError
from eventledger.store.base import EventStore
from eventledger.versioning import RetiredEvent, UpcasterRegistry, active_upcasters, decode_event


@dataclass(frozen=True, slots=True)
class IncompatibleEvent:
    """One stored event that does not decode: where it is, and the error reading it raises."""

    position: int
    stream_id: str
    version: int
    error: str
    """The error's class name: ``UnknownEventType``, ``MissingUpcaster``, ``EventDecodeError``..."""
    message: str


@dataclass(frozen=True, slots=True)
class IncompatibleGroup:
    """Every stored event of one type name and schema version that does not decode.

    ``examples`` holds the first few (in position order); ``count`` counts them all.
    """

    type: str
    schema_version: int
    count: int
    examples: tuple[IncompatibleEvent, ...]

    @property
    def errors(self) -> tuple[str, ...]:
        """The distinct error class names among the examples."""
        return tuple(dict.fromkeys(example.error for example in self.examples))


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """How many events are stored under one type name and schema version, and how they read."""

    type: str
    schema_version: int
    count: int
    incompatible: int
    """How many of them do not decode."""
    retired: int
    """How many of them decode to :class:`RetiredEvent` (their type is retired)."""


@dataclass(frozen=True, slots=True)
class CompatibilityReport:
    """What :func:`check_store` found: an inventory of stored versions and every failure.

    ``ok`` is True when every stored event decodes (retired types count as decoding: that is
    their deliberate outcome).
    """

    events_checked: int
    last_position: int
    stored: tuple[StoredVersion, ...] = ()
    incompatible: tuple[IncompatibleGroup, ...] = ()
    retired_types: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every stored event decodes into today's classes."""
        return not self.incompatible

    @property
    def incompatible_count(self) -> int:
        """How many stored events do not decode."""
        return sum(group.count for group in self.incompatible)

    def render(self) -> str:
        """The report as text for a terminal or a log."""
        lines = [
            f"checked {self.events_checked} events (up to position {self.last_position}): "
            + ("all decode with today's classes" if self.ok else f"{self.incompatible_count} do not decode")
        ]
        if self.stored:
            lines.append("stored types and versions:")
        for stored in self.stored:
            notes = []
            if stored.incompatible:
                notes.append(f"{stored.incompatible} incompatible")
            if stored.retired:
                notes.append("retired")
            suffix = f" ({', '.join(notes)})" if notes else ""
            lines.append(f"  {stored.type} v{stored.schema_version}: {stored.count}{suffix}")
        if self.incompatible:
            lines.append("does not decode:")
        for group in self.incompatible:
            lines.append(f"  {group.type} v{group.schema_version}: {group.count} incompatible")
            for example in group.examples:
                # The message already names the position and the stream.
                lines.append(f"    {example.error}: {example.message}")
            if group.count > len(group.examples):
                lines.append(f"    ... and {group.count - len(group.examples)} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


async def check_store(
    store: EventStore,
    *,
    upcasters: UpcasterRegistry | None = None,
    examples: int = 5,
) -> CompatibilityReport:
    """Decode every stored event with today's classes and upcasters, and report what fails.

    Reads only; nothing is changed. Failures are grouped by stored type name and schema
    version, keeping the first ``examples`` of each group. ``upcasters`` defaults to the
    registry in force (:func:`eventledger.versioning.active_upcasters`).
    """
    registry = active_upcasters() if upcasters is None else upcasters
    counts: Counter[tuple[str, int]] = Counter()
    failures: Counter[tuple[str, int]] = Counter()
    retired: Counter[tuple[str, int]] = Counter()
    kept: dict[tuple[str, int], list[IncompatibleEvent]] = {}
    checked = 0
    last_position = 0
    async for row in store.read_all_raw():
        checked += 1
        last_position = row.position
        key = (row.type, row.schema_version)
        counts[key] += 1
        try:
            event = decode_event(
                row.type,
                row.schema_version,
                row.data,
                stream_id=row.stream_id,
                position=row.position,
                upcasters=registry,
            )
        except EventLedgerError as error:
            failures[key] += 1
            group = kept.setdefault(key, [])
            if len(group) < examples:
                failure = IncompatibleEvent(
                    row.position, row.stream_id, row.version, type(error).__name__, str(error)
                )
                group.append(failure)
            continue
        if isinstance(event, RetiredEvent):
            retired[key] += 1
    return CompatibilityReport(
        events_checked=checked,
        last_position=last_position,
        stored=tuple(
            StoredVersion(name, version, count, failures[(name, version)], retired[(name, version)])
            for (name, version), count in sorted(counts.items())
        ),
        incompatible=tuple(
            IncompatibleGroup(name, version, failures[(name, version)], tuple(kept[(name, version)]))
            for name, version in sorted(failures)
        ),
        retired_types=tuple(sorted({name for name, _ in retired})),
    )
