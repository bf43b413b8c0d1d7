"""M1: read a whole global log in a process of its own and report that process's peak memory.

Run by the suite as ``python -m benchmarks.memory_probe CONTENDER PLACE_JSON``; prints one JSON
object: events read, seconds, resident memory before reading and the process's peak (MB).
"""

from __future__ import annotations

import json
import sys

from benchmarks.lineup import open_contender
from benchmarks.places import Place


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def resident_mb() -> float:
    """The process's current resident set size in MB (Linux /proc)."""
    return _status_mb("VmRSS")


def peak_resident_mb() -> float:
    """The process's peak resident set size in MB since it started its program.

    ``VmHWM``, not ``getrusage``: Linux carries ``ru_maxrss`` across exec, so a child of a large
    parent would report the parent's size.
    """
    return _status_mb("VmHWM")


def main(arguments: list[str]) -> None:
    """Read the log of one contender's place and print the figures."""
    name, place = arguments[0], Place.from_dict(json.loads(arguments[1]))
    contender = open_contender(name, place)
    before = resident_mb()
    seconds, events = contender.read_log()
    peak = peak_resident_mb()
    contender.close()
    print(json.dumps({"events": events, "seconds": seconds, "before_mb": before, "peak_mb": peak}))


if __name__ == "__main__":
    main(sys.argv[1:])
