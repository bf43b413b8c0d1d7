"""`eventledger tail`: the global log, followed live."""

from __future__ import annotations

import json
import threading
import time

from parcels import Invoke, append, registered, shipped


def test_from_start_prints_the_log_in_position_order(invoke: Invoke, store_url: str) -> None:
    append(store_url, "parcel-1", registered("1"))
    append(store_url, "parcel-2", registered("2"))
    append(store_url, "parcel-1", shipped("1"))

    result = invoke("tail", "--from-start", "--count", "3", "--json")

    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(event["position"], event["stream_id"], event["version"]) for event in events] == [
        (1, "parcel-1", 1),
        (2, "parcel-2", 1),
        (3, "parcel-1", 2),
    ]


def test_follows_events_appended_after_it_started(invoke: Invoke, store_url: str) -> None:
    append(store_url, "parcel-1", registered("1"))

    def append_later() -> None:
        # Another connection, as another process would append, once tail is following.
        time.sleep(0.5)
        append(store_url, "parcel-2", registered("2"))
        append(store_url, "parcel-1", shipped("1"))

    writer = threading.Thread(target=append_later)
    writer.start()
    result = invoke("tail", "--count", "2", "--timeout", "30")
    writer.join()

    assert result.exit_code == 0, result.output
    assert "following the log after position 1" in result.stdout
    lines = [line for line in result.stdout.splitlines() if "cli-test." in line]
    assert [line.split()[0] for line in lines] == ["2", "3"]
    assert "parcel-2@1" in lines[0] and "parcel-1@2" in lines[1]


def test_stops_quietly_when_its_time_is_up(invoke: Invoke, store_url: str) -> None:
    append(store_url, "parcel-1", registered("1"))

    result = invoke("tail", "--timeout", "0.3")

    assert result.exit_code == 0, result.output
    assert "cli-test." not in result.stdout
