"""Effects outside any transaction: delivered at least once, with the event id as idempotency key."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest
from projection_rig import Deposited, Faults, deposit_many

import eventledger as el
from eventledger.errors import ProjectionStateError
from eventledger.projections import (
    AtLeastOnceTarget,
    MemoryTarget,
    Projection,
    ProjectionRetryPolicy,
    SQLiteTarget,
    handles,
)

FAST = ProjectionRetryPolicy(attempts=3, first_delay=0.001, max_delay=0.002)


class Mailer:
    """A stand-in for another service: it records every call, and what an idempotent receiver keeps."""

    def __init__(self) -> None:
        self.calls: list[UUID] = []
        self.delivered: dict[UUID, int] = {}

    async def send(self, amount: int, idempotency_key: UUID) -> None:
        self.calls.append(idempotency_key)
        self.delivered.setdefault(idempotency_key, amount)


class Receipts(Projection[Mailer], name="receipts"):
    def __init__(self, target: AtLeastOnceTarget[Mailer], faults: Faults | None = None) -> None:
        super().__init__(target)
        self.faults = faults or Faults()

    @handles
    async def deposited(self, event: Deposited, recorded: el.RecordedEvent, mailer: Mailer) -> None:
        await mailer.send(event.amount, idempotency_key=recorded.event_id)
        self.faults.check(event.amount)  # a failure *after* the effect: the retry repeats it


async def deposit_ids(store: el.EventStore) -> list[UUID]:
    return [r.event_id async for r in store.read_all() if isinstance(r.event, Deposited)]


async def test_each_event_reaches_the_client_with_its_event_id_as_the_key(tmp_path: Path) -> None:
    mailer = Mailer()
    async with el.open_store("memory://") as store:
        await deposit_many(store, 12)
        target = AtLeastOnceTarget(mailer, bookkeeping=SQLiteTarget(tmp_path / "mails.db"))
        await el.ProjectionRunner(store, [Receipts(target)], batch_size=1).run_until_caught_up()
        assert mailer.calls == await deposit_ids(store)


async def test_a_retried_event_is_delivered_again_and_an_idempotent_receiver_keeps_it_once() -> None:
    mailer = Mailer()
    faults = Faults()
    faults.refuse(3, times=2)
    async with el.open_store("memory://") as store:
        await deposit_many(store, 5)
        target = AtLeastOnceTarget(mailer, bookkeeping=MemoryTarget())
        await el.ProjectionRunner(
            store, [Receipts(target, faults)], batch_size=1, retry=FAST
        ).run_until_caught_up()
        ids = await deposit_ids(store)
        assert len(mailer.calls) == len(ids) + 2  # at least once: amount 3 went out three times
        assert list(mailer.delivered) == ids


async def test_the_checkpoint_survives_so_a_restart_does_not_deliver_again(tmp_path: Path) -> None:
    mailer = Mailer()
    async with el.open_store(f"sqlite:///{tmp_path / 'events.db'}") as store:
        await deposit_many(store, 6)
        bookkeeping = tmp_path / "mails.db"
        await el.ProjectionRunner(
            store, [Receipts(AtLeastOnceTarget(mailer, bookkeeping=SQLiteTarget(bookkeeping)))]
        ).run_until_caught_up()
        await deposit_many(store, 4, start=50)
        await el.ProjectionRunner(
            store, [Receipts(AtLeastOnceTarget(mailer, bookkeeping=SQLiteTarget(bookkeeping)))]
        ).run_until_caught_up()
        assert mailer.calls == await deposit_ids(store)


async def test_starting_at_the_end_skips_the_history() -> None:
    mailer = Mailer()
    async with el.open_store("memory://") as store:
        await deposit_many(store, 8)
        target = AtLeastOnceTarget(mailer, bookkeeping=MemoryTarget(), start="end")
        runner = el.ProjectionRunner(store, [Receipts(target)])
        await runner.run_until_caught_up()
        assert mailer.calls == []
        await deposit_many(store, 2, start=100)
        await runner.run_until_caught_up()
        assert mailer.calls == (await deposit_ids(store))[-2:]


async def test_a_projection_with_effects_cannot_be_rebuilt() -> None:
    async with el.open_store("memory://") as store:
        target = AtLeastOnceTarget(Mailer(), bookkeeping=MemoryTarget())
        runner = el.ProjectionRunner(store, [Receipts(target)])
        with pytest.raises(ProjectionStateError, match="cannot be rebuilt"):
            await runner.rebuild("receipts")


async def test_a_new_version_continues_from_the_old_versions_checkpoint_without_replaying() -> None:
    class ReceiptsV2(Receipts, name="receipts", version=2):
        pass

    mailer = Mailer()
    bookkeeping = MemoryTarget()
    async with el.open_store("memory://") as store:
        await deposit_many(store, 5)
        await el.ProjectionRunner(
            store, [Receipts(AtLeastOnceTarget(mailer, bookkeeping=bookkeeping))]
        ).run_until_caught_up()
        await deposit_many(store, 3, start=100)
        await el.ProjectionRunner(
            store, [ReceiptsV2(AtLeastOnceTarget(mailer, bookkeeping=bookkeeping))]
        ).run_until_caught_up()
        assert mailer.calls == await deposit_ids(store)
        active = bookkeeping.active_build("receipts")
        assert active is not None and active.version == 2


def test_start_must_be_beginning_or_end() -> None:
    with pytest.raises(ValueError, match="start must be 'beginning' or 'end'"):
        AtLeastOnceTarget(Mailer(), bookkeeping=MemoryTarget(), start="middle")  # type: ignore[arg-type]
