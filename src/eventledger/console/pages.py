"""The console's pages on the log: overview, streams, a stream's events, one event, the global log
and the store check. Each function returns a page's HTML; :mod:`.app` routes requests to them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from eventledger.compatibility import check_store
from eventledger.console.html import esc, link, page, pretty_json, stream_path, table, when
from eventledger.console.reading import (
    Row,
    Undecodable,
    event_at,
    find_event_by_id,
    log_tail,
    stream_events,
    stream_info,
    streams_page,
)
from eventledger.events import RecordedEvent
from eventledger.store import EventStore
from eventledger.store.records import VisibilityStatus

STREAMS_PAGE = 50
EVENTS_PAGE = 100


def visibility_html(visibility: VisibilityStatus) -> str:
    """What readers see against what is committed, and the transaction holding them back."""
    held = visibility.oldest_open_transaction
    lines = [
        f"newest committed position <b>{visibility.written_position}</b>, "
        f"readers see up to <b>{visibility.visible_position}</b>",
        f'held-back events: <b class="{"bad" if visibility.held_back_events else "ok"}">'
        f"{visibility.held_back_events}</b>",
    ]
    if held is not None:
        lines.append(
            "oldest open transaction: "
            + esc(
                f"pid {held.pid}, database {held.database}, {held.state}, "
                f"open {held.age.total_seconds():.1f} s"
            )
        )
    else:
        lines.append("no open transaction holds readers back")
    return "<br>".join(lines)


async def overview(store: EventStore, described: str, *, operations: bool, projections: Sequence[str]) -> str:
    """The store, its head and visibility, and what else there is to see."""
    visibility = await store.visibility_status()
    names = ", ".join(link(f"/projections/{name}", name) for name in projections) or "none (start with --app)"
    body = (
        f"<div class=card><h2>Store</h2><p class=mono>{esc(described)}</p>{visibility_html(visibility)}</div>"
        f"<div class=card><h2>Projections</h2><p>{names}</p></div>"
    )
    return page("Overview", body, here="/", operations=operations)


async def streams(store: EventStore, *, prefix: str, after: str | None, operations: bool) -> str:
    """Streams by id (a prefix narrows them), a page at a time, with version and last event time."""
    found = await streams_page(store, prefix=prefix, after=after, limit=STREAMS_PAGE)
    rows = [
        [
            f"<span class=mono>{link(stream_path(info.stream_id), info.stream_id)}</span>",
            str(info.version),
            when(info.last_recorded_at),
        ]
        for info in found
    ]
    search = (
        '<form method=get action="/streams"><input name=prefix placeholder="stream id prefix" '
        f'value="{esc(prefix)}"> <button>search</button></form>'
    )
    more = ""
    if len(found) == STREAMS_PAGE:
        more = "<p>" + link("/streams", "next page \u203a", prefix=prefix, after=found[-1].stream_id) + "</p>"
    listing = (
        table(["stream", "version", "last event (UTC)"], rows, numeric=[1])
        if rows
        else "<p class=muted>no streams</p>"
    )
    return page("Streams", search + listing + more, here="/streams", operations=operations)


def event_rows(rows: Sequence[Row], *, with_stream: bool) -> list[list[str]]:
    """Table rows of events: position, stream, version, type, time, data and metadata."""
    out: list[list[str]] = []
    for row in rows:
        if isinstance(row, Undecodable):
            position = "-" if row.position is None else link(f"/events/{row.position}", row.position)
            stream = "" if row.stream_id is None else link(stream_path(row.stream_id), row.stream_id)
            cells = [
                position,
                stream,
                "?",
                esc(row.type_name),
                "-",
                f"<span class=bad>{esc(row.error)}</span>",
            ]
        else:
            cells = [
                link(f"/events/{row.position}", row.position),
                link(stream_path(row.stream_id), row.stream_id),
                str(row.version),
                esc(row.type),
                when(row.recorded_at),
                pretty_json(row.event.model_dump(mode="json")) + metadata_html(row),
            ]
        out.append(cells if with_stream else [cells[0], *cells[2:]])
    return out


def metadata_html(recorded: RecordedEvent) -> str:
    """The metadata, with the correlation and causation ids as links to the events they name."""
    if not recorded.metadata:
        return ""
    parts = []
    for key in ("correlation_id", "causation_id"):
        value = recorded.metadata.get(key)
        if value is None:
            continue
        text = str(value)
        target = (
            link(f"/events/by-id/{text}", text, before=recorded.position) if _is_uuid(text) else esc(text)
        )
        parts.append(f"{esc(key)}: <span class=mono>{target}</span>")
    rest = {
        key: value
        for key, value in recorded.metadata.items()
        if key not in ("correlation_id", "causation_id")
    }
    return "<div class=muted>" + "<br>".join(parts) + (pretty_json(rest) if rest else "") + "</div>"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


async def stream(store: EventStore, stream_id: str, *, from_version: int, operations: bool) -> str | None:
    """A stream's events with data and metadata; None when the stream has no events."""
    info = await stream_info(store, stream_id)
    if info is None:
        return None
    rows = await stream_events(store, stream_id, from_version=from_version, limit=EVENTS_PAGE)
    head = f"<p>version <b>{info.version}</b>, last event {when(info.last_recorded_at)}</p>"
    listing = table(
        ["position", "version", "type", "recorded (UTC)", "data and metadata"],
        event_rows(rows, with_stream=False),
    )
    more = ""
    last = from_version + len(rows) - 1
    if last < info.version:
        more = "<p>" + link(stream_path(stream_id), "next events \u203a", **{"from": last + 1}) + "</p>"
    return page(f"Stream {stream_id}", head + listing + more, here="/streams", operations=operations)


async def event(store: EventStore, position: int, *, operations: bool) -> str | None:
    """One event at its position, or None when there is none."""
    row = await event_at(store, position)
    if row is None:
        return None
    details = table(
        ["position", "stream", "version", "type", "recorded (UTC)", "data and metadata"],
        event_rows([row], with_stream=True),
    )
    identity = "" if isinstance(row, Undecodable) else f"<p class=mono>event id {esc(row.event_id)}</p>"
    return page(f"Event at position {position}", identity + details, here="/log", operations=operations)


async def event_by_id(store: EventStore, event_id: str, *, before: int | None) -> tuple[int | None, str]:
    """Where the event with ``event_id`` is (its position) or a page saying how far it was looked for."""
    search = await find_event_by_id(store, event_id, before=before)
    if search.found is not None and search.found.position is not None:
        return search.found.position, ""
    reach = (
        "the whole log"
        if search.exhausted
        else f"positions {search.scanned_from} to {search.scanned_to} (the bound)"
    )
    body = f"<p>No event with id <span class=mono>{esc(event_id)}</span> in {esc(reach)}.</p>"
    return None, body


async def log(store: EventStore, *, types: list[str], operations: bool) -> str:
    """The tail of the global log, filterable by type, followed live by ``console.js``."""
    rows = await log_tail(store, types=types)
    last = max(
        (row.position for row in rows if row.position is not None), default=await store.head_position()
    )
    chosen = ", ".join(types)
    search = (
        '<form method=get action="/log"><input name=type placeholder="event type (comma-separated)" '
        f'value="{esc(chosen)}"> <button>filter</button> <span class=muted>following live</span></form>'
    )
    listing = table(
        ["position", "stream", "version", "type", "recorded (UTC)", "data and metadata"],
        event_rows(rows, with_stream=True),
    )
    tail = f'<div id=log data-after="{last}" data-type="{esc(chosen)}">{listing}</div>'
    return page("Global log", search + tail, here="/log", operations=operations, script=True)


async def check(store: EventStore, *, operations: bool) -> str:
    """The store check: does every stored event decode with today's classes and upcasters?"""
    report = await check_store(store)
    verdict = (
        f"<p class=ok>all {report.events_checked} events decode (up to position {report.last_position})</p>"
        if report.ok
        else f"<p class=bad>{report.incompatible_count} of {report.events_checked} events do not decode</p>"
    )
    stored = table(
        ["type", "schema version", "events", "incompatible", "retired"],
        (
            [
                esc(item.type),
                str(item.schema_version),
                str(item.count),
                str(item.incompatible),
                str(item.retired),
            ]
            for item in report.stored
        ),
        numeric=[1, 2, 3, 4],
    )
    failures = table(
        ["type", "version", "count", "examples"],
        (
            [
                esc(group.type),
                str(group.schema_version),
                str(group.count),
                "<br>".join(
                    f"{link(f'/events/{example.position}', example.position)} "
                    f"{esc(example.stream_id)}: {esc(example.error)}"
                    for example in group.examples
                ),
            ]
            for group in report.incompatible
        ),
    )
    visibility = await store.visibility_status()
    body = verdict + stored + (failures if report.incompatible else "")
    body += f"<div class=card><h2>Visibility</h2>{visibility_html(visibility)}</div>"
    return page("Store check", body, here="/check", operations=operations)
