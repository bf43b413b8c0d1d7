"""Commands that operate projections: ``projections`` (status from any process) and ``run``
(a standalone worker).

Status comes from :func:`eventledger.projections.stored_status` through
:func:`eventledger.operations.stored_statuses`, the same reading the demo and an operator console
use; this module only resolves ``--app`` and prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from eventledger.cli.app import (
    Settings,
    app,
    execute,
    fail,
    load_attribute,
    opened_store,
    output_console,
    when,
)
from eventledger.errors import EventLedgerError
from eventledger.operations import stored_statuses
from eventledger.projections import Projection, ProjectionRunner, StoredStatus
from eventledger.projections.lag import DEFAULT_HELD_BACK_STALL_AFTER
from eventledger.projections.leases import LeasePolicy
from eventledger.projections.membership import SharePolicy
from eventledger.store import EventStore

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


async def resolve_projections(reference: str, store: EventStore) -> list[Projection[Any]]:
    """The projections ``--app module:attribute`` names.

    The attribute is a sequence of :class:`Projection` objects, a :class:`ProjectionRunner`, or a
    function returning either, called with the open store when it takes an argument (it may be
    async). The command's environment is the application's as it was given: nothing is set in
    it (an application that needs the store takes it as that argument).
    """
    value: Any = load_projections_value(reference, store)
    if inspect.isawaitable(value):
        value = await value
    return _as_projections(reference, value)


def load_projections_value(reference: str, store: EventStore) -> Any:
    """What ``--app`` names, called if it is a function (the result may still need awaiting)."""
    value = load_attribute(reference)
    if callable(value) and not isinstance(value, ProjectionRunner):
        try:
            takes_store = bool(inspect.signature(value).parameters)
        except (TypeError, ValueError):
            takes_store = False
        return value(store) if takes_store else value()
    return value


projections_app = typer.Typer(
    help="Projections: status (with --app alone), and retry, skip, rebuild, dead-letters.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(projections_app, name="projections")


@projections_app.callback(invoke_without_command=True)
def projections(
    context: typer.Context,
    application: Annotated[
        str | None, typer.Option("--app", help="module:attribute naming the projections (see `run`).")
    ] = None,
) -> None:
    """Show each projection's state, checkpoint, lag and rate as its runner last reported them.

    Works from any machine that reaches the databases, whether or not a runner is running.
    Lag counts every committed event not applied yet, held-back ones included; events/s is
    the runner's rate over the 10 s before its last report. The subcommands act on one
    projection through its bookkeeping; the runner holding its lease carries them out.
    """
    if context.invoked_subcommand is not None:
        return

    async def body(settings: Settings) -> None:
        if application is None:
            fail("--app is required: module:attribute naming the projections (see `eventledger run`)")
        async with opened_store(settings) as store:
            chosen = await resolve_projections(application, store)
            try:
                statuses = await stored_statuses(store, chosen)
            finally:
                for projection in chosen:
                    await projection.target.close()
        show_stored_statuses(output_console(), statuses)

    execute(context, body)


def show_stored_statuses(console: Console, statuses: Sequence[StoredStatus]) -> None:
    """The table of ``eventledger projections``, then a line for each failure, stall or stale report."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("projection", no_wrap=True)
    table.add_column("state", no_wrap=True)
    for heading in ("checkpoint", "head", "held back", "lag", "lag (s)", "events/s"):
        table.add_column(heading, justify="right", no_wrap=True)
    table.add_column("runner", no_wrap=True)
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
            "-" if status.report is None else escape(status.report.owner),
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
            f"{failure.stream_id}) after {failure.attempts} attempts, {when(failure.at)}: {failure.error}"
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
    share: Annotated[
        bool,
        typer.Option(
            "--share",
            help="Divide the projections with the other workers started with --share on the same "
            "projections, instead of standing by for the ones they hold.",
        ),
    ] = False,
) -> None:
    """Run the application's projections as a standalone worker (the unit of scale-out).

    Start it on several machines: each projection runs where its lease is held and the others
    wait as hot standbys; with --share the workers divide the projections between them and
    rebalance when one joins or leaves. Shows a progress bar while catching up; SIGTERM or
    Ctrl-C stops it after the current batch.
    """

    async def body(settings: Settings) -> None:
        async with opened_store(settings) as store:
            chosen = await resolve_projections(application, store)
            runner = ProjectionRunner(
                store,
                chosen,
                batch_size=batch_size,
                held_back_stall_after=held_back_stall_after,
                share=SharePolicy() if share else None,
                # Sharing takes a dead worker's lease after two standby polls: poll often enough
                # for that to stay under a second.
                lease=LeasePolicy(standby_poll=0.2) if share else None,
            )
            try:
                async with _measured(store, runner, metrics_port, metrics_address):
                    await _run_with_progress(runner, until_caught_up)
            finally:
                for projection in chosen:
                    await projection.target.close()

    execute(context, body)


@contextlib.asynccontextmanager
async def _measured(
    store: EventStore, runner: ProjectionRunner, port: int | None, address: str
) -> AsyncIterator[None]:
    """Prometheus metrics of ``store`` and ``runner`` while the block runs, served on ``port``.

    The metrics need prometheus_client (the ``metrics`` extra): imported here, where they are
    used, so that the command works without it. Without it the worker runs unmeasured, unless
    a metrics port was asked for.
    """
    try:
        from eventledger.metrics import EventLedgerMetrics, serve_metrics
    except ModuleNotFoundError as missing:
        if missing.name != "prometheus_client":
            raise
        if port is not None:
            fail("--metrics-port needs prometheus_client: pip install 'eventledger[metrics]'")
        yield
        return
    metrics = EventLedgerMetrics()
    metrics.instrument_store(store)
    metrics.observe_runner(runner)
    server = None
    if port is not None:
        server = serve_metrics(metrics, port=port, address=address)
        output_console().print(f"metrics on http://{address}:{server.port}/metrics")
    tracking = asyncio.create_task(metrics.track(runner, interval=0.5))
    try:
        yield
    finally:
        tracking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tracking
        if server is not None:
            server.close()


async def _run_with_progress(runner: ProjectionRunner, until_caught_up: bool) -> None:
    console = output_console()
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
