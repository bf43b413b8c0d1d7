"""``python -m benchmarks [--quick] [--backends sqlite,postgres] [--workloads W1,R2,...] [--json PATH]``.

Prints the results table, writes benchmarks/results/<time>.json (and latest.json, and PATH when
given) and, for a full run of every workload on both backends, regenerates docs/benchmarks.md
from that run alone, with the run's JSON beside it (docs/benchmarks.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.machine import machine_facts
from benchmarks.places import Backend, PostgresBackend, SQLiteBackend
from benchmarks.report import markdown_document, text_table, write_json
from benchmarks.results import Result
from benchmarks.suite import FULL, QUICK, WORKLOADS, Suite, sizes_dict

REPOSITORY = Path(__file__).resolve().parent.parent
RESULTS = REPOSITORY / "benchmarks" / "results"
DOCUMENT = REPOSITORY / "docs" / "benchmarks.md"
DOCUMENT_JSON = REPOSITORY / "docs" / "benchmarks.json"
"""The run docs/benchmarks.md was generated from, every sample, committed beside it."""


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes and 3 repeats (a few minutes)")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated workload ids")
    parser.add_argument("--repeats", type=int, help="override the number of repeats")
    parser.add_argument("--json", metavar="PATH", type=Path, help="also write every figure and ratio to PATH")
    parser.add_argument("--postgres", help="PostgreSQL URL of the benchmark database")
    parser.add_argument(
        "--sqlite-synchronous", choices=("full", "normal"), default="full",
        help="SQLite's synchronous mode for every contender (full: eventledger's durable default; "
        "normal: its documented faster choice)",
    )
    parser.add_argument(
        "--from-json", metavar="PATH", nargs="+",
        help="run nothing: rebuild the table and docs/benchmarks.md from results files (say, one per "
        "backend), in order",
    )
    parser.add_argument(
        "--docs", choices=("auto", "always", "never"), default="auto",
        help="regenerate docs/benchmarks.md (auto: only for a full run of everything)",
    )
    return parser.parse_args(argv)


def _backend(name: str, postgres_url: str | None, sqlite_synchronous: str) -> Backend | None:
    if name == "sqlite":
        return SQLiteBackend(sqlite_synchronous)
    if name == "postgres":
        try:
            return PostgresBackend(postgres_url)
        except Exception as error:  # the server may simply not be running
            print(f"skipping PostgreSQL: {error}", file=sys.stderr)
            return None
    raise SystemExit(f"unknown backend {name!r} (use sqlite, postgres)")


def main(argv: list[str]) -> int:
    """Run the suite and report."""
    arguments = _arguments(argv)
    if arguments.from_json:
        return _rebuild([Path(path) for path in arguments.from_json])
    sizes = QUICK if arguments.quick else FULL
    if arguments.repeats:
        sizes = replace(sizes, repeats=arguments.repeats, concurrent_repeats=arguments.repeats)
    known = {workload.upper(): workload for workload in WORKLOADS}
    asked = [item.strip().upper() for item in arguments.workloads.split(",") if item.strip()]
    unknown = [item for item in asked if item not in known]
    if unknown:
        raise SystemExit(f"unknown workloads {unknown} (known: {', '.join(WORKLOADS)})")
    workloads = tuple(known[item] for item in asked)
    backend_names = [item.strip() for item in arguments.backends.split(",") if item.strip()]

    started = time.perf_counter()
    results: list[Result] = []
    postgres_version: str | None = None
    for name in backend_names:
        backend = _backend(name, arguments.postgres, arguments.sqlite_synchronous)
        if backend is None:
            continue
        if isinstance(backend, PostgresBackend):
            postgres_version = backend.server_version
        print(f"{name}: running {', '.join(workloads)}", file=sys.stderr, flush=True)
        try:
            results.extend(Suite(backend, sizes, workloads).run())
        finally:
            backend.close()
    elapsed = time.perf_counter() - started

    facts = machine_facts(postgres_version)
    settings = {**sizes_dict(sizes), "quick": arguments.quick, "workloads": list(workloads),
                "backends": backend_names, "sqlite_synchronous": arguments.sqlite_synchronous,
                "seconds": round(elapsed, 1),
                "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}
    print(text_table(results))
    print(f"\n{len(results)} results in {elapsed:.0f}s")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    extra = [arguments.json] if arguments.json else []
    for path in (RESULTS / f"{stamp}.json", RESULTS / "latest.json", *extra):
        write_json(path, results, facts, settings)
    print(f"wrote {RESULTS / (stamp + '.json')}")

    complete = not arguments.quick and set(workloads) == set(WORKLOADS) and postgres_version is not None
    if arguments.docs == "always" or (arguments.docs == "auto" and complete):
        _write_document(results, facts, settings, quick=arguments.quick)
    return 0


def _rebuild(paths: list[Path]) -> int:
    documents = [json.loads(path.read_text()) for path in paths]
    results = [Result.from_dict(item) for document in documents for item in document["results"]]
    facts: dict[str, str] = {}
    for document in documents:
        # A fact one run did not measure (PostgreSQL's version) comes from the run that did.
        facts.update({key: value for key, value in document["machine"].items() if value != "not measured"})
    settings = {**documents[-1]["settings"], "recorded_at": documents[-1]["recorded_at"]}
    if len(documents) > 1:
        settings["combined"] = [
            f"{', '.join(document['settings']['backends'])} at {document['recorded_at']}"
            for document in documents
        ]
    print(text_table(results))
    quick = any(document["settings"]["quick"] for document in documents)
    _write_document(results, facts, settings, quick=quick)
    return 0


def _write_document(
    results: list[Result], facts: dict[str, str], settings: dict[str, Any], *, quick: bool
) -> None:
    command = "make bench-quick" if quick else "make bench"
    DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
    DOCUMENT.write_text(markdown_document(results, facts, settings, command))
    write_json(DOCUMENT_JSON, results, facts, settings)
    print(f"wrote {DOCUMENT}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
