"""The ``eventledger`` command: inspect and operate any event store from a terminal.

.. code-block:: sh

    eventledger --url sqlite:///orders.db streams            # stream ids, versions, last event time
    eventledger --url sqlite:///orders.db show order-1       # one stream's events
    eventledger --url sqlite:///orders.db tail               # follow the global log live
    eventledger --url sqlite:///orders.db check              # does every stored event still decode?
    eventledger --url sqlite:///orders.db migrate            # create or upgrade the schema
    eventledger --url sqlite:///orders.db projections --app myapp.projections:build  # state, lag, errors
    eventledger --url sqlite:///orders.db run --app myapp.projections:build --metrics-port 9100

The URL comes from ``--url`` or ``EVENTLEDGER_URL``. Stored events decode into the classes that
define them, so commands that show events import the application's event modules first
(``--import myapp.events``, repeatable, or ``EVENTLEDGER_IMPORT=myapp.events,other.events``).
Every failure prints one line naming what went wrong and exits non-zero; ``--traceback`` shows
the traceback of an unexpected error for a bug report.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from eventledger.errors import EventLedgerError, UnknownEventType
from eventledger.events import RecordedEvent
from eventledger.metrics import EventLedgerMetrics, serve_metrics
from eventledger.projections import Projection, ProjectionRunner
from eventledger.projections.lag import DEFAULT_HELD_BACK_STALL_AFTER
from eventledger.projections.progress import StoredStatus, stored_status
from eventledger.store import EventStore, open_store

_T = TypeVar("_T")

EXIT_FAILURE = 1
"""Exit code of a command that could not do its job (a clear message was printed)."""
EXIT_INCOMPATIBLE = 2
"""Exit code of ``check`` when some stored events do not decode."""

app = typer.Typer(
    name="eventledger",
    help="Inspect and operate an eventledger event store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class CommandFailed(Exception):
    """A command stops with a one-line message for the user (raised inside commands)."""


@dataclass
class Settings:
    """What the global options chose, handed to every command."""

    url: str | None
    imports: list[str] = field(default_factory=list)
    traceback: bool = False


def _console() -> Console:
    # Built per call so it writes to whatever sys.stdout is now (the test runner swaps it).
    return Console(highlight=False, soft_wrap=False)


def _error_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Stop the command with a one-line error."""
    raise CommandFailed(message)


@app.callback()
def global_options(
    context: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="EVENTLEDGER_URL",
            help="Store URL: sqlite:///file.db, postgresql://user@host/db, memory://",
            show_envvar=True,
        ),
    ] = None,
    imports: Annotated[
        list[str] | None,
        typer.Option(
            "--import",
            "-i",
            help="Module defining event classes or upcasters, imported first (repeatable).",
        ),
    ] = None,
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the traceback of an unexpected error.")
    ] = False,
) -> None:
    """Inspect and operate an eventledger event store."""
    modules = list(imports or [])
    modules += [name.strip() for name in os.environ.get("EVENTLEDGER_IMPORT", "").split(",") if name.strip()]
    context.obj = Settings(url=url, imports=modules, traceback=traceback)


def _settings(context: typer.Context) -> Settings:
    settings = context.find_object(Settings)
    return settings if settings is not None else Settings(url=os.environ.get("EVENTLEDGER_URL"))


def _execute(context: typer.Context, operation: Callable[[Settings], Coroutine[Any, Any, _T]]) -> _T:
    """Run an async command body; turn every failure into one line on stderr and an exit code."""
    settings = _settings(context)
    try:
        for module in settings.imports:
            import_module(module)
        return asyncio.run(operation(settings))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except (CommandFailed, EventLedgerError) as error:
        _error_console().print(f"[bold red]error:[/] {escape(_hint(error))}", markup=True, highlight=False)
        raise typer.Exit(EXIT_FAILURE) from None
    except Exception as error:
        if settings.traceback:
            raise
        _error_console().print(
            f"[bold red]error:[/] unexpected {type(error).__name__}: {escape(str(error))} "
            "(--traceback shows where)",
            markup=True,
            highlight=False,
        )
        raise typer.Exit(EXIT_FAILURE) from None


def _hint(error: Exception) -> str:
    message = str(error)
    if isinstance(error, UnknownEventType):
        return f"{message} (pass --import MODULE to load the module that defines it)"
    return message


def import_module(name: str) -> Any:
    """Import ``name`` (from the working directory too, as ``python -m`` would) or fail in one line."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ImportError as error:
        fail(f"cannot import module {name!r}: {error}")
    except Exception as error:
        fail(f"importing module {name!r} raised {type(error).__name__}: {error}")


def load_attribute(reference: str) -> Any:
    """Resolve ``module:attribute`` (``attribute`` may be dotted) or fail with a one-line reason."""
    module_name, separator, attribute = reference.partition(":")
    if not separator or not module_name or not attribute:
        fail(f"--app {reference!r} must look like module:attribute (for example myapp.projections:build)")
    value = import_module(module_name)
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            fail(f"module {module_name!r} has no attribute {attribute!r}")
    return value


@contextlib.asynccontextmanager
async def opened_store(settings: Settings) -> AsyncIterator[EventStore]:
    """The store the URL names, closed afterwards; a missing URL is a clear error."""
    if not settings.url:
        fail("no store URL: pass --url URL or set EVENTLEDGER_URL")
    async with open_store(settings.url) as store:
        yield store


def _time(moment: datetime, *, seconds_only: bool = False) -> str:
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text[:-7] if seconds_only else text[:-3] + "Z"


def event_data(recorded: RecordedEvent) -> str:
    """The event's fields as compact JSON."""
    return recorded.event.model_dump_json()


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
        console = _console()
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
                    table.add_row(escape(info.stream_id), str(info.version), _time(info.last_recorded_at))
                if page:
                    console.print(table)
                shown += len(page)
                if len(page) < limit:
                    return
                cursor = page[-1].stream_id
                if not all_pages:
                    console.print(f"more: eventledger streams --after {cursor!r} (or --all)")
                    return

    _execute(context, body)


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
                _time(recorded.recorded_at, seconds_only=True),
                details,
            )
        _console().print(table)

    _execute(context, body)


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
            console = _console()
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
                    f"{recorded.position:>8}  {_time(recorded.recorded_at)}  "
                    f"{escape(recorded.stream_id)}@{recorded.version}  [bold]{escape(recorded.type)}[/]  "
                    f"{escape(event_data(recorded))}",
                    markup=True,
                    highlight=False,
                    soft_wrap=True,
                )
            seen += 1
            if count is not None and seen >= count:
                return

    _execute(context, body)


# --------------------------------------------------------------------------- check


@app.command()
def check(
    context: typer.Context,
    examples: Annotated[int, typer.Option(min=1, help="Failures shown per type and version.")] = 5,
) -> None:
    """Check that every stored event still decodes with today's classes and upcasters.

    Reads only. Exits 0 when all decode, 2 when some do not (with each failure's position).
    """
    from eventledger.compatibility import check_store

    async def body(settings: Settings) -> bool:
        async with opened_store(settings) as store:
            report = await check_store(store, examples=examples)
        console = _console()
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

    if not _execute(context, body):
        raise typer.Exit(EXIT_INCOMPATIBLE)


# --------------------------------------------------------------------------- migrate


@app.command()
def migrate(context: typer.Context) -> None:
    """Create the store's tables, or upgrade them to this release's schema (idempotent)."""

    async def body(settings: Settings) -> None:
        # Opening a store runs its migrations (under a lock, so concurrent runs are safe).
        async with opened_store(settings) as store:
            version = await _schema_version(store)
            head = await store.head_position()
        described = f"schema version {version}" if version is not None else "schema up to date"
        _console().print(f"[green]migrated[/]: {store!r} at {described}; {head} events in the log")

    _execute(context, body)


async def _schema_version(store: EventStore) -> int | None:
    reader = getattr(store, "schema_version", None)
    if reader is None or not callable(reader):
        return None
    version = await reader()
    return int(version)


# --------------------------------------------------------------------------- projections


def _as_projections(reference: str, value: Any) -> list[Projection[Any]]:
    if isinstance(value, ProjectionRunner):
        return value.projections
    if isinstance(value, Sequence) and value and all(isinstance(item, Projection) for item in value):
        return list(value)
    fail(
        f"--app {reference} gave {type(value).__name__}; it must be a list of Projection objects, a "
        "ProjectionRunner, or a function returning one (given the store, or nothing)"
    )


async def _resolve_projections(reference: str, store: EventStore, url: str) -> list[Projection[Any]]:
    """The projections ``--app module:attribute`` names.

    The attribute is a sequence of :class:`Projection` objects, a :class:`ProjectionRunner`, or a
    function returning either, called with the open store when it takes an argument (it may be
    async). ``EVENTLEDGER_URL`` is set to the command's URL first, so an application that reads
    its configuration from the environment sees the same store.
    """
    value: Any = load_projections_value(reference, store, url)
    if inspect.isawaitable(value):
        value = await value
    return _as_projections(reference, value)


def load_projections_value(reference: str, store: EventStore, url: str) -> Any:
    """What ``--app`` names, called if it is a function (the result may still need awaiting)."""
    os.environ["EVENTLEDGER_URL"] = url
    value = load_attribute(reference)
    if callable(value) and not isinstance(value, ProjectionRunner):
        try:
            takes_store = bool(inspect.signature(value).parameters)
        except (TypeError, ValueError):
            takes_store = False
        return value(store) if takes_store else value()
    return value


@app.command()
def projections(
    context: typer.Context,
    application: Annotated[
        str, typer.Option("--app", help="module:attribute naming the projections (see `run`).")
    ],
) -> None:
    """Show each projection's state, checkpoint, lag and rate as its runner last reported them.

    Works from any machine that reaches the databases, whether or not a runner is running.
    Lag counts every committed event not applied yet, held-back ones included; events/s is
    the runner's rate over the 10 s before its last report.
    """

    async def body(settings: Settings) -> None:
        async with opened_store(settings) as store:
            assert settings.url is not None
            chosen = await _resolve_projections(application, store, settings.url)
            visibility = await store.visibility_status()
            try:
                statuses = [
                    await stored_status(store, projection, visibility=visibility) for projection in chosen
                ]
            finally:
                for projection in chosen:
                    await projection.target.close()
        show_stored_statuses(_console(), statuses)

    _execute(context, body)


def show_stored_statuses(console: Console, statuses: Sequence[StoredStatus]) -> None:
    """The table of ``eventledger projections``, then a line for each failure, stall or stale report."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("projection", no_wrap=True)
    table.add_column("state", no_wrap=True)
    for heading in ("checkpoint", "head", "held back", "lag", "lag (s)", "events/s"):
        table.add_column(heading, justify="right", no_wrap=True)
    for status in statuses:
        lag = "-" if status.lag_events is None else str(status.lag_events)
        style = "green" if lag == "0" else "yellow"
        state_style = "red" if status.state in ("failed", "stalled", "unknown") else ""
        table.add_row(
            f"{escape(status.name)} v{status.version}",
            f"[{state_style}]{escape(status.state)}[/]" if state_style else escape(status.state),
            "-" if status.checkpoint is None else str(status.checkpoint),
            str(status.head_position),
            str(status.held_back_events),
            f"[{style}]{lag}[/]",
            "-" if status.lag_seconds is None else f"{status.lag_seconds:.2f}",
            "-" if status.events_per_second is None else f"{status.events_per_second:.1f}",
        )
    console.print(table)
    for status in statuses:
        for note in _notes(status):
            console.print(escape(note), style="red" if status.state in ("failed", "stalled") else None)
    for status in statuses:
        console.print(f"{escape(status.name)} → {escape(status.target)}", style="dim")


def _notes(status: StoredStatus) -> list[str]:
    notes: list[str] = []
    failure = status.failure
    if failure is not None:
        notes.append(
            f"{status.name} failed at position {failure.position} ({failure.event_type} in "
            f"{failure.stream_id}) after {failure.attempts} attempts, {_time(failure.at)}: {failure.error}"
        )
    elif status.state == "stalled" and status.stalled_reason is not None:
        notes.append(f"{status.name} stalled: {status.stalled_reason.describe()}")
    elif status.state == "stalled" and status.last_error:
        notes.append(f"{status.name} stalled: {status.last_error}")
    if status.state == "unknown" and status.report is not None and status.report_age is not None:
        notes.append(
            f"{status.name}: its runner ({status.report.owner}) last reported "
            f"{status.report.state.value} {status.report_age:.0f} s ago; is it still running?"
        )
    if status.rebuild_version is not None:
        notes.append(
            f"{status.name}: building v{status.rebuild_version} beside it, at position "
            f"{status.rebuild_checkpoint}"
        )
    return notes


@app.command()
def run(
    context: typer.Context,
    application: Annotated[
        str,
        typer.Option(
            "--app",
            help="module:attribute: a list of Projection objects, a ProjectionRunner, or a function "
            "returning one (given the store, or nothing).",
        ),
    ],
    metrics_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Serve Prometheus metrics on this port.")
    ] = None,
    metrics_address: Annotated[str, typer.Option(help="Address of the metrics endpoint.")] = "127.0.0.1",
    batch_size: Annotated[int, typer.Option(min=1, help="Events per read-model transaction.")] = 500,
    until_caught_up: Annotated[
        bool, typer.Option("--until-caught-up", help="Stop once every projection has caught up.")
    ] = False,
    held_back_stall_after: Annotated[
        float,
        typer.Option(
            min=0.001,
            help="Seconds events may stay held back by an open transaction before a live projection "
            "reports stalled.",
        ),
    ] = DEFAULT_HELD_BACK_STALL_AFTER,
) -> None:
    """Run the application's projections as a standalone worker (the unit of scale-out).

    Start it on several machines: each projection runs where its lease is held and the others
    wait as hot standbys. Shows a progress bar while catching up; SIGTERM or Ctrl-C stops it
    after the current batch.
    """

    async def body(settings: Settings) -> None:
        async with opened_store(settings) as store:
            assert settings.url is not None
            chosen = await _resolve_projections(application, store, settings.url)
            metrics = EventLedgerMetrics()
            metrics.instrument_store(store)
            runner = ProjectionRunner(
                store, chosen, batch_size=batch_size, held_back_stall_after=held_back_stall_after
            )
            metrics.observe_runner(runner)
            server = None
            if metrics_port is not None:
                server = serve_metrics(metrics, port=metrics_port, address=metrics_address)
                _console().print(f"metrics on http://{metrics_address}:{server.port}/metrics")
            tracking = asyncio.create_task(metrics.track(runner, interval=0.5))
            try:
                await _run_with_progress(runner, until_caught_up)
            finally:
                tracking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await tracking
                if server is not None:
                    server.close()
                for projection in chosen:
                    await projection.target.close()

    _execute(context, body)


async def _run_with_progress(runner: ProjectionRunner, until_caught_up: bool) -> None:
    console = _console()
    names = ", ".join(projection.name for projection in runner.projections)
    console.print(f"running {names}; Ctrl-C or SIGTERM stops after the current batch")
    work = asyncio.create_task(runner.run_until_caught_up() if until_caught_up else runner.run())
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("lag {task.fields[lag]} events"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bars: dict[str, TaskID] = {}
        starts: dict[str, int] = {}
        while not work.done():
            await asyncio.wait({work}, timeout=0.25)
            try:
                statuses = await runner.status()
            except EventLedgerError:
                continue
            for status in statuses:
                if status.name not in bars:
                    starts[status.name] = status.checkpoint
                    bars[status.name] = progress.add_task(status.name, total=None, lag=status.lag_events)
                start = starts[status.name]
                progress.update(
                    bars[status.name],
                    completed=status.checkpoint - start,
                    total=max(status.head_position - start, 1),
                    lag=status.lag_events,
                    description=f"{status.name} ({status.state.value})",
                )
    await work
    statuses = await runner.status()
    for status in statuses:
        console.print(
            f"{status.name}: checkpoint {status.checkpoint} of {status.head_position}, "
            f"state {status.state.value}"
        )


def main(arguments: list[str] | None = None) -> None:
    """Entry point of the ``eventledger`` console script."""
    app(args=arguments if arguments is not None else sys.argv[1:], prog_name="eventledger")


if __name__ == "__main__":
    main()
