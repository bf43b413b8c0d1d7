"""`eventledger streams`: stream ids with their versions and last event time, paged."""

from __future__ import annotations

from parcels import Invoke, append, registered, shipped


def test_lists_each_stream_with_its_version(invoke: Invoke, store_url: str) -> None:
    append(store_url, "parcel-1", registered("1"), shipped("1"))
    append(store_url, "parcel-2", registered("2"))

    result = invoke("streams")

    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("parcel-")]
    assert [(row[0], row[1]) for row in rows] == [("parcel-1", "2"), ("parcel-2", "1")]


def test_a_full_page_tells_how_to_get_the_next_one(invoke: Invoke, store_url: str) -> None:
    for number in range(1, 6):
        append(store_url, f"parcel-{number}", registered(str(number)))

    first = invoke("streams", "--limit", "2")
    second = invoke("streams", "--limit", "2", "--after", "parcel-2")

    assert "parcel-1" in first.stdout and "parcel-2" in first.stdout
    assert "parcel-3" not in first.stdout
    assert "--after 'parcel-2'" in first.stdout
    assert "parcel-3" in second.stdout and "parcel-4" in second.stdout
    assert "parcel-2" not in second.stdout.replace("--after 'parcel-4'", "")


def test_all_pages_lists_every_stream(invoke: Invoke, store_url: str) -> None:
    for number in range(1, 6):
        append(store_url, f"parcel-{number}", registered(str(number)))

    result = invoke("streams", "--limit", "2", "--all")

    assert result.exit_code == 0, result.output
    assert all(f"parcel-{number}" in result.stdout for number in range(1, 6))
    assert "--after" not in result.stdout


def test_an_empty_store_says_so(invoke: Invoke) -> None:
    result = invoke("streams")

    assert result.exit_code == 0, result.output
    assert "no streams" in result.stdout


def test_the_url_can_come_from_the_environment(invoke: Invoke, store_url: str) -> None:
    append(store_url, "parcel-1", registered("1"))

    result = invoke("streams", url=None, env={"EVENTLEDGER_URL": store_url})

    assert result.exit_code == 0, result.output
    assert "parcel-1" in result.stdout
