"""Commands that look at the log: ``streams``, ``show``, ``tail``, ``check`` and ``migrate``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from eventledger.cli.app import (
    EXIT_INCOMPATIBLE,
    Settings,
    app,
    event_data,
    execute,
    fail,
    opened_store,
    output_console,
    when,
)
from eventledger.compatibility import check_store
from eventledger.events import RecordedEvent
from eventledger.operations import schema_version
from eventledger.store import EventStore

# --------------------------------------------------------------------------- streams


@app.command()
def streams(
    context: typer.Context,
    after: Annotated[str | None, typer.Option(help="Start after this stream id (the next page).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Streams per page.")] = 50,
    all_pages: Annotated[bool, typer.Option("--all", help="Every stream, page after page.")] = False,
) -> None:
    """List streams by id: version and time of the last event, one page at a time."""

    async def body(settings: Settings) -> None:
        console = output_console()
        async with opened_store(settings) as store:
            cursor = after
            shown = 0
            while True:
                page = await store.list_streams(after=cursor, limit=limit)
                if not page and shown == 0:
                    console.print("no streams" + (f" after {after!r}" if after else ""))
                    return
                table = Table("stream", "version", "last event (UTC)", box=None, pad_edge=False)
                for info in page:
                    table.add_row(escape(info.stream_id), str(info.version), when(info.last_recorded_at))
                if page:
                    console.print(table)
                shown += len(page)
                if len(page) < limit:
                    return
                cursor = page[-1].stream_id
                if not all_pages:
                    console.print(f"more: eventledger streams --after {cursor!r} (or --all)")
                    return

    execute(context, body)


# --------------------------------------------------------------------------- show


@app.command()
def show(
    context: typer.Context,
    stream: Annotated[str, typer.Argument(help="The stream id.")],
    from_version: Annotated[int | None, typer.Option(min=1, help="First version to show.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many events.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Show one stream's events: version, position, type, time, data and metadata."""

    async def body(settings: Settings) -> None:
        async with opened_store(settings) as store:
            if await store.stream_version(stream) == 0:
                fail(f"stream {stream!r} not found: it has no events")
            events = [
                recorded
                async for recorded in store.read_stream(stream, from_version=from_version, limit=limit)
            ]
        if as_json:
            for recorded in events:
                typer.echo(json.dumps(recorded_as_json(recorded), separators=(",", ":")))
            return
        table = Table(title=f"stream {stream}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for heading in ("ver", "pos", "type", "recorded (UTC)"):
            table.add_column(heading, no_wrap=True)
        table.add_column("data and metadata", overflow="fold", ratio=1)
        for recorded in events:
            details = escape(event_data(recorded))
            if recorded.metadata:
                details += "\n[dim]" + escape(json.dumps(recorded.metadata, default=str)) + "[/]"
            table.add_row(
                str(recorded.version),
                str(recorded.position),
                escape(recorded.type),
                when(recorded.recorded_at, seconds_only=True),
                details,
            )
        output_console().print(table)

    execute(context, body)


def recorded_as_json(recorded: RecordedEvent) -> dict[str, Any]:
    """A recorded event as plain JSON-compatible data."""
    return {
        "position": recorded.position,
        "stream_id": recorded.stream_id,
        "version": recorded.version,
        "type": recorded.type,
        "event_id": str(recorded.event_id),
        "recorded_at": recorded.recorded_at.isoformat(),
        "data": recorded.event.model_dump(mode="json"),
        "metadata": recorded.metadata,
    }


# --------------------------------------------------------------------------- tail


@app.command()
def tail(
    context: typer.Context,
    after: Annotated[
        int | None, typer.Option(min=0, help="Start after this position (default: the current head).")
    ] = None,
    from_start: Annotated[bool, typer.Option("--from-start", help="Start at the beginning.")] = False,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many events.")] = None,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds (for scripts).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Follow the global log live (Ctrl-C stops), from the head unless told otherwise."""

    async def body(settings: Settings) -> None:
        async with opened_store(settings) as store:
            start = 0 if from_start else after if after is not None else await store.head_position()
            console = output_console()
            if not as_json:
                console.print(f"following the log after position {start} (Ctrl-C stops)", style="dim")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await follow(store, start, console)

    async def follow(store: EventStore, start: int, console: Console) -> None:
        seen = 0
        async for recorded in store.subscribe(after=start):
            if as_json:
                typer.echo(json.dumps(recorded_as_json(recorded), separators=(",", ":")))
            else:
                console.print(
                    f"{recorded.position:>8}  {when(recorded.recorded_at)}  "
                    f"{escape(recorded.stream_id)}@{recorded.version}  [bold]{escape(recorded.type)}[/]  "
                    f"{escape(event_data(recorded))}",
                    markup=True,
                    highlight=False,
                    soft_wrap=True,
                )
            seen += 1
            if count is not None and seen >= count:
                return

    execute(context, body)


# --------------------------------------------------------------------------- check


@app.command()
def check(
    context: typer.Context,
    examples: Annotated[int, typer.Option(min=1, help="Failures shown per type and version.")] = 5,
) -> None:
    """Check that every stored event still decodes with today's classes and upcasters.

    Reads only. Exits 0 when all decode, 2 when some do not (with each failure's position).
    """

    async def body(settings: Settings) -> bool:
        async with opened_store(settings) as store:
            report = await check_store(store, examples=examples)
        console = output_console()
        table = Table("type", "schema version", "stored", "incompatible", "note", box=None, pad_edge=False)
        for stored in report.stored:
            table.add_row(
                escape(stored.type),
                str(stored.schema_version),
                str(stored.count),
                f"[red]{stored.incompatible}[/]" if stored.incompatible else "0",
                "retired" if stored.retired else "",
            )
        if report.stored:
            console.print(table)
        for group in report.incompatible:
            heading = f"{escape(group.type)} v{group.schema_version}"
            console.print(f"[red]{heading}[/]: {group.count} do not decode")
            for example in group.examples:
                console.print(f"  {example.error}: {example.message}", markup=False)
            if group.count > len(group.examples):
                console.print(f"  ... and {group.count - len(group.examples)} more")
        if report.ok:
            console.print(
                f"[green]ok[/]: all {report.events_checked} events decode with today's classes "
                f"(up to position {report.last_position})"
            )
        else:
            console.print(
                f"[red]incompatible[/]: {report.incompatible_count} of {report.events_checked} events "
                "do not decode (did you --import the modules defining the events and upcasters?)"
            )
        return report.ok

    if not execute(context, body):
        raise typer.Exit(EXIT_INCOMPATIBLE)


# --------------------------------------------------------------------------- migrate


@app.command()
def migrate(context: typer.Context) -> None:
    """Create the store's tables, or upgrade them to this release's schema (idempotent)."""

    async def body(settings: Settings) -> None:
        # Opening a store runs its migrations (under a lock, so concurrent runs are safe).
        async with opened_store(settings) as store:
            version = await schema_version(store)
            head = await store.head_position()
        described = f"schema version {version}" if version is not None else "schema up to date"
        output_console().print(f"[green]migrated[/]: {store!r} at {described}; {head} events in the log")

    execute(context, body)
