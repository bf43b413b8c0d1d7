"""`eventledger show STREAM`: one stream's events."""

from __future__ import annotations

import json
from pathlib import Path

from parcels import Invoke, append, insert_row_of_unknown_type, one_line_error, registered, shipped


def test_shows_each_event_with_version_position_type_and_data(invoke: Invoke, store_url: str) -> None:
    append(store_url, "parcel-1", registered("1", weight_grams=1250))
    append(store_url, "parcel-2", registered("2"))
    append(store_url, "parcel-1", shipped("1", carrier="courier"))

    result = invoke("show", "parcel-1")

    assert result.exit_code == 0, result.output
    lines = [line.split(maxsplit=3) for line in result.stdout.splitlines() if "cli-test." in line]
    assert [(line[0], line[1], line[2]) for line in lines] == [
        ("1", "1", "cli-test.ParcelRegistered"),
        ("2", "3", "cli-test.ParcelShipped"),
    ]
    assert '"weight_grams":1250' in result.stdout
    assert '"carrier":"courier"' in result.stdout


def test_json_output_is_one_object_per_event(invoke: Invoke, store_url: str) -> None:
    append(store_url, "parcel-1", registered("1"), shipped("1"), metadata={"correlation_id": "c-7"})

    result = invoke("show", "parcel-1", "--json")

    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(event["version"], event["type"]) for event in events] == [
        (1, "cli-test.ParcelRegistered"),
        (2, "cli-test.ParcelShipped"),
    ]
    assert events[1]["data"] == {"parcel_id": "1", "carrier": "post"}
    assert events[0]["metadata"] == {"correlation_id": "c-7"}


def test_from_version_and_limit_choose_a_slice(invoke: Invoke, store_url: str) -> None:
    append(store_url, "parcel-1", *[registered("1", weight_grams=grams) for grams in range(1, 6)])

    result = invoke("show", "parcel-1", "--from-version", "2", "--limit", "2", "--json")

    assert [json.loads(line)["version"] for line in result.stdout.splitlines()] == [2, 3]


def test_an_unknown_stream_is_one_clear_error(invoke: Invoke, store_url: str) -> None:
    append(store_url, "parcel-1", registered("1"))

    result = invoke("show", "parcel-404")

    assert result.exit_code == 1
    assert one_line_error(result) == "error: stream 'parcel-404' not found: it has no events"


def test_an_event_type_no_class_claims_names_the_type_and_how_to_load_it(
    invoke: Invoke, store_url: str, store_path: Path
) -> None:
    append(store_url, "parcel-1", registered("1"))
    insert_row_of_unknown_type(store_path, "parcel-1", "cli-test.ParcelLost")

    result = invoke("show", "parcel-1")

    line = one_line_error(result)
    assert "'cli-test.ParcelLost'" in line
    assert "position 2" in line
    assert "--import" in line


def test_import_loads_the_modules_that_define_the_events(invoke: Invoke, store_url: str) -> None:
    append(store_url, "parcel-1", registered("1"))

    result = invoke("--import", "json", "show", "parcel-1")

    assert result.exit_code == 0, result.output
    assert "cli-test.ParcelRegistered" in result.stdout
