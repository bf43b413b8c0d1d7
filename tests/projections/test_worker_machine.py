"""The worker's decisions, pure: phases, states, the step after a read and after a failed batch.

No database, no event loop: these are the rules the worker's parts carry out.
"""

from __future__ import annotations

import pytest

from eventledger.projections import ProjectionState
from eventledger.projections.worker.machine import (
    AfterFailure,
    AfterRead,
    Happening,
    Phase,
    RunFacts,
    after_failure,
    after_read,
    next_phase,
    observed_state,
    projection_state,
    reported_state,
)

CALM = RunFacts(failed=False, retrying=False, rebuilding=False)
FAILED = RunFacts(failed=True, retrying=False, rebuilding=False)
RETRYING = RunFacts(failed=False, retrying=True, rebuilding=False)
REBUILDING = RunFacts(failed=False, retrying=False, rebuilding=True)


@pytest.mark.parametrize("phase", list(Phase))
def test_taking_the_lease_leads_and_being_refused_stands_by_from_any_phase(phase: Phase) -> None:
    assert next_phase(phase, Happening.LEASE_TAKEN) is Phase.LEADING
    assert next_phase(phase, Happening.LEASE_REFUSED) is Phase.STANDBY


def test_recovering_leads_again_only_after_losing_the_target() -> None:
    assert next_phase(Phase.RECONNECTING, Happening.RECOVERED) is Phase.LEADING
    assert next_phase(Phase.STANDBY, Happening.RECOVERED) is Phase.STANDBY
    assert next_phase(Phase.LEADING, Happening.RECOVERED) is Phase.LEADING


def test_a_run_that_ends_is_stopped_unless_it_was_retired() -> None:
    assert next_phase(Phase.LEADING, Happening.ENDED) is Phase.STOPPED
    assert next_phase(Phase.STANDBY, Happening.ENDED) is Phase.STOPPED
    assert next_phase(Phase.RETIRED, Happening.ENDED) is Phase.RETIRED


@pytest.mark.parametrize(
    ("phase", "state"),
    [
        (Phase.STARTING, ProjectionState.STARTING),
        (Phase.STANDBY, ProjectionState.STANDBY),
        (Phase.RECONNECTING, ProjectionState.STALLED),
        (Phase.RETIRED, ProjectionState.RETIRED),
        (Phase.STOPPED, ProjectionState.STOPPED),
    ],
)
def test_a_worker_not_leading_is_in_its_phases_state_whatever_its_builds_say(
    phase: Phase, state: ProjectionState
) -> None:
    assert projection_state(phase, [FAILED, RETRYING], serving_live=True, held_back=True) is state


def test_a_failed_build_outweighs_retrying_rebuilding_and_live() -> None:
    builds = [REBUILDING, RETRYING, FAILED]
    state = projection_state(Phase.LEADING, builds, serving_live=True, held_back=False)
    assert state is ProjectionState.FAILED


def test_a_retrying_build_makes_the_projection_stalled_before_rebuilding() -> None:
    state = projection_state(Phase.LEADING, [REBUILDING, RETRYING], serving_live=False, held_back=False)
    assert state is ProjectionState.STALLED


def test_a_build_catching_up_beside_the_serving_one_is_rebuilding_even_when_the_serving_one_is_live() -> None:
    state = projection_state(Phase.LEADING, [CALM, REBUILDING], serving_live=True, held_back=False)
    assert state is ProjectionState.REBUILDING


def test_a_live_serving_build_is_live_unless_events_are_held_back_past_the_threshold() -> None:
    live = projection_state(Phase.LEADING, [CALM], serving_live=True, held_back=False)
    held = projection_state(Phase.LEADING, [CALM], serving_live=True, held_back=True)
    assert (live, held) == (ProjectionState.LIVE, ProjectionState.STALLED)


def test_held_back_events_do_not_stall_a_projection_still_catching_up() -> None:
    state = projection_state(Phase.LEADING, [CALM], serving_live=False, held_back=True)
    assert state is ProjectionState.CATCHING_UP


def test_a_status_shows_stalled_when_old_events_wait_and_nothing_committed_for_too_long() -> None:
    assert (
        observed_state(ProjectionState.LIVE, lag_seconds=31.0, since_commit=31.0, stall_after=30.0)
        is ProjectionState.STALLED
    )
    assert (
        observed_state(ProjectionState.CATCHING_UP, lag_seconds=31.0, since_commit=5.0, stall_after=30.0)
        is ProjectionState.CATCHING_UP
    )
    assert (
        observed_state(ProjectionState.LIVE, lag_seconds=None, since_commit=99.0, stall_after=30.0)
        is ProjectionState.LIVE
    )
    assert (
        observed_state(ProjectionState.FAILED, lag_seconds=99.0, since_commit=99.0, stall_after=30.0)
        is ProjectionState.FAILED
    )


def test_a_report_of_a_run_that_ended_at_a_failure_says_failed() -> None:
    assert reported_state(ProjectionState.STOPPED, failed=True) is ProjectionState.FAILED
    assert reported_state(ProjectionState.STOPPED, failed=False) is ProjectionState.STOPPED
    assert reported_state(ProjectionState.LIVE, failed=True) is ProjectionState.LIVE


@pytest.mark.parametrize(
    ("events", "rebuilding", "until_caught_up", "step"),
    [
        (None, True, False, AfterRead.SWITCH),
        (None, True, True, AfterRead.SWITCH),
        (None, False, True, AfterRead.FINISH),
        (None, False, False, AfterRead.GO_LIVE),
        ([], False, False, AfterRead.READ_AGAIN),
        ([1, 2], True, True, AfterRead.APPLY),
    ],
)
def test_the_step_after_a_read(
    events: list[int] | None, rebuilding: bool, until_caught_up: bool, step: AfterRead
) -> None:
    assert after_read(events, rebuilding=rebuilding, until_caught_up=until_caught_up) is step


def test_a_broken_connection_reconnects_before_anything_else_is_considered() -> None:
    step = after_failure(broken=True, transient=True, batch_size=10, attempt=9, attempts=3)
    assert step is AfterFailure.RECONNECT


def test_the_databases_passing_trouble_is_waited_out_without_bisecting_or_counting_attempts() -> None:
    step = after_failure(broken=False, transient=True, batch_size=10, attempt=9, attempts=3)
    assert step is AfterFailure.WAIT


def test_a_failed_batch_of_several_events_is_bisected_to_find_the_culprit() -> None:
    step = after_failure(broken=False, transient=False, batch_size=2, attempt=1, attempts=3)
    assert step is AfterFailure.BISECT


def test_one_failing_event_is_retried_until_its_attempts_run_out_then_stops_there() -> None:
    steps = [
        after_failure(broken=False, transient=False, batch_size=1, attempt=attempt, attempts=3)
        for attempt in (1, 2, 3)
    ]
    assert steps == [AfterFailure.RETRY, AfterFailure.RETRY, AfterFailure.STOP]
