"""Every failure is one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import pytest
from parcels import Invoke, one_line_error


def test_a_missing_url_says_how_to_give_one(invoke: Invoke) -> None:
    result = invoke("streams", url=None)

    assert result.exit_code == 1
    assert one_line_error(result) == "error: no store URL: pass --url URL or set EVENTLEDGER_URL"


@pytest.mark.parametrize("url", ["orders.db", "mysql://localhost/orders", "sqlite://host/orders.db"])
def test_a_malformed_url_names_the_url_and_the_supported_forms(invoke: Invoke, url: str) -> None:
    result = invoke("streams", url=url)

    line = one_line_error(result)
    assert f"invalid store URL {url!r}" in line
    assert "sqlite:///" in line


def test_an_unreachable_database_is_one_line_naming_it(invoke: Invoke) -> None:
    # Port 1 on the loopback: nothing listens there, so the connection is refused at once.
    result = invoke("streams", url="postgresql://postgres@127.0.0.1:1/nowhere")

    line = one_line_error(result)
    assert "127.0.0.1" in line or "nowhere" in line


def test_an_unwritable_sqlite_location_is_one_line_naming_the_file(invoke: Invoke) -> None:
    result = invoke("streams", url="sqlite:////proc/no-such-folder/events.db")

    line = one_line_error(result)
    assert "/proc/no-such-folder/events.db" in line


def test_a_module_that_cannot_be_imported_is_named(invoke: Invoke) -> None:
    result = invoke("--import", "no_such_module_here", "streams")

    assert one_line_error(result).startswith("error: cannot import module 'no_such_module_here'")


def test_an_unknown_command_exits_non_zero(invoke: Invoke) -> None:
    result = invoke("frobnicate")

    assert result.exit_code == 2
    assert "Traceback" not in result.output
