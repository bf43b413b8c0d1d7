"""The facts of the machine and software a run measured, for the report."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False, timeout=5
        )
    except OSError:
        return "unknown"
    return result.stdout.strip() or "unknown"


def machine_facts(postgres_version: str | None) -> dict[str, str]:
    """CPU, cores, memory, operating system and the versions of everything measured."""
    return {
        "CPU": _cpu_model(),
        "Cores": str(os.cpu_count()),
        "Memory": _memory_gib(),
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": postgres_version or "not measured",
        "eventledger": f"{_version('eventledger')} (commit {_commit()})",
        "eventsourcing": _version("eventsourcing"),
        "psycopg": _version("psycopg"),
        "pydantic": _version("pydantic"),
    }
