"""Aggregates shaped like real models: required fields, shared handlers and typed ids.

Fields without a default are set by the event that creates the aggregate; several handlers may
apply one event (a shared ``modified_by`` beside each event's own change); ids may be UUIDs (or
any type whose text is canonical) and the stream is the id's text.
"""

from __future__ import annotations

from typing import Generic, NewType, TypeVar
from uuid import UUID

import pytest

import eventledger as el
from eventledger.domain import UnitOfWork
from eventledger.testing import given

PAGE_ID = UUID("6f1c1a52-5b7e-4c1e-9a57-0d6f3f3c2a10")
OTHER_PAGE_ID = UUID("0b0e6d1e-2f0c-4a53-8a1c-7f1f6c9b8e21")


class PageEvent(el.Event, type_namespace="test.real-models"):
    user: str


class PageCreated(PageEvent):
    title: str


class PageRenamed(PageEvent):
    title: str


class PageUntitled(PageEvent):
    """A malformed creating event: its handler leaves the title unset."""


class Page(el.Aggregate[UUID]):
    title: str
    created_by: str
    modified_by: str = ""
    revisions: int = 0

    @classmethod
    def create(cls, page_id: UUID, title: str, user: str) -> Page:
        page = cls.new(page_id)
        page.record(PageCreated(title=title, user=user))
        return page

    def rename(self, title: str, user: str) -> None:
        self.record(PageRenamed(title=title, user=user))

    @el.applies
    def _modified(self, event: PageCreated | PageRenamed | PageUntitled) -> None:
        self.modified_by = event.user
        self.revisions += 1

    @el.applies
    def _created(self, event: PageCreated) -> None:
        self.title = event.title
        self.created_by = event.user

    @el.applies
    def _renamed(self, event: PageRenamed) -> None:
        self.title = event.title

    @el.applies
    def _untitled(self, event: PageUntitled) -> None:
        self.created_by = event.user


def test_fields_without_defaults_are_set_by_the_event_that_creates_the_aggregate() -> None:
    page = Page.create(PAGE_ID, "Home", "ada")
    assert (page.title, page.created_by, page.modified_by, page.version) == ("Home", "ada", "ada", 1)


def test_a_history_rebuilds_an_aggregate_with_fields_without_defaults() -> None:
    history = [PageCreated(title="Home", user="ada"), PageRenamed(title="Start", user="bo")]
    page = Page.from_history(PAGE_ID, history)
    assert (page.title, page.created_by, page.modified_by, page.revisions) == ("Start", "ada", "bo", 2)


def test_a_field_the_creating_event_leaves_unset_raises_naming_aggregate_field_and_event() -> None:
    page = Page.new(PAGE_ID)
    with pytest.raises(el.errors.DefinitionError) as raised:
        page.record(PageUntitled(user="ada"))
    assert "Page.title is still unset" in str(raised.value)
    assert "PageUntitled ('test.real-models.PageUntitled')" in str(raised.value)
    assert (page.version, page.uncommitted_events) == (0, ())


def test_a_stored_history_whose_first_event_leaves_a_field_unset_raises_on_replay() -> None:
    with pytest.raises(el.errors.DefinitionError, match=r"Page\.title is still unset"):
        Page.from_history(PAGE_ID, [PageUntitled(user="ada")])


def test_several_handlers_of_one_event_run_in_declaration_order() -> None:
    calls: list[str] = []

    class Traced(el.Aggregate):
        @el.applies
        def _first(self, event: PageCreated | PageRenamed) -> None:
            calls.append(f"first {type(event).__name__}")

        @el.applies
        def _second(self, event: PageCreated) -> None:
            calls.append(f"second {type(event).__name__}")

    Traced.from_history("t", [PageCreated(title="a", user="u"), PageRenamed(title="b", user="u")])
    assert calls == ["first PageCreated", "second PageCreated", "first PageRenamed"]


def test_handlers_of_a_base_aggregate_class_run_before_the_subclass_handlers() -> None:
    class Audited(el.Aggregate):
        trail: list[str] = []

        @el.applies
        def _audited(self, event: PageCreated) -> None:
            self.trail.append(f"audit {event.user}")

    class AuditedPage(Audited):
        @el.applies
        def _created(self, event: PageCreated) -> None:
            self.trail.append(f"create {event.title}")

    page = AuditedPage.from_history("p", [PageCreated(title="Home", user="ada")])
    assert page.trail == ["audit ada", "create Home"]


def test_a_uuid_id_is_kept_typed_and_its_text_is_the_stream_id() -> None:
    page = Page.create(PAGE_ID, "Home", "ada")
    assert (page.id, page.stream_id) == (PAGE_ID, str(PAGE_ID))
    assert Page.stream_id_for(PAGE_ID) == str(PAGE_ID)


def test_a_typed_id_may_be_given_as_its_canonical_text() -> None:
    assert Page.new(str(PAGE_ID)).id == PAGE_ID  # type: ignore[arg-type]


def test_an_id_that_is_not_of_the_declared_type_is_refused_naming_the_type() -> None:
    with pytest.raises(el.InvalidArgument, match=r"Page: aggregate id must be a non-empty UUID .*'page-1'"):
        Page.new("page-1")  # type: ignore[arg-type]
    with pytest.raises(el.InvalidArgument, match="must be a non-empty UUID"):
        Page.new(42)  # type: ignore[arg-type]


CargoId = NewType("CargoId", UUID)


class Cargo(el.Aggregate[CargoId]):
    destination: str = ""


class Shelf(el.Aggregate[int]):
    pass


def test_an_id_type_may_be_a_new_type_or_an_int() -> None:
    cargo = Cargo.new(CargoId(PAGE_ID))
    assert (cargo.id, cargo.stream_id) == (PAGE_ID, str(PAGE_ID))
    assert (Shelf.new(42).id, Shelf.new(42).stream_id) == (42, "42")


Identifier = TypeVar("Identifier")


class Audited(el.Aggregate[Identifier], Generic[Identifier]):
    modified_by: str = ""


class Invoice(Audited[UUID]):
    pass


def test_a_generic_base_aggregate_passes_the_id_type_its_subclass_names() -> None:
    invoice = Invoice.new(PAGE_ID)
    assert (invoice.id, invoice.stream_id) == (PAGE_ID, str(PAGE_ID))
    with pytest.raises(el.InvalidArgument, match="must be a non-empty UUID"):
        Invoice.new("invoice-1")  # type: ignore[arg-type]


def test_an_id_type_without_a_canonical_text_is_refused_at_class_definition() -> None:
    with pytest.raises(el.errors.DefinitionError, match="aggregate id type must be a class"):

        class Muddled(el.Aggregate[str | int]):
            pass


async def test_a_repository_saves_and_loads_an_aggregate_by_its_uuid(store: el.EventStore) -> None:
    pages = el.Repository(store, Page)
    await pages.save(Page.create(PAGE_ID, "Home", "ada"))
    loaded = await pages.load(PAGE_ID)
    assert (loaded.id, loaded.title, loaded.created_by, loaded.version) == (PAGE_ID, "Home", "ada", 1)
    assert [recorded.event async for recorded in store.read_stream(str(PAGE_ID))] == [
        PageCreated(title="Home", user="ada")
    ]


async def test_a_repository_updates_an_aggregate_by_its_uuid_at_an_expected_version(
    store: el.EventStore,
) -> None:
    pages = el.Repository(store, Page)
    await pages.save(Page.create(PAGE_ID, "Home", "ada"))
    page = await pages.update(PAGE_ID, lambda page: page.rename("Start", "bo"), expected_version=1)
    assert (page.title, page.modified_by, page.version) == ("Start", "bo", 2)
    with pytest.raises(el.ConcurrencyError) as raised:
        await pages.update(PAGE_ID, lambda page: page.rename("Again", "cy"), expected_version=1)
    assert raised.value.stream_id == str(PAGE_ID)


async def test_a_missing_aggregate_is_reported_by_its_stream_id(store: el.EventStore) -> None:
    with pytest.raises(el.AggregateNotFound, match=str(PAGE_ID)):
        await el.Repository(store, Page).load(PAGE_ID)


async def test_a_snapshot_restores_required_fields_and_the_typed_id(store: el.EventStore) -> None:
    pages = el.Repository(store, Page, snapshot_every=2)
    page = Page.create(PAGE_ID, "Home", "ada")
    page.rename("Start", "bo")
    await pages.save(page)
    loaded = await pages.load(PAGE_ID)
    assert pages.statistics.snapshots_used == 1
    assert (loaded.id, loaded.title, loaded.created_by, loaded.version) == (PAGE_ID, "Start", "ada", 2)
    assert loaded == page


async def test_a_past_version_of_a_uuid_aggregate_loads_by_its_id(store: el.EventStore) -> None:
    pages = el.Repository(store, Page)
    page = Page.create(PAGE_ID, "Home", "ada")
    page.rename("Start", "bo")
    await pages.save(page)
    assert (await pages.load(PAGE_ID, version=1)).title == "Home"


async def test_a_unit_of_work_loads_and_commits_aggregates_by_their_uuids(store: el.EventStore) -> None:
    pages = el.Repository(store, Page)
    await pages.save(Page.create(PAGE_ID, "Home", "ada"))

    async def rename_and_create(work: UnitOfWork) -> None:
        page = await work.load(pages, PAGE_ID, expected_version=1)
        assert page is await work.load(pages, PAGE_ID)
        page.rename("Start", "bo")
        work.add(pages, Page.create(OTHER_PAGE_ID, "About", "bo"))

    await UnitOfWork.run(store, rename_and_create)
    assert (await pages.load(PAGE_ID)).title == "Start"
    assert (await pages.load(OTHER_PAGE_ID)).created_by == "bo"


def test_given_when_then_runs_on_an_aggregate_with_required_fields() -> None:
    renamed = (
        given(Page, PageCreated(title="Home", user="ada"), aggregate_id=str(PAGE_ID))
        .when(lambda page: page.rename("Start", "bo"))
        .then(PageRenamed(title="Start", user="bo"))
    )
    assert (renamed.title, renamed.created_by, renamed.modified_by) == ("Start", "ada", "bo")


def test_given_when_then_checks_the_creating_event_of_an_aggregate_with_required_fields() -> None:
    created = (
        given(Page, aggregate_id=str(PAGE_ID))
        .when(lambda _: Page.create(PAGE_ID, "Home", "ada"))
        .then(PageCreated(title="Home", user="ada"))
    )
    assert (created.id, created.title) == (PAGE_ID, "Home")
