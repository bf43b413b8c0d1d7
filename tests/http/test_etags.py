"""Entity tags from stream versions: ``W/"<version>"`` out, any tag of a version in, nothing else."""

from __future__ import annotations

import pytest

import eventledger as el
from eventledger.http import InvalidPrecondition, format_etag, parse_etag, parse_if_match


def test_a_version_becomes_a_weak_entity_tag() -> None:
    assert format_etag(3) == 'W/"3"'


def test_a_stream_with_no_events_has_the_tag_of_version_0() -> None:
    assert format_etag(0) == 'W/"0"'


@pytest.mark.parametrize("version", [-1, 2**63, True, 1.0, "3"])
def test_only_a_version_makes_an_entity_tag(version: object) -> None:
    with pytest.raises(el.InvalidArgument, match="stream version"):
        format_etag(version)  # type: ignore[arg-type]


@pytest.mark.parametrize("tag", ['W/"3"', '"3"', ' W/"3" '])
def test_a_weak_or_strong_tag_gives_its_version(tag: str) -> None:
    assert parse_etag(tag) == 3


def test_a_tag_parses_back_to_the_version_it_was_made_from() -> None:
    assert parse_etag(format_etag(2**63 - 2)) == 2**63 - 2


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("3", "not an entity tag"),
        ('W/"abc"', "not the entity tag of a version"),
        ('"-1"', "not the entity tag of a version"),
        ('"03"', "not the entity tag of a version"),
        ('"3.0"', "not the entity tag of a version"),
        ('""', "not the entity tag of a version"),
        ('w/"3"', "not an entity tag"),
        ('W/"3', "not an entity tag"),
        ('"\u0663"', "not the entity tag of a version"),
        (f'"{2**63 - 1}"', "beyond the largest"),
    ],
)
def test_a_value_not_a_versions_tag_is_refused_naming_header_and_value(value: str, reason: str) -> None:
    with pytest.raises(InvalidPrecondition, match=reason) as raised:
        parse_etag(value)

    assert (raised.value.header, raised.value.value) == ("If-Match", value)
    assert str(raised.value).startswith(f"If-Match {value!r}: ")


def test_a_refused_tag_is_a_caller_mistake() -> None:
    with pytest.raises(el.InvalidArgument):
        parse_etag("nonsense")


def test_a_very_long_refused_value_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidPrecondition) as raised:
        parse_etag("x" * 5000)

    assert "(5000 characters)" in str(raised.value)
    assert len(str(raised.value)) < 300
    assert raised.value.value == "x" * 5000


def test_no_if_match_header_expects_nothing() -> None:
    assert parse_if_match(None) is None


def test_if_match_with_a_tag_expects_its_version() -> None:
    assert parse_if_match('W/"7"') == 7


def test_if_match_star_expects_the_stream_to_exist() -> None:
    assert parse_if_match("*") is el.STREAM_EXISTS


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_if_match_is_refused(value: str) -> None:
    with pytest.raises(InvalidPrecondition, match="empty"):
        parse_if_match(value)


def test_an_if_match_with_several_tags_is_refused() -> None:
    with pytest.raises(InvalidPrecondition, match="several entity tags"):
        parse_if_match('W/"3", W/"4"')


def test_a_comma_inside_a_tag_does_not_split_it() -> None:
    with pytest.raises(InvalidPrecondition, match="not the entity tag of a version"):
        parse_if_match('"3,4"')
