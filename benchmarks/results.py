"""One workload's figures for every contender, and the target eventledger is held to."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Target:
    """What eventledger must reach on a workload.

    ``against`` is ``"raw"``, ``"eventsourcing"`` or ``"absolute"``; ``at_least`` / ``at_most``
    bound the ratio eventledger/against (or eventledger's own figure when absolute).
    """

    against: str
    at_least: float | None = None
    at_most: float | None = None

    def describe(self, unit: str) -> str:
        """The target as the report prints it, e.g. ``≥ 0.8x raw`` or ``< 150 MB``."""
        if self.against == "absolute":
            return f"< {self.at_most:g} {unit}" if self.at_most is not None else f"≥ {self.at_least:g} {unit}"
        if self.at_least is not None:
            return f"≥ {self.at_least:g}x {self.against}"
        return f"≤ {self.at_most:g}x {self.against} time"

    def met_by(self, value: float | None) -> bool | None:
        """Whether ``value`` (the ratio, or the figure when absolute) meets the target."""
        if value is None:
            return None
        if self.at_least is not None and value < self.at_least:
            return False
        if self.at_most is not None:
            return value < self.at_most if self.against == "absolute" else value <= self.at_most
        return True


@dataclass
class Result:
    """The samples of one workload on one backend, per contender."""

    backend: str
    workload: str
    title: str
    unit: str
    higher_is_better: bool
    targets: tuple[Target, ...] = ()
    samples: dict[str, list[float]] = field(default_factory=dict)
    load: tuple[float, float] | None = None
    """The machine's 1-minute load average when the workload started and when it ended."""

    def add(self, contender: str, value: float) -> None:
        """Record one repeat's figure."""
        self.samples.setdefault(contender, []).append(value)

    def median(self, contender: str) -> float | None:
        """The median of the contender's repeats (None if it was not measured)."""
        values = self.samples.get(contender)
        return statistics.median(values) if values else None

    def spread(self, contender: str) -> tuple[float, float] | None:
        """The lowest and highest of the contender's repeats (None if it was not measured)."""
        values = self.samples.get(contender)
        return (min(values), max(values)) if values else None

    def fastest_raw(self) -> str:
        """The raw driver with the best median (``raw``, or on PostgreSQL ``raw-asyncpg`` when it
        did better): the real limit the "raw" targets are judged against."""
        measured = [name for name in ("raw", "raw-asyncpg") if self.median(name) is not None]
        if not measured:
            return "raw"
        best = max if self.higher_is_better else min
        return best(measured, key=lambda name: self.median(name) or 0.0)

    def ratio(self, other: str) -> float | None:
        """eventledger's median divided by ``other``'s; ``"raw"`` means the fastest raw driver."""
        if other == "raw":
            other = self.fastest_raw()
        mine, theirs = self.median("eventledger"), self.median(other)
        if mine is None or not theirs:
            return None
        return mine / theirs

    def judgements(self) -> list[tuple[Target, float | None, bool | None]]:
        """Each target, the value it judges (the ratio, or the figure when absolute), and
        whether it was met."""
        judged = []
        for target in self.targets:
            value = self.median("eventledger") if target.against == "absolute" else self.ratio(target.against)
            judged.append((target, value, target.met_by(value)))
        return judged

    def verdicts(self) -> list[tuple[str, bool | None]]:
        """Each target's description and whether it was met."""
        return [(target.describe(self.unit), met) for target, _, met in self.judgements()]

    def to_dict(self) -> dict[str, Any]:
        """Everything about the result, for the JSON file."""
        return {
            "backend": self.backend,
            "workload": self.workload,
            "title": self.title,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "samples": self.samples,
            "medians": {name: self.median(name) for name in self.samples},
            "minimums": {name: min(values) for name, values in self.samples.items() if values},
            "maximums": {name: max(values) for name, values in self.samples.items() if values},
            "load_average": None if self.load is None else {"start": self.load[0], "end": self.load[1]},
            "fastest_raw": self.fastest_raw(),
            "eventledger_over_raw": self.ratio("raw"),
            "eventledger_over_eventsourcing": self.ratio("eventsourcing"),
            "eventledger_over_raw_same_sql": self.ratio("raw-same-sql"),
            "targets": [
                {"target": description, "met": met, **asdict(target)}
                for (description, met), target in zip(self.verdicts(), self.targets, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """Inverse of :meth:`to_dict` (to rebuild a report from a JSON file)."""
        targets = tuple(
            Target(item["against"], item.get("at_least"), item.get("at_most")) for item in data["targets"]
        )
        load = data.get("load_average")
        return cls(
            data["backend"], data["workload"], data["title"], data["unit"], data["higher_is_better"],
            targets, {name: list(values) for name, values in data["samples"].items()},
            None if load is None else (load["start"], load["end"]),
        )
