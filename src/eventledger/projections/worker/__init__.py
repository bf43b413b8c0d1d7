"""One projection's life inside a runner, in parts by job.

- :mod:`.base`: the worker's state and the plumbing its parts share (stopping, waiting, listeners).
- :mod:`.state`: the state it is in, its status, and its reports to other processes.
- :mod:`.applying`: reading the log and applying it, retries, the failing event, decisions.
- :mod:`.core`: :class:`ProjectionWorker`: the lease, the builds, running and handing over.
"""

from eventledger.projections.worker.base import BuildRun
from eventledger.projections.worker.core import ProjectionWorker

__all__ = ["BuildRun", "ProjectionWorker"]
