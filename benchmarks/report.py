"""The results as a table for the terminal, a JSON file and the committed docs/benchmarks.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.results import Result

HEADERS = (
    "Backend", "Workload", "Unit", "eventledger", "eventsourcing", "raw", "raw asyncpg", "el/raw", "el/es",
    "Target", "raw, eventledger's SQL", "el/same SQL", "load",
)


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "events/s":
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _figures(result: Result, contender: str) -> str:
    """The median with the lowest and highest repeat: ``9,143 (8,870-9,310)``."""
    spread = result.spread(contender)
    if spread is None:
        return "—"
    low, high = spread
    median = _figure(result.median(contender), result.unit)
    return f"{median} ({_figure(low, result.unit)}-{_figure(high, result.unit)})"


def _load(result: Result) -> str:
    return "—" if result.load is None else f"{result.load[0]:.1f}-{result.load[1]:.1f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def _verdicts(result: Result) -> str:
    parts = []
    for description, met in result.verdicts():
        mark = "n/a" if met is None else ("met" if met else "MISSED")
        parts.append(f"{description}: {mark}")
    return "; ".join(parts)


def rows(results: list[Result]) -> list[tuple[str, ...]]:
    """One row per result: figures are medians (lowest-highest repeat), ratios are eventledger's
    median over the other's, load the 1-minute load average at the workload's start and end."""
    return [
        (
            result.backend,
            f"{result.workload} {result.title}",
            result.unit + (" ↑" if result.higher_is_better else " ↓"),
            _figures(result, "eventledger"),
            _figures(result, "eventsourcing"),
            _figures(result, "raw"),
            _figures(result, "raw-asyncpg"),
            _ratio(result.ratio("raw")),
            _ratio(result.ratio("eventsourcing")),
            _verdicts(result) or "—",
            _figures(result, "raw-same-sql"),
            _ratio(result.ratio("raw-same-sql")),
            _load(result),
        )
        for result in results
    ]


def text_table(results: list[Result]) -> str:
    """An aligned plain-text table."""
    table = [HEADERS, *rows(results)]
    widths = [max(len(row[column]) for row in table) for column in range(len(HEADERS))]
    lines = []
    for index, row in enumerate(table):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(results: list[Result]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join(" --- " for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines)


def write_json(path: Path, results: list[Result], facts: dict[str, str], settings: dict[str, Any]) -> None:
    """Every sample, median, ratio and verdict, with the machine facts and the run's settings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": facts,
        "settings": settings,
        "results": [result.to_dict() for result in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


METHOD = """\
## How the figures are made

- **Contenders.** *eventledger* through its public async API (`open_store`, `append`,
  `read_stream`, `read_all`). *eventsourcing* (the incumbent) through an `Application` configured
  by its documented environment settings (`PERSISTENCE_MODULE`, `SQLITE_DBNAME`, `POSTGRES_*`),
  using the application's event store (`app.events.put` / `app.events.get`) and, for the global
  log, its recorder's `select_notifications` in pages of 1,000 decoded by the application's
  mapper: the layer that matches eventledger's store, minus the aggregate bookkeeping, which is
  the most favourable fair usage we found. *raw* is the database driver with hand-written SQL
  (stdlib `sqlite3`, psycopg 3, and on PostgreSQL also asyncpg) on a table with eventledger's
  columns, unique (stream_id, version) and JSON data; it encodes with `json.dumps` and decodes
  the JSON on read.
- **Same settings.** SQLite files are in WAL mode with the same `synchronous` mode for all
  three, FULL unless the run asked otherwise (`--sqlite-synchronous`; the header names it):
  eventledger's default, so an acknowledged append survives power loss; the raw driver and the
  incumbent get the same pragma, so the comparison is one of code, not of durability settings.
  PostgreSQL runs with the server's defaults for all three (`synchronous_commit = on`).
- **Same events.** Every contender writes the same five-field event (strings and an int) and
  reads it back decoded into its own event objects (raw: dicts). Input events are built before the
  clock starts; the timed part is what a caller waits for.
- **Interleaved, repeated.** Within each repeat the contenders take turns in short chunks (the
  order rotates from chunk to chunk): a tenth of each write workload, one load of a stream (R1),
  a tenth of the log (R2), a fifth of C1's time, so a burst from another program lands on all of
  them alike. Write workloads use a fresh SQLite file or PostgreSQL schema for every repeat of
  every contender. Figures are medians of the repeats with the lowest and highest in brackets;
  ratios are eventledger's median over the other's (for ms and MB lower is better, so a ratio
  below 1 favours eventledger). The load column is the machine's 1-minute load average when the
  workload started and when it ended.
- **Nothing that favours one.** No `gc.freeze()`; a `gc.collect()` before each workload for
  everyone. The read workloads' logs are bulk-loaded with every event at a time of its own (a log
  whose events share one time lets a reader convert one time per page).
- **Workloads.** W1 new streams of one event, one transaction each; W2 single-event appends with
  an exact expected version over 100 existing streams; W3 batch appends to new streams; W4
  multi-stream appends, one transaction each writing one event to each of 3 streams (2 existing
  streams at exact expected versions and 1 new one): eventledger's `append_many`, the raw
  driver's three INSERTs in one transaction (psycopg pipelines them), the incumbent's one `put`
  of three aggregates' events (what its `save(a, b, c)` commits as one transaction); W2c what a
  command handler does: load an aggregate from its events, add one event, save it at the loaded
  version (eventledger's `Repository.update`, the incumbent's `repository.get` and `save`, the
  raw driver's SELECT, fold and INSERT); R1 load one stream; R2 read the whole global log from
  the start; C1 (PostgreSQL) separate writer
  processes, each with its own connection, appending single events to streams of their own for a
  fixed time; M1 read a global log end to end in a fresh process and report its peak resident
  memory (it must stream).
"""


def summary(results: list[Result]) -> str:
    """What this run shows, per backend: every target met or missed, with its ratio. Generated,
    so the document never carries a claim from another run."""
    lines = ["## What this run shows", ""]
    for backend in dict.fromkeys(result.backend for result in results):
        met: list[str] = []
        missed: list[str] = []
        for result in results:
            if result.backend != backend:
                continue
            for target, value, verdict in result.judgements():
                absolute = target.against == "absolute"
                figure = _figure(value, result.unit) + f" {result.unit}" if absolute else _ratio(value)
                line = f"{result.workload} {result.title}: {figure} (target {target.describe(result.unit)})"
                (met if verdict else missed).append(line)
        lines.append(f"**{backend}**: {len(met)} of {len(met) + len(missed)} targets met.")
        lines += [f"- missed: {line}" for line in missed]
        lines.append("")
    return "\n".join(lines).rstrip()


def markdown_document(
    results: list[Result], facts: dict[str, str], settings: dict[str, Any], command: str
) -> str:
    """The whole docs/benchmarks.md, generated from one run's results alone."""
    machine = "\n".join(f"| {key} | {value} |" for key, value in facts.items())
    moment = settings.get("recorded_at")
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else datetime.now(UTC)
    recorded = when.strftime("%Y-%m-%d %H:%M UTC")
    repeats = settings.get("repeats")
    combined = settings.get("combined")
    runs = f" (one run per backend: {'; '.join(combined)})" if combined else ""
    # Results recorded before the setting existed were all made with NORMAL.
    synchronous = str(settings.get("sqlite_synchronous", "normal")).upper()
    return f"""# Benchmarks

eventledger side by side with the `eventsourcing` library (the incumbent) and the raw database
driver doing the same work with no library. Generated by `{command}` on {recorded}{runs}; every figure
is the median of {repeats} repeats (C1: {settings.get("concurrent_repeats")}); every SQLite contender
committed with `synchronous = {synchronous}`. Do not edit by hand: run the command again.

## Machine

| | |
| --- | --- |
{machine}

## Results

↑ higher is better, ↓ lower is better. *raw* is the database driver with hand-written SQL
(stdlib `sqlite3`; psycopg's synchronous connection on PostgreSQL), *raw asyncpg* the same SQL
through asyncpg, the fastest PostgreSQL driver measured. el/raw is eventledger's median over
the **fastest** raw driver's of the run (on PostgreSQL the faster of the two), el/es over
eventsourcing's. *raw, eventledger's SQL* (PostgreSQL single-event writes only) is asyncpg
running the store's own append statement on the store's own table, without the library: the
issue's "fastest raw driver doing the same SQL", which the W1, W2 and C1 targets on PostgreSQL
are judged against (el/same SQL). The plain *raw* contenders write a leaner table (no writing
transaction id and its index, no immutability triggers) with a plain INSERT, so el/raw there
also counts what the never-skip design costs the server.

{markdown_table(results)}

{summary(results)}

{METHOD}"""
