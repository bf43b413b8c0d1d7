"""The transfer process manager: a reactor that takes each transfer through its steps.

1. ``TransferRequested``: the source account pays. Its debit and the transfer's ``TransferDebited``
   are one reaction, so they are written together: the money leaves the account and is counted
   in flight in one commit. If the source cannot pay, ``TransferRejected`` (nothing moved).
2. ``TransferDebited``: the target account is credited, and ``TransferCompleted`` written with it.
   If the target cannot take it (closed, or over its limit), the compensation: the source is
   refunded, and ``TransferRefunded`` written with it.

Each step happens exactly once (the reactor's checkpoint commits with the step's events). Every
decision rests on an account loaded from the store, so the reaction names the version it was
loaded at: with the account's events, or, when the decision writes nothing to the account (a
rejection, a refused credit), with an empty emit, a version check alone. An account that
changed meanwhile (another transfer's step in the same batch, a client closing it) fails the
reaction, and the step is decided again on fresh state. The transfer's own events follow the
event that caused them exactly (``expected_version=recorded.version``). The refund is emitted
with ``ANY``: giving money back does not depend on the source account's state.
"""

from __future__ import annotations

import eventledger as el
from eventledger.projections import Emit, Reactor, handles
from examples.transfer.domain import (
    Account,
    AccountRefunded,
    TransferCompleted,
    TransferDebited,
    TransferRefunded,
    TransferRejected,
    TransferRequested,
    account_stream,
    transfer_stream,
)


class TransferProcess(Reactor, name="transfer-process"):
    """Debits the source, credits the target, refunds the source when the credit is refused."""

    def __init__(self, store: el.EventStore) -> None:
        super().__init__(store)
        self.accounts = el.Repository(store, Account)

    @handles
    async def requested(self, event: TransferRequested, recorded: el.RecordedEvent, emit: Emit) -> None:
        """Step 1: the source pays, or the transfer is rejected."""
        transfer = transfer_stream(event.transfer_id)
        source = await self.accounts.load(account_stream(event.source))
        try:
            source.debit(event.transfer_id, event.amount)
        except el.DomainError as refusal:
            emit(source.id, [], expected_version=source.committed_version)  # refused on this state
            rejected = TransferRejected(transfer_id=event.transfer_id, reason=str(refusal))
            emit(transfer, [rejected], expected_version=recorded.version)
            return
        emit(source.id, source.uncommitted_events, expected_version=source.committed_version)
        debited = TransferDebited(
            transfer_id=event.transfer_id, source=event.source, target=event.target, amount=event.amount
        )
        emit(transfer, [debited], expected_version=recorded.version)

    @handles
    async def debited(self, event: TransferDebited, recorded: el.RecordedEvent, emit: Emit) -> None:
        """Step 2: the target takes the money, or the source gets it back."""
        transfer = transfer_stream(event.transfer_id)
        target = await self.accounts.load(account_stream(event.target))
        try:
            target.credit(event.transfer_id, event.amount)
        except el.DomainError as refusal:
            emit(target.id, [], expected_version=target.committed_version)  # refused on this state
            refund = AccountRefunded(
                account_id=event.source, transfer_id=event.transfer_id, amount=event.amount
            )
            emit(account_stream(event.source), [refund], expected_version=el.ANY)
            emit(
                transfer,
                [TransferRefunded(transfer_id=event.transfer_id, reason=str(refusal))],
                expected_version=recorded.version,
            )
            return
        emit(target.id, target.uncommitted_events, expected_version=target.committed_version)
        emit(transfer, [TransferCompleted(transfer_id=event.transfer_id)], expected_version=recorded.version)
