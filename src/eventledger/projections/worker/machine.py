"""A projection worker's decisions, as pure functions over typed facts (no I/O, no clock).

The worker's parts gather facts and act; what to *do* is decided here, once, and tested
without a database (the style of :func:`~eventledger.projections.builds.plan_builds`):

- :func:`next_phase`: where the worker's run is (starting, standby, leading, reconnecting,
  retired, stopped) after something happened to it.
- :func:`projection_state`: the :class:`ProjectionState` the worker's phase and its builds
  make; :func:`observed_state` and :func:`reported_state` adjust it for a status and for a
  report.
- :func:`after_read`: a build's next step once a read of the log came back.
- :func:`after_failure`: what to do when applying a batch failed.
- :class:`Decision`: an operator's word on the event a projection stopped at.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sized
from dataclasses import dataclass

from eventledger.projections.status import ProjectionState


class Phase(enum.Enum):
    """Where a worker's run is, before its builds are looked at."""

    STARTING = "starting"
    """Not running yet."""
    STANDBY = "standby"
    """Another runner holds the lease."""
    LEADING = "leading"
    """Holding the lease and applying: the builds say how it goes."""
    RECONNECTING = "reconnecting"
    """The target was lost; waiting to connect again."""
    RETIRED = "retired"
    """A newer build or version replaced this one."""
    STOPPED = "stopped"
    """The run ended."""


class Happening(enum.Enum):
    """What can happen to a worker's run."""

    LEASE_TAKEN = "lease taken"
    LEASE_REFUSED = "lease refused"
    TARGET_LOST = "target lost"
    RECOVERED = "recovered"
    """A read or a batch succeeded again."""
    RETIRED = "retired"
    ENDED = "ended"
    """The run is over (stopped, finished, failed or cancelled)."""


def next_phase(phase: Phase, happening: Happening) -> Phase:
    """The phase after ``happening``."""
    if happening is Happening.LEASE_TAKEN:
        return Phase.LEADING
    if happening is Happening.LEASE_REFUSED:
        return Phase.STANDBY
    if happening is Happening.TARGET_LOST:
        return Phase.RECONNECTING
    if happening is Happening.RECOVERED:
        return Phase.LEADING if phase is Phase.RECONNECTING else phase
    if happening is Happening.RETIRED:
        return Phase.RETIRED
    return phase if phase is Phase.RETIRED else Phase.STOPPED


_PHASE_STATES = {
    Phase.STARTING: ProjectionState.STARTING,
    Phase.STANDBY: ProjectionState.STANDBY,
    Phase.RECONNECTING: ProjectionState.STALLED,
    Phase.RETIRED: ProjectionState.RETIRED,
    Phase.STOPPED: ProjectionState.STOPPED,
}


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What the state needs to know of one build the worker applies (retired builds are left out)."""

    failed: bool
    """Stopped at an event, waiting for an operator."""
    retrying: bool
    """Retrying an event or waiting out the database."""
    rebuilding: bool
    """Catching up beside the serving build."""


def projection_state(
    phase: Phase, runs: Iterable[RunFacts], *, serving_live: bool, held_back: bool
) -> ProjectionState:
    """The state a worker in ``phase`` with these builds is in.

    ``serving_live``: the serving build follows the log live; ``held_back``: the runner says
    committed events have been held back past its threshold.
    """
    if phase is not Phase.LEADING:
        return _PHASE_STATES[phase]
    facts = list(runs)
    if any(run.failed for run in facts):
        return ProjectionState.FAILED
    if any(run.retrying for run in facts):
        return ProjectionState.STALLED
    if any(run.rebuilding for run in facts):
        return ProjectionState.REBUILDING
    if serving_live:
        # Everything visible is applied; held-back events are all that is left.
        return ProjectionState.STALLED if held_back else ProjectionState.LIVE
    return ProjectionState.CATCHING_UP


def observed_state(
    state: ProjectionState, *, lag_seconds: float | None, since_commit: float, stall_after: float
) -> ProjectionState:
    """The state a status shows: a running projection with old events waiting and no commit for
    ``stall_after`` seconds is stalled, whatever it thinks it is doing."""
    if (
        state in (ProjectionState.LIVE, ProjectionState.CATCHING_UP)
        and lag_seconds is not None
        and lag_seconds > stall_after
        and since_commit > stall_after
    ):
        return ProjectionState.STALLED
    return state


def reported_state(state: ProjectionState, *, failed: bool) -> ProjectionState:
    """The state a report records: a run that ended at a failure (``run_until_caught_up``)
    leaves the projection failed there, not merely stopped."""
    return ProjectionState.FAILED if failed and state is ProjectionState.STOPPED else state


class AfterRead(enum.Enum):
    """A build's next step once a read of the log came back."""

    APPLY = "apply"
    """Events came: apply them."""
    READ_AGAIN = "read again"
    """Nothing to apply this time (an event was skipped, or the live feed broke): read again."""
    SWITCH = "switch"
    """A rebuild has caught up: make it the serving build."""
    FINISH = "finish"
    """Caught up, and the run was only to catch up: this build is done."""
    GO_LIVE = "go live"
    """Caught up: follow the log live from here."""


def after_read(events: Sized | None, *, rebuilding: bool, until_caught_up: bool) -> AfterRead:
    """The next step of a build; ``events`` is None when the log has nothing after the checkpoint."""
    if events is None:
        if rebuilding:
            return AfterRead.SWITCH
        return AfterRead.FINISH if until_caught_up else AfterRead.GO_LIVE
    return AfterRead.APPLY if len(events) else AfterRead.READ_AGAIN


class AfterFailure(enum.Enum):
    """What to do when applying a batch failed."""

    RECONNECT = "reconnect"
    """The target connection broke: make a new one (the lease went with it)."""
    WAIT = "wait"
    """The database's passing trouble, not an event's: wait it out, however long."""
    BISECT = "bisect"
    """Apply the batch one event per transaction, to find the event at fault."""
    RETRY = "retry"
    """Try the one event again after a pause."""
    STOP = "stop"
    """Retries ran out: stop at the event until an operator decides."""


def after_failure(
    *, broken: bool, transient: bool, batch_size: int, attempt: int, attempts: int
) -> AfterFailure:
    """The step after a failed batch of ``batch_size`` events.

    ``transient``: the error is the database's (an outage, a lock wait); ``attempt``: how many
    times the one event of a single-event batch has failed now; ``attempts``: the policy's limit.
    """
    if broken:
        return AfterFailure.RECONNECT
    if transient:
        return AfterFailure.WAIT
    if batch_size > 1:
        # A handler's error, or one the database raised only at commit: the events before the
        # culprit commit, each in its own transaction.
        return AfterFailure.BISECT
    return AfterFailure.STOP if attempt >= attempts else AfterFailure.RETRY


class Decision(enum.Enum):
    """An operator's word on the event a failed projection stopped at."""

    RETRY = "retry"
    """Try it again (its cause was fixed)."""
    SKIP = "skip"
    """Move past it, recording it in the dead-letter table; its effects are never applied."""
