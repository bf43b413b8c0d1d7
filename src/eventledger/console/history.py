"""What a projections page plots and rates: each projection's checkpoint and lag, sampled about
once a second by the process showing the page (the operator console, the order demo).

A runner reports ``events_per_second`` over one window (10 s); a page that is watched during a
burst also wants the last minute, and a chart wants the lag over time with real times on its
axis. :class:`ProjectionHistory` keeps two minutes of samples per projection and answers both.
It imports no web framework, so any program can use it.
Rates are the checkpoint's advance per second (positions, so events a projection has no
handler for count too, as they do in its lag).

>>> history = ProjectionHistory()
>>> history.record("order-list", at=100.0, checkpoint=0, lag_events=50)
>>> history.record("order-list", at=110.0, checkpoint=400, lag_events=0)
>>> history.rate("order-list", window=10.0, now=110.0)
40.0
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

KEEP_SECONDS = 120.0
"""How much history is kept (the chart's width)."""
WINDOWS = {"10s": 10.0, "1m": 60.0}
"""The rate windows the page shows, by label."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One projection's checkpoint and lag at one moment (``time.monotonic()`` seconds)."""

    at: float
    checkpoint: int
    lag_events: int | None


class ProjectionHistory:
    """Recent samples of every projection: rates over windows, and the lag series of the chart."""

    def __init__(self, keep: float = KEEP_SECONDS) -> None:
        self.keep = keep
        self._samples: dict[str, collections.deque[Sample]] = {}

    def record(self, name: str, *, at: float, checkpoint: int, lag_events: int | None) -> None:
        """Add a sample of ``name`` taken at ``at``; forget what is older than :attr:`keep`."""
        samples = self._samples.setdefault(name, collections.deque())
        samples.append(Sample(at, checkpoint, lag_events))
        while samples and samples[0].at < at - self.keep:
            samples.popleft()

    def rate(self, name: str, *, window: float, now: float) -> float | None:
        """Checkpoint advance per second over the last ``window`` seconds before ``now`` (over the
        samples there are, when fewer seconds were sampled); None with fewer than two samples."""
        inside = [sample for sample in self._samples.get(name, ()) if sample.at >= now - window - 0.5]
        if len(inside) < 2 or inside[-1].at <= inside[0].at:
            return None
        # A rebuild taking over moves the serving checkpoint back: count no negative progress.
        advance = max(inside[-1].checkpoint - inside[0].checkpoint, 0)
        return advance / (inside[-1].at - inside[0].at)

    def lag_points(self, name: str, *, now: float) -> list[tuple[float, int | None]]:
        """The lag series as (seconds before ``now``, events), oldest first."""
        return [(now - sample.at, sample.lag_events) for sample in self._samples.get(name, ())]

    def as_json(self, name: str, *, now: float) -> dict[str, Any]:
        """The rates by window label and the lag series (seconds before ``now``, events)."""
        rates = {label: self.rate(name, window=window, now=now) for label, window in WINDOWS.items()}
        return {
            "events_per_second_window": {
                label: None if rate is None else round(rate, 1) for label, rate in rates.items()
            },
            "lag_history": [
                {"seconds_ago": round(now - sample.at, 1), "lag_events": sample.lag_events}
                for sample in self._samples.get(name, ())
            ],
        }
