"""The builds a worker applies events to, each with its own checkpoint, feed and failure.

A worker runs one :class:`BuildRun` per build of its projection that its target chose
(usually one; two while a rebuild catches up beside the serving build). :class:`BuildRuns`
holds them, knows which one serves, and answers what the state machine asks of them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from eventledger.projections.builds import Build, BuildState
from eventledger.projections.failures import EventFailure
from eventledger.projections.reading import LiveFeed
from eventledger.projections.worker.machine import Decision, RunFacts


@dataclass
class DecisionRequest:
    """An operator's decision handed to the build stopped at a failure, and the answer it awaits."""

    decision: Decision
    done: asyncio.Future[EventFailure]


@dataclass
class BuildRun:
    """The state of one build this worker is applying events to."""

    build: Build
    checkpoint: int
    rebuilding: bool
    live: bool = False
    retrying: bool = False
    retired: bool = False
    failure: EventFailure | None = None
    """The event this build stopped at, while it waits for an operator."""
    decision: asyncio.Future[DecisionRequest] | None = None
    task: asyncio.Task[None] | None = None
    feed: LiveFeed | None = None
    last_commit: float = field(default_factory=time.monotonic)

    def facts(self) -> RunFacts:
        """What the state machine needs of this build."""
        return RunFacts(failed=self.failure is not None, retrying=self.retrying, rebuilding=self.rebuilding)

    def stop_feed(self) -> None:
        """Stop following the log live (the next read catches up instead)."""
        if self.feed is not None:
            self.feed.close()
        self.feed = None


class BuildRuns:
    """A worker's builds by number, and the one serving readers."""

    def __init__(self) -> None:
        self.runs: dict[int, BuildRun] = {}
        self.serving: BuildRun | None = None
        self.last_checkpoint = 0
        """The serving build's checkpoint as last known (kept when no build runs here)."""

    def clear(self) -> None:
        """Forget the builds (a new lease prepares them afresh)."""
        self.runs = {}
        self.serving = None

    def add(self, build: Build) -> BuildRun:
        """Start tracking ``build`` from its recorded checkpoint."""
        run = BuildRun(build, build.position, rebuilding=build.state is BuildState.BUILDING)
        self.runs[build.number] = run
        if build.state is BuildState.ACTIVE:
            self.serve(run)
        return run

    def serve(self, run: BuildRun) -> None:
        """``run`` is the build readers see now."""
        self.serving = run
        self.last_checkpoint = run.checkpoint

    def committed(self, run: BuildRun, position: int) -> None:
        """``run``'s checkpoint moved to ``position`` (a batch committed, or an event was skipped)."""
        run.checkpoint = position
        if run is self.serving:
            self.last_checkpoint = position

    def facts(self) -> list[RunFacts]:
        """The state machine's facts of every build not retired."""
        return [run.facts() for run in self.runs.values() if not run.retired]

    @property
    def serving_live(self) -> bool:
        """The serving build follows the log live."""
        return self.serving is not None and self.serving.live

    def failure(self) -> EventFailure | None:
        """The event a build stopped at, if any has."""
        return next((run.failure for run in self.runs.values() if run.failure is not None), None)

    def rebuilding(self) -> BuildRun | None:
        """The build catching up beside the serving one, if any."""
        return next((run for run in self.runs.values() if run.rebuilding and not run.retired), None)

    def all_retired(self) -> bool:
        """Every build this worker ran was replaced (and there was at least one)."""
        return bool(self.runs) and all(run.retired for run in self.runs.values())

    def stop_feeds(self) -> None:
        """Stop following the log live in every build."""
        for run in self.runs.values():
            run.stop_feed()
            run.live = False
