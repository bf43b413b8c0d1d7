"""``eventledger projections retry|skip|rebuild|dead-letters NAME``: act on one projection from a terminal.

The actions go through :mod:`eventledger.operations`: each is a request written into the
projection's bookkeeping, which the runner holding the projection's lease (``eventledger
run``, or any process running a :class:`~eventledger.projections.ProjectionRunner`) carries out
at its next lease heartbeat. The command waits for the runner's answer (``--wait`` seconds) and
prints it. ``skip`` and ``rebuild`` ask for confirmation first; ``--yes`` answers it for scripts.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import click
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from eventledger import operations
from eventledger.cli.app import Settings, execute, fail, opened_store, output_console, when
from eventledger.cli.operating import projections_app, resolve_projections
from eventledger.errors import UnknownProjection
from eventledger.operations import OperatorOutcome
from eventledger.projections import DeadLetter, Projection
from eventledger.projections.requests import RequestState
from eventledger.store import EventStore

Name = Annotated[str, typer.Argument(help="The projection's name.")]
App = Annotated[
    str | None, typer.Option("--app", help="module:attribute naming the projections (see `eventledger run`).")
]
Wait = Annotated[
    float, typer.Option("--wait", min=0, help="Seconds to wait for the runner holding the lease to answer.")
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for scripts).")]


@contextlib.asynccontextmanager
async def _projection(
    context: typer.Context, settings: Settings, application: str | None, name: str
) -> AsyncIterator[tuple[EventStore, Projection[Any]]]:
    """The store and the projection ``name`` among those ``--app`` names (targets closed afterwards)."""
    reference = application or _group_app(context)
    if reference is None:
        fail("--app is required: module:attribute naming the projections (see `eventledger run`)")
    async with opened_store(settings) as store:
        chosen = await resolve_projections(reference, store)
        try:
            by_name = {projection.name: projection for projection in chosen}
            if name not in by_name:
                raise UnknownProjection(name, tuple(by_name))
            yield store, by_name[name]
        finally:
            for projection in chosen:
                await projection.target.close()


def _group_app(context: typer.Context) -> str | None:
    """``--app`` given before the subcommand (``eventledger projections --app X skip NAME``)."""
    parent = context.parent
    value = None if parent is None else parent.params.get("application")
    return value if isinstance(value, str) else None


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    try:
        confirmed = typer.confirm(question, default=False)
    except click.exceptions.Abort:
        confirmed = False
    if not confirmed:
        fail("not confirmed: nothing was asked of the runner (pass --yes to skip the question)")


def _answered(outcome: OperatorOutcome, name: str, wait: float) -> str:
    """The runner's answer as one line; fails when it refused or nobody answered in time."""
    request = outcome.request
    if request.state is RequestState.PENDING:
        fail(
            f"no runner of {name!r} answered within {wait:g} s; the request stays queued and the runner "
            "holding its lease carries it out when it runs (eventledger run --app ...)"
        )
    if request.state is RequestState.REFUSED:
        fail(f"the runner of {name!r} refused: {request.outcome}")
    return f"{name}: {request.outcome} (runner {request.answered_by})"


@projections_app.command()
def retry(context: typer.Context, name: Name, application: App = None, wait: Wait = 30.0) -> None:
    """Try the event a failed projection stopped at again (after fixing the cause)."""

    async def body(settings: Settings) -> None:
        async with _projection(context, settings, application, name) as (store, projection):
            outcome = await operations.retry_failed_event(store, projection, timeout=wait)
        output_console().print(escape(_answered(outcome, name, wait)))

    execute(context, body)


@projections_app.command()
def skip(
    context: typer.Context, name: Name, application: App = None, wait: Wait = 30.0, yes: Yes = False
) -> None:
    """Skip the event a failed projection stopped at: it goes to the dead letters, the projection goes on.

    The skipped event's effects are never applied to the read model.
    """

    async def body(settings: Settings) -> None:
        async with _projection(context, settings, application, name) as (store, projection):
            failure = await operations.failed_event(store, projection)
            _confirm(
                f"Skip position {failure.position} ({failure.event_type} in {failure.stream_id}) for "
                f"{name}, failed with {failure.error}? Its effects will never be applied",
                yes,
            )
            outcome = await operations.skip_failed_event(store, projection, timeout=wait)
        line = _answered(outcome, name, wait)
        if outcome.dead_letter is None:
            fail(f"{line}; the skip had not committed within {wait:g} s (see `projections dead-letters`)")
        output_console().print(escape(f"{line}; position {failure.position} is in the dead letters"))

    execute(context, body)


@projections_app.command()
def rebuild(
    context: typer.Context, name: Name, application: App = None, wait: Wait = 30.0, yes: Yes = False
) -> None:
    """Rebuild a projection's read model from the start of the log, beside the serving one.

    The old read model keeps serving until the new build has caught up; then the new one takes
    over in one transaction and the old tables are dropped.
    """

    async def body(settings: Settings) -> None:
        async with _projection(context, settings, application, name) as (_, projection):
            _confirm(
                f"Rebuild {name} from the start of the log? The current read model serves until the "
                "new one has caught up, then it is dropped",
                yes,
            )
            outcome = await operations.rebuild(projection, timeout=wait)
        output_console().print(escape(_answered(outcome, name, wait)))

    execute(context, body)


@projections_app.command("dead-letters")
def dead_letters(
    context: typer.Context,
    name: Name,
    application: App = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List the events skipped for a projection: position, stream, type, error, when."""

    async def body(settings: Settings) -> None:
        async with _projection(context, settings, application, name) as (_, projection):
            letters = await operations.dead_letters(projection)
        console = output_console()
        if as_json:
            for letter in letters:
                typer.echo(json.dumps(dead_letter_json(letter), separators=(",", ":")))
            return
        if not letters:
            console.print(f"no dead letters for {escape(name)}")
            return
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for heading in ("position", "stream", "type", "attempts", "failed (UTC)", "skipped (UTC)"):
            table.add_column(heading, no_wrap=True)
        table.add_column("error", overflow="fold", ratio=1)
        for letter in letters:
            skipped = letter.skipped_at if isinstance(letter.skipped_at, str) else when(letter.skipped_at)
            table.add_row(
                str(letter.position),
                escape(letter.stream_id),
                escape(letter.event_type),
                str(letter.failure.attempts),
                when(letter.failure.at),
                escape(str(skipped)),
                escape(letter.error),
            )
        console.print(table)

    execute(context, body)


def dead_letter_json(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as plain JSON-compatible data."""
    skipped = letter.skipped_at if isinstance(letter.skipped_at, str) else letter.skipped_at.isoformat()
    return {
        "projection": letter.projection,
        "build": letter.build,
        "position": letter.position,
        "stream_id": letter.stream_id,
        "event_type": letter.event_type,
        "event_id": None if letter.event_id is None else str(letter.event_id),
        "error": letter.error,
        "attempts": letter.failure.attempts,
        "failed_at": letter.failure.at.isoformat(),
        "skipped_at": skipped,
    }
