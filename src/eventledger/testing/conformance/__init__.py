"""The conformance kit: the specification every event store and read-model target must meet.

It is an importable pytest suite. A backend (this project's memory, SQLite and PostgreSQL
stores and targets, or a third party's) runs it by subclassing a test class and providing one
fixture that opens its implementation on a fresh database::

    import pytest
    from eventledger.testing.conformance import StoreConformance, StoreUnderTest

    class MyDatabase(StoreUnderTest):
        async def open(self) -> EventStore:
            return await MyStore.connect(...)

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store_under_test(self) -> StoreUnderTest:
            return MyDatabase()

The same for a read-model target: subclass :class:`TargetConformance` and provide a
``target_under_test`` fixture (:class:`SQLTargetUnderTest` for a target whose handlers write
through an :class:`~eventledger.projections.SQLTransaction`; :class:`DocumentTargetUnderTest`
for the same target holding document read models).

- :class:`StoreConformance`: appending, multi-stream appends (also racing on several
  connections), reading, subscribing, refusals, immutability, snapshots, what is accepted,
  and the round-trip property (hypothesis). Each part is a class
  of its own too (:class:`AppendSpecification`, ...).
- :class:`RawStoreConformance`: all of that, plus the specifications that write behind the
  store's back (rows that no longer decode, every SQL rewrite of a stored event); the
  ``store_under_test`` object also implements :class:`RawAccess`.
- :class:`TargetConformance`: exactly once, the checkpoint's compare-and-set, a failed batch
  leaving nothing, rebuilds and the blue/green switch, through the public
  Projection / Target / ProjectionRunner API.

Needs pytest, pytest-asyncio and hypothesis: ``pip install 'eventledger[testing]'``.
"""

import pytest

# The kit's asserts are in these modules, not in the test modules that pytest rewrites on its
# own: register them (before importing them) so that a failing specification shows the values
# it compared.
pytest.register_assert_rewrite(
    *(
        f"eventledger.testing.conformance.{module}"
        for module in (
            "accepted",
            "appending",
            "immutability",
            "multi_stream",
            "multi_stream_races",
            "reading",
            "refusals",
            "round_trip",
            "snapshots",
            "subscribing",
            "targets",
        )
    )
)

from eventledger.testing.conformance.accepted import AcceptedSpecification  # noqa: E402
from eventledger.testing.conformance.appending import AppendSpecification  # noqa: E402
from eventledger.testing.conformance.immutability import ImmutabilitySpecification  # noqa: E402
from eventledger.testing.conformance.multi_stream import MultiStreamAppendSpecification  # noqa: E402
from eventledger.testing.conformance.multi_stream_races import MultiStreamRaceSpecification  # noqa: E402
from eventledger.testing.conformance.reading import ReadSpecification  # noqa: E402
from eventledger.testing.conformance.refusals import (  # noqa: E402
    CallerMistakeSpecification,
    StoredDataSpecification,
)
from eventledger.testing.conformance.round_trip import RoundTripProperty  # noqa: E402
from eventledger.testing.conformance.snapshots import SnapshotSpecification  # noqa: E402
from eventledger.testing.conformance.store import RawStoreConformance, StoreConformance  # noqa: E402
from eventledger.testing.conformance.subjects import (  # noqa: E402
    REWRITES,
    OpenedStores,
    RawAccess,
    StoreUnderTest,
)
from eventledger.testing.conformance.subscribing import SubscribeSpecification  # noqa: E402
from eventledger.testing.conformance.target_subjects import (  # noqa: E402
    DocumentTargetUnderTest,
    MemoryTargetUnderTest,
    OpenedTargets,
    ReadableSQLTarget,
    SQLTargetUnderTest,
    TargetUnderTest,
    Totals,
)
from eventledger.testing.conformance.targets import TargetConformance  # noqa: E402

__all__ = [
    "REWRITES",
    "AcceptedSpecification",
    "AppendSpecification",
    "CallerMistakeSpecification",
    "DocumentTargetUnderTest",
    "ImmutabilitySpecification",
    "MemoryTargetUnderTest",
    "MultiStreamAppendSpecification",
    "MultiStreamRaceSpecification",
    "OpenedStores",
    "OpenedTargets",
    "RawAccess",
    "RawStoreConformance",
    "ReadSpecification",
    "ReadableSQLTarget",
    "RoundTripProperty",
    "SQLTargetUnderTest",
    "SnapshotSpecification",
    "StoreConformance",
    "StoreUnderTest",
    "StoredDataSpecification",
    "SubscribeSpecification",
    "TargetConformance",
    "TargetUnderTest",
    "Totals",
]
