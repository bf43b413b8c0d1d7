"""Operator requests: retry, skip or rebuild asked for from another process, carried out by the runner.

``eventledger projections retry|skip|rebuild NAME`` (and the operator console) cannot reach a
runner's memory, so they write an :class:`OperatorRequest` into the target's bookkeeping
(``{prefix}projection_requests``, beside the checkpoints and reports). The runner holding the
projection's lease looks there at every lease heartbeat (every ``LeasePolicy.renew_every``
seconds, 2 by default), carries the request out the way ``ProjectionRunner.retry``,
``skip_failed_event`` and ``rebuild`` do in its own process, and records the outcome in the same
row, where the requester reads it.

A retry or skip names the position of the failed event the operator saw, so a request that
arrives late never skips another event: when the projection has meanwhile moved past that
position the request is answered ``refused``; while the runner has not (yet) stopped at it
(it is still retrying the event, say) the request stays pending.

>>> request = OperatorRequest.new("order-list", RequestedAction.SKIP, position=42, by="cli@host")
>>> request.state
<RequestState.PENDING: 'pending'>
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from eventledger.projections.reports import moment
from eventledger.projections.sql import Row


class RequestedAction(StrEnum):
    """What an operator asks the runner to do."""

    RETRY = "retry"
    """Try the event the projection stopped at again (after fixing the cause)."""
    SKIP = "skip"
    """Move past the event the projection stopped at, recording it in the dead letters."""
    REBUILD = "rebuild"
    """Build the read model again from the start, beside the serving build (blue/green)."""


class RequestState(StrEnum):
    """Where a request is in its life."""

    PENDING = "pending"
    """Written, not yet carried out by a runner."""
    DONE = "done"
    """Carried out (``outcome`` says what happened)."""
    REFUSED = "refused"
    """Not carried out (``outcome`` says why: the projection moved past the event, say)."""


@dataclass(frozen=True, slots=True)
class OperatorRequest:
    """One request of an operator to the runner of a projection, and its outcome."""

    id: str
    projection: str
    action: RequestedAction
    position: int | None
    """The failed event's position (retry, skip); None for a rebuild."""
    requested_by: str
    requested_at: datetime
    state: RequestState = RequestState.PENDING
    outcome: str | None = None
    """What the runner did, or why it refused (None while pending)."""
    answered_by: str | None = None
    """The runner that answered."""
    answered_at: datetime | None = None

    @classmethod
    def new(
        cls, projection: str, action: RequestedAction, *, position: int | None = None, by: str | None = None
    ) -> OperatorRequest:
        """A pending request with a fresh id, made now (``by`` defaults to this host)."""
        return cls(
            id=uuid.uuid4().hex,
            projection=projection,
            action=action,
            position=position,
            requested_by=by or f"{socket.gethostname()}",
            requested_at=datetime.now(UTC),
        )

    def answered(self, state: RequestState, outcome: str, by: str) -> OperatorRequest:
        """This request as answered by runner ``by``."""
        return replace(self, state=state, outcome=outcome, answered_by=by, answered_at=datetime.now(UTC))

    def describe(self) -> str:
        """One line: what was asked, and what came of it."""
        asked = f"{self.action.value} {self.projection}" + (
            "" if self.position is None else f" at position {self.position}"
        )
        if self.state is RequestState.PENDING:
            return f"{asked}: pending"
        return f"{asked}: {self.state.value} by {self.answered_by}: {self.outcome}"


REQUEST_COLUMNS = (
    "id, projection, action, position, requested_by, requested_at, state, outcome, answered_by, answered_at"
)
"""The columns of ``{prefix}projection_requests``, in the order of :func:`encode_request`."""


def encode_request(request: OperatorRequest) -> tuple[Any, ...]:
    """The request's column values, in the order of :data:`REQUEST_COLUMNS`."""
    return (
        request.id,
        request.projection,
        request.action.value,
        request.position,
        request.requested_by,
        request.requested_at,
        request.state.value,
        request.outcome,
        request.answered_by,
        request.answered_at,
    )


def decode_request(row: Row) -> OperatorRequest:
    """A request from its row (as :func:`encode_request` wrote it)."""
    ident, projection, action, position, by, at, state, outcome, answered_by, answered_at = row
    return OperatorRequest(
        id=str(ident),
        projection=str(projection),
        action=RequestedAction(action),
        position=None if position is None else int(position),
        requested_by=str(by),
        requested_at=moment(at),
        state=RequestState(state),
        outcome=None if outcome is None else str(outcome),
        answered_by=None if answered_by is None else str(answered_by),
        answered_at=None if answered_at is None else moment(answered_at),
    )
