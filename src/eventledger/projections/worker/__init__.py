"""One projection's life inside a runner, in parts with one job each, composed by :class:`ProjectionWorker`.

- :mod:`.machine`: the decisions, pure and typed (phase, state, the step after a read or a
  failed batch, an operator's decision); tested without a database.
- :mod:`.lease_keeper`: take the lease (standby while another runner holds it), heartbeat.
- :mod:`.builds`: the build life cycle: prepare, blue/green switch, retire, drop, rebuild.
- :mod:`.reader`: the next batch of a build: catch-up, live, up to an undecodable event.
- :mod:`.applier`: one batch in one target transaction; retries, bisection, the failing event.
- :mod:`.decisions`: failed attempts, a build stopped at an event, an operator's retry or skip.
- :mod:`.state`: the phase and state, the latest error, progress, held-back stalls.
- :mod:`.reporting`: the status a runner answers with, the reports other processes read.
- :mod:`.runs`, :mod:`.line`, :mod:`.stopping`: the builds being applied, the one target
  connection and its lock, stopping between batches.
- :mod:`.worker`: :class:`ProjectionWorker`, which wires them and drives the loops.
"""

from eventledger.projections.worker.machine import Decision
from eventledger.projections.worker.runs import BuildRun
from eventledger.projections.worker.worker import ProjectionWorker

__all__ = ["BuildRun", "Decision", "ProjectionWorker"]
