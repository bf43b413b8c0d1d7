"""Test helpers for applications built on eventledger, and the conformance kit for backends.

- :func:`given` (:mod:`.scenarios`): write-side scenarios, an aggregate class or a decider,
  its past events, a command, and the events (or error) it must produce; a decider's at the
  time of a :class:`FixedClock` (from :mod:`eventledger.domain.clock`, here for convenience).
- :func:`projection_scenario` (:mod:`.projection_scenarios`): read-side scenarios through a
  real runner and target, delivering the new events twice.
- :func:`running_projections` (:mod:`.running_projections`): the projections a scenario needs,
  running in the background, with bounded waits for what an append wrote.
- :mod:`eventledger.testing.conformance`: the specification every event store and every
  read-model target must meet, as pytest test classes a third-party backend subclasses.

This package imports neither pytest nor hypothesis; only the conformance kit needs them
(``pip install 'eventledger[testing]'``).
"""

from eventledger.domain.clock import FixedClock
from eventledger.testing.projection_scenarios import ProjectionScenario, StreamEvent, projection_scenario
from eventledger.testing.running_projections import RunningProjections, running_projections
from eventledger.testing.scenarios import (
    DEFAULT_AGGREGATE_ID,
    AggregateScenario,
    DeciderScenario,
    ScenarioOutcome,
    given,
    side_by_side,
)

__all__ = [
    "DEFAULT_AGGREGATE_ID",
    "AggregateScenario",
    "DeciderScenario",
    "FixedClock",
    "ProjectionScenario",
    "RunningProjections",
    "ScenarioOutcome",
    "StreamEvent",
    "given",
    "projection_scenario",
    "running_projections",
    "side_by_side",
]
