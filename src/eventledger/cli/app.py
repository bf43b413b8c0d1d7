"""The ``eventledger`` command's frame: the Typer app, the global options, running a command
body and turning every failure into one line on stderr.

The commands themselves live in :mod:`.inspecting` (the log) and :mod:`.operating`
(projections); they only wire library calls to the terminal. Optional drivers are imported
by the code that uses them (``open_store`` imports psycopg only for a ``postgresql://`` URL, and
``run`` imports the metrics module only when it is installed), so ``pip install
'eventledger[cli]'`` alone works against SQLite. Nothing here writes the process environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from eventledger.errors import EventLedgerError, UnknownEventType
from eventledger.events import RecordedEvent
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


def output_console() -> Console:
    """The console commands print their results on (standard output)."""
    # Built per call so it writes to whatever sys.stdout is now (the test runner swaps it).
    return Console(highlight=False, soft_wrap=False)


def error_console() -> Console:
    """The console for the one-line errors (standard error)."""
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


def execute(context: typer.Context, operation: Callable[[Settings], Coroutine[Any, Any, _T]]) -> _T:
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
        error_console().print(f"[bold red]error:[/] {escape(_hint(error))}", markup=True, highlight=False)
        raise typer.Exit(EXIT_FAILURE) from None
    except Exception as error:
        if settings.traceback:
            raise
        error_console().print(
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


def when(moment: datetime, *, seconds_only: bool = False) -> str:
    """``moment`` in UTC as the commands print it, to the millisecond (or the second)."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text[:-7] if seconds_only else text[:-3] + "Z"


def event_data(recorded: RecordedEvent) -> str:
    """The event's fields as compact JSON."""
    return recorded.event.model_dump_json()


def main(arguments: list[str] | None = None) -> None:
    """Entry point of the ``eventledger`` console script."""
    app(args=arguments if arguments is not None else sys.argv[1:], prog_name="eventledger")
