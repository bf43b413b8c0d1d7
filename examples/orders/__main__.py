"""``python -m examples.orders serve`` runs the demo service; ``simulate`` puts load on it.

python -m examples.orders serve                        # http://127.0.0.1:8000, SQLite file store
EVENTLEDGER_URL=postgresql://postgres@127.0.0.1/test python -m examples.orders serve
python -m examples.orders simulate                     # 3000 orders at 200/s: watch the lag
python -m examples.orders simulate --orders 2000 --rate 0   # as fast as the clients go
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from examples.orders.settings import DemoSettings
from examples.orders.simulation import Conflicted, Refused, SimulationProgress, simulate


def serve(arguments: argparse.Namespace) -> None:
    """Run the service with uvicorn until Ctrl-C."""
    import uvicorn

    from examples.orders.service import create_app

    settings = DemoSettings.from_environment()
    host = arguments.host or settings.host
    port = arguments.port or settings.port
    print(f"orders demo: events in {settings.store_url}, read models in {settings.read_model}")
    print(f"orders demo: open http://{host}:{port}/ (Ctrl-C stops)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level=arguments.log_level)


class HttpCommands:
    """Simulated clients sending commands to a running service over HTTP."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def create(self, order_id: str, items: list[dict[str, Any]]) -> None:
        """POST /api/orders."""
        await self._send("/api/orders", {"order_id": order_id, "items": items})

    async def confirm(self, order_id: str) -> None:
        """POST /api/orders/{id}/confirm."""
        await self._send(f"/api/orders/{order_id}/confirm", {})

    async def cancel(self, order_id: str, reason: str) -> None:
        """POST /api/orders/{id}/cancel."""
        await self._send(f"/api/orders/{order_id}/cancel", {"reason": reason})

    async def _send(self, path: str, body: dict[str, Any]) -> None:
        response = await self.client.post(path, json=body)
        # Errors are problem details (RFC 9457): the detail says what happened.
        if response.status_code == 422:
            raise Refused(response.json()["detail"])
        if response.status_code in (409, 412):
            raise Conflicted(response.json()["detail"])
        response.raise_for_status()


async def simulate_in_service(arguments: argparse.Namespace) -> int:
    """Ask the service to run the simulated clients (as the page's button does) and show progress."""
    import httpx

    async with httpx.AsyncClient(base_url=arguments.service, timeout=30) as client:
        try:
            response = await client.post(
                "/api/simulations",
                json={
                    "orders": arguments.orders,
                    "concurrency": arguments.concurrency,
                    "rate": pace(arguments),
                },
            )
        except httpx.HTTPError as error:
            print(
                f"error: no orders service at {arguments.service} ({error}); start it with `make demo`",
                file=sys.stderr,
            )
            return 1
        if response.status_code != 202:
            print(f"error: {response.json()['detail']}", file=sys.stderr)
            return 1
        paced = f" at {arguments.rate:g} orders/s" if pace(arguments) else " as fast as they go"
        print(
            f"simulating {arguments.orders} orders{paced} from {arguments.concurrency} concurrent clients "
            f"inside the service at {arguments.service}; watch the projections panel on its page"
        )
        while True:
            await asyncio.sleep(0.5)
            progress = (await client.get("/api/simulations/current")).json()["simulation"]
            projections = (await client.get("/api/projections")).json()["projections"]
            lag = ", ".join(
                f"{projection['name']} lag {projection['lag_events']} events / {projection['lag_seconds']}s"
                for projection in projections
            )
            print(
                f"  {progress['orders_done']:>6}/{progress['orders']} orders  {progress['commands']:>6} "
                f"commands  {progress['commands_per_second']:7.0f} commands/s  |  {lag}",
                flush=True,
            )
            if not progress["running"]:
                break
        while any(projection["lag_events"] for projection in projections):
            await asyncio.sleep(0.5)
            projections = (await client.get("/api/projections")).json()["projections"]
            print(
                "  catching up: "
                + ", ".join(
                    f"{projection['name']} lag {projection['lag_events']}" for projection in projections
                ),
                flush=True,
            )
    print(
        f"done in {progress['seconds']:.1f}s: {progress['commands']} commands, {progress['refused']} refused "
        f"by a rule, {progress['conflicted']} still conflicting after retries, {progress['failed']} failed; "
        "every projection caught up"
    )
    return 0 if progress["failed"] == 0 else 1


async def simulate_over_http(arguments: argparse.Namespace) -> int:
    """Be the concurrent clients: send every command over HTTP (slower: the clients share the CPU)."""
    import httpx

    progress = SimulationProgress(
        orders=arguments.orders, concurrency=arguments.concurrency, rate=pace(arguments)
    )
    limits = httpx.Limits(max_connections=arguments.concurrency * 2)
    async with httpx.AsyncClient(base_url=arguments.service, limits=limits, timeout=30) as client:
        try:
            (await client.get("/api/info")).raise_for_status()
        except httpx.HTTPError as error:
            print(
                f"error: no orders service at {arguments.service} ({error}); start it with `make demo`",
                file=sys.stderr,
            )
            return 1
        print(
            f"simulating {progress.orders} orders from {progress.concurrency} concurrent HTTP clients "
            f"against {arguments.service} (run {progress.run_id})"
        )
        task = asyncio.create_task(simulate(HttpCommands(client), progress, seed=arguments.seed))
        while not task.done():
            await asyncio.wait({task}, timeout=1.0)
            print(
                f"  {progress.orders_done:>6}/{progress.orders} orders  {progress.commands:>6} commands  "
                f"{progress.commands_per_second:7.0f} commands/s  {progress.refused} refused  "
                f"{progress.conflicted} conflicts",
                flush=True,
            )
        await task
    print(
        f"done in {progress.seconds:.1f}s: {progress.commands} commands, "
        f"{progress.refused} refused by a rule, {progress.conflicted} still conflicting after retries, "
        f"{progress.failed} failed" + (f" (last: {progress.last_error})" if progress.last_error else "")
    )
    return 0 if progress.failed == 0 else 1


def pace(arguments: argparse.Namespace) -> float | None:
    """The ``--rate`` in orders per second, or None for 0 (as fast as the clients go)."""
    rate = float(arguments.rate)
    return rate if rate > 0 else None


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m examples.orders", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve", help="run the service (http://127.0.0.1:8000)")
    serving.add_argument("--host", default=None, help="default 127.0.0.1 (ORDERS_HOST)")
    serving.add_argument("--port", type=int, default=None, help="default 8000 (ORDERS_PORT)")
    serving.add_argument("--log-level", default="info")
    simulating = commands.add_parser("simulate", help="fire commands at a running service concurrently")
    simulating.add_argument("--orders", type=int, default=3000)
    simulating.add_argument(
        "--rate",
        type=float,
        default=200.0,
        help="orders per second across all clients (default 200, so 3000 orders last 15 s); 0: unpaced",
    )
    simulating.add_argument("--concurrency", type=int, default=16)
    simulating.add_argument("--service", default="http://127.0.0.1:8000")
    simulating.add_argument("--seed", type=int, default=None, help="with --over-http")
    simulating.add_argument(
        "--over-http",
        action="store_true",
        help="be the clients here and send each command over HTTP, instead of inside the service",
    )
    arguments = parser.parse_args(argv)
    if arguments.command == "serve":
        serve(arguments)
        return 0
    started = time.monotonic()
    try:
        runner = simulate_over_http if arguments.over_http else simulate_in_service
        return asyncio.run(runner(arguments))
    except KeyboardInterrupt:
        print(f"stopped after {time.monotonic() - started:.1f}s", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
