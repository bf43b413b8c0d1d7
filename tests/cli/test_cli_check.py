"""`eventledger check`: the store-wide compatibility scan."""

from __future__ import annotations

from pathlib import Path

from parcels import Invoke, append, insert_row_of_unknown_type, registered, shipped


def test_a_store_whose_events_all_decode_passes(invoke: Invoke, store_url: str) -> None:
    append(store_url, "parcel-1", registered("1"), shipped("1"))
    append(store_url, "parcel-2", registered("2"))

    result = invoke("check")

    assert result.exit_code == 0, result.output
    assert "ok: all 3 events decode" in result.stdout


def test_events_that_do_not_decode_fail_the_check_with_their_positions(
    invoke: Invoke, store_url: str, store_path: Path
) -> None:
    append(store_url, "parcel-1", registered("1"))
    insert_row_of_unknown_type(store_path, "parcel-1", "cli-test.ParcelLost")
    append(store_url, "parcel-2", registered("2"))

    result = invoke("check")

    assert result.exit_code == 2
    assert "cli-test.ParcelLost v1: 1 do not decode" in result.stdout
    assert "position 2" in result.stdout
    assert "1 of 3 events do not decode" in result.stdout


def test_an_empty_store_passes(invoke: Invoke) -> None:
    result = invoke("check")

    assert result.exit_code == 0, result.output
    assert "all 0 events decode" in result.stdout
