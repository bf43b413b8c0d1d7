"""``eventledger ui``: serve the operator console (:mod:`eventledger.console`) for the store.

.. code-block:: sh

    eventledger --url sqlite:///orders.db ui                         # http://127.0.0.1:8800, read-only
    eventledger --url sqlite:///orders.db ui --app myapp.projections:build --operations
    EVENTLEDGER_UI_TOKEN=... eventledger --url postgresql://... ui --host 0.0.0.0

It needs the ``ui`` extra (Starlette and uvicorn), imported only here.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from eventledger.cli.app import Settings, app, execute, fail, output_console
from eventledger.cli.operating import resolve_projections
from eventledger.projections import Projection
from eventledger.store import EventStore


@app.command()
def ui(
    context: typer.Context,
    application: Annotated[
        str | None, typer.Option("--app", help="module:attribute naming the projections (as `run` takes).")
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback it needs --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8800,
    operations: Annotated[
        bool, typer.Option("--operations", help="Allow Retry, Skip and Rebuild (read-only otherwise).")
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="EVENTLEDGER_UI_TOKEN", show_envvar=True, help="Access token every request must carry."
        ),
    ] = None,
) -> None:
    """Serve a web console for the store: streams, events, the live log, projections, the store check."""

    async def body(settings: Settings) -> None:
        if not settings.url:
            fail("no store URL: pass --url URL or set EVENTLEDGER_URL")
        from eventledger.console.access import check_bind

        check_bind(host, token)
        try:
            import uvicorn

            from eventledger.console.app import create_console
        except ModuleNotFoundError as missing:
            fail(f"eventledger ui needs {missing.name}: pip install 'eventledger[ui]'")

        async def load(store: EventStore) -> list[Projection[Any]]:
            assert application is not None
            return await resolve_projections(application, store)

        served = create_console(
            settings.url,
            projections=load if application else None,
            operations_enabled=operations,
            token=token,
        )
        mode = "operations enabled" if operations else "read-only"
        hint = " (open it once with ?token=... to sign in)" if token else ""
        output_console().print(f"eventledger console on http://{host}:{port}/, {mode}{hint}; Ctrl-C stops")
        server = uvicorn.Server(uvicorn.Config(served, host=host, port=port, log_level="warning"))
        await server.serve()

    execute(context, body)
