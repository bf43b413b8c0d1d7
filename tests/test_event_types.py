"""Event type names: a namespace lets same-named classes of different modules coexist.

The stored name is the class name by default (so events stored before namespaces existed keep
their names); ``type_namespace=`` on a base class prefixes its subclasses' names with the
namespace and their enclosing classes; an explicit ``type_name=`` is used as given.
"""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

import eventledger as el
from eventledger.errors import DefinitionError, DuplicateEventType
from eventledger.events import event_types


def write_module(directory: Path, name: str, source: str) -> ModuleType:
    """Import ``source`` as the module ``name`` from ``directory`` (on sys.path for the test)."""
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    return importlib.import_module(name)


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory of the test's own modules, importable while the test runs."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_namespace_prefixes_the_type_names_of_the_subclasses() -> None:
    class ShopEvent(el.Event, type_namespace="test.types.shop"):
        pass

    class BasketEmptied(ShopEvent):
        pass

    assert BasketEmptied.__event_type__ == "test.types.shop.BasketEmptied"
    assert event_types.resolve("test.types.shop.BasketEmptied") is BasketEmptied


def test_nested_classes_in_a_namespace_are_named_with_their_enclosing_class() -> None:
    class WikiEvent(el.Event, type_namespace="test.types.wiki"):
        pass

    class Page:
        class Created(WikiEvent):
            title: str

    class Folder:
        class Created(WikiEvent):
            path: str

    assert (Page.Created.__event_type__, Folder.Created.__event_type__) == (
        "test.types.wiki.Page.Created",
        "test.types.wiki.Folder.Created",
    )
    assert event_types.resolve("test.types.wiki.Page.Created") is Page.Created
    assert event_types.resolve("test.types.wiki.Folder.Created") is Folder.Created


def test_classes_of_one_name_in_two_modules_coexist_under_their_namespaces(modules: Path) -> None:
    cargo = write_module(
        modules,
        "namespaced_cargo_events",
        """
        import eventledger as el

        class CargoEvent(el.Event, type_namespace="test.types.cargo"):
            pass

        class Cargo:
            class Created(CargoEvent):
                origin: str
        """,
    )
    wiki = write_module(
        modules,
        "namespaced_wiki_events",
        """
        import eventledger as el

        class WikiEvent(el.Event, type_namespace="test.types.content"):
            pass

        class Cargo:
            class Created(WikiEvent):
                title: str
        """,
    )
    assert event_types.resolve("test.types.cargo.Cargo.Created") is cargo.Cargo.Created
    assert event_types.resolve("test.types.content.Cargo.Created") is wiki.Cargo.Created


def test_a_subclass_inherits_the_namespace_and_may_declare_its_own() -> None:
    class BillingEvent(el.Event, type_namespace="test.types.billing"):
        pass

    class InvoiceEvent(BillingEvent):
        pass

    class InvoiceSent(InvoiceEvent):
        pass

    class RefundEvent(BillingEvent, type_namespace="test.types.refunds"):
        pass

    class RefundPaid(RefundEvent):
        pass

    assert InvoiceSent.__event_type__ == "test.types.billing.InvoiceSent"
    assert RefundPaid.__event_type__ == "test.types.refunds.RefundPaid"


def test_an_explicit_type_name_is_used_as_given_under_a_namespace() -> None:
    class MailEvent(el.Event, type_namespace="test.types.mail"):
        pass

    class MailSent(MailEvent, type_name="test.types.legacy-mail-sent"):
        pass

    assert MailSent.__event_type__ == "test.types.legacy-mail-sent"


def test_without_a_namespace_the_type_name_stays_the_class_name() -> None:
    class PlainEvent(el.Event):
        pass

    class TypesPlainHappened(PlainEvent):
        pass

    assert TypesPlainHappened.__event_type__ == "TypesPlainHappened"


@pytest.mark.parametrize("namespace", ["", "wiki.", " wiki"])
def test_a_namespace_must_be_a_non_empty_string_without_outer_dots_or_spaces(namespace: str) -> None:
    with pytest.raises(DefinitionError, match="type_namespace must be a non-empty string"):

        class Nameless(el.Event, type_namespace=namespace):
            pass


def test_a_duplicate_name_names_both_modules_and_suggests_a_namespace_or_a_type_name(
    modules: Path,
) -> None:
    write_module(
        modules,
        "duplicate_first_events",
        """
        import eventledger as el

        class TypesDuplicateCreated(el.Event):
            pass
        """,
    )
    with pytest.raises(DuplicateEventType) as raised:
        write_module(
            modules,
            "duplicate_second_events",
            """
            import eventledger as el

            class TypesDuplicateCreated(el.Event):
                pass
            """,
        )
    message = str(raised.value)
    assert "already registered by duplicate_first_events.TypesDuplicateCreated" in message
    assert "duplicate_second_events.TypesDuplicateCreated must choose another" in message
    assert "type_namespace='...'" in message
    assert "type_name='...'" in message


async def test_events_under_namespaced_names_are_stored_and_read_back_as_their_classes(
    tmp_path: Path,
) -> None:
    class LedgerEvent(el.Event, type_namespace="test.types.ledger"):
        amount: int

    class Account:
        class Credited(LedgerEvent):
            pass

    class Card:
        class Credited(LedgerEvent):
            pass

    async with el.open_store(f"sqlite:///{tmp_path / 'events.db'}") as store:
        await store.append(
            "account-1", [Account.Credited(amount=1), Card.Credited(amount=2)], expected_version=el.NO_STREAM
        )
        stored = [(recorded.type, recorded.event) async for recorded in store.read_stream("account-1")]
    assert stored == [
        ("test.types.ledger.Account.Credited", Account.Credited(amount=1)),
        ("test.types.ledger.Card.Credited", Card.Credited(amount=2)),
    ]
