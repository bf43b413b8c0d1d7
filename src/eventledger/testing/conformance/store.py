"""The whole event-store specification in one class, for a backend to subclass.

Each part is also a class of its own (``AppendSpecification``, ``ReadSpecification``, ...),
so a backend can run a part, or a part at a time while it is being written.
"""

from __future__ import annotations

from eventledger.testing.conformance.accepted import AcceptedSpecification
from eventledger.testing.conformance.appending import AppendSpecification
from eventledger.testing.conformance.immutability import ImmutabilitySpecification
from eventledger.testing.conformance.multi_stream import MultiStreamAppendSpecification
from eventledger.testing.conformance.multi_stream_races import MultiStreamRaceSpecification
from eventledger.testing.conformance.reading import ReadSpecification
from eventledger.testing.conformance.refusals import CallerMistakeSpecification, StoredDataSpecification
from eventledger.testing.conformance.round_trip import RoundTripProperty
from eventledger.testing.conformance.snapshots import SnapshotSpecification
from eventledger.testing.conformance.subscribing import SubscribeSpecification


class StoreConformance(
    AppendSpecification,
    MultiStreamAppendSpecification,
    MultiStreamRaceSpecification,
    ReadSpecification,
    SubscribeSpecification,
    CallerMistakeSpecification,
    SnapshotSpecification,
    AcceptedSpecification,
    RoundTripProperty,
):
    """Everything an :class:`~eventledger.EventStore` must do, through its public API.

    Subclass it as ``Test...`` and provide a ``store_under_test`` fixture returning a
    :class:`~eventledger.testing.conformance.StoreUnderTest` on a fresh database.
    """


class RawStoreConformance(StoreConformance, StoredDataSpecification, ImmutabilitySpecification):
    """:class:`StoreConformance` plus what needs the database itself: stored rows another program
    wrote that no longer decode, and every way a program's SQL could change a stored event.

    The ``store_under_test`` must also implement
    :class:`~eventledger.testing.conformance.RawAccess`, and the class must list its database's
    ``rewrite_forms``. Every store whose rows another program can reach should run this one.
    """
