"""The console's pages on the log, over real HTTP against real SQLite and PostgreSQL stores."""

from __future__ import annotations

import asyncio
import json
import urllib.parse

from console_rig import Store, serving
from parcels import append, registered, shipped
from web import fetch

import eventledger as el


def first_event_id(url: str, stream_id: str) -> str:
    async def read() -> str:
        async with el.open_store(url) as store:
            async for recorded in store.read_stream(stream_id, limit=1):
                return str(recorded.event_id)
        raise AssertionError(f"{stream_id} is empty")

    return asyncio.run(read())


def test_streams_are_found_by_prefix_and_paged(store: Store) -> None:
    for number in range(55):
        append(store.url, f"order-{number:02d}", registered(str(number)))
    append(store.url, "other-1", registered("x"))

    with serving(store) as base:
        first = fetch(f"{base}/streams?prefix=order-")
        following = fetch(f"{base}/streams?prefix=order-&after=order-49")
        one = fetch(f"{base}/streams?prefix=order-07")

    assert first.status == 200
    assert first.text.count('href="/streams/order-') == 50
    assert 'href="/streams/order-49"' in first.text
    assert "after=order-49" in first.text  # the next page's link
    assert "other-1" not in first.text
    assert following.text.count('href="/streams/order-') == 5
    assert 'href="/streams/order-54"' in following.text
    assert one.text.count('href="/streams/order-') == 1


def test_a_streams_events_show_data_and_metadata_and_the_causation_link_leads_to_the_cause(
    store: Store,
) -> None:
    append(store.url, "parcel-1", registered("1", weight_grams=1200))
    cause = first_event_id(store.url, "parcel-1")
    metadata = {"causation_id": cause, "correlation_id": cause}
    append(store.url, "shipment-1", shipped("1", carrier="dhl"), metadata=metadata)

    with serving(store) as base:
        page = fetch(f"{base}/streams/shipment-1")
        link = f"/events/by-id/{cause}?before=2"
        followed = fetch(base + link, follow=False)
        cause_page = fetch(f"{base}/events/1")

    assert page.status == 200
    assert "&quot;carrier&quot;: &quot;dhl&quot;" in page.text  # the data, as escaped text
    assert f'href="{link}"' in page.text.replace("&amp;", "&")
    assert (followed.status, followed.headers["location"]) == (303, "/events/1")
    assert "&quot;weight_grams&quot;: 1200" in cause_page.text
    assert f"event id {cause}" in cause_page.text


def test_stream_ids_and_event_data_are_shown_as_text_not_as_html(store: Store) -> None:
    hostile = "<script>alert(1)</script>"
    append(store.url, hostile, registered("<script>alert(2)</script>"))

    with serving(store) as base:
        pages = {
            path: fetch(base + path)
            for path in ("/streams", "/streams/" + urllib.parse.quote(hostile, safe=""), "/log", "/events/1")
        }

    for path, answer in pages.items():
        assert answer.status == 200, path
        assert "<script>alert" not in answer.text, path
        assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["/streams"].text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in pages["/events/1"].text


def test_the_log_tail_filters_by_type_and_then_follows_new_events(store: Store) -> None:
    append(store.url, "parcel-1", registered("1"), shipped("1"))
    append(store.url, "parcel-2", registered("2"))

    with serving(store) as base:
        tail = fetch(f"{base}/log?type=cli-test.ParcelShipped")
        append(store.url, "parcel-3", registered("3"), shipped("3"))
        followed = json.loads(fetch(f"{base}/log.json?after=3&type=cli-test.ParcelShipped").text)

    assert tail.status == 200
    assert "cli-test.ParcelShipped" in tail.text
    assert "cli-test.ParcelRegistered" not in tail.text
    assert [(event["position"], event["stream_id"]) for event in followed["events"]] == [(5, "parcel-3")]
    assert followed["after"] == 5


def test_the_store_check_reports_that_every_event_decodes(store: Store) -> None:
    append(store.url, "parcel-1", registered("1"), shipped("1"))

    with serving(store) as base:
        answer = fetch(f"{base}/check")

    assert answer.status == 200
    assert "all 2 events decode (up to position 2)" in answer.text


def test_an_unknown_stream_or_position_is_a_404_page(store: Store) -> None:
    append(store.url, "parcel-1", registered("1"))

    with serving(store) as base:
        stream = fetch(f"{base}/streams/no-such")
        event = fetch(f"{base}/events/99")

    assert (stream.status, event.status) == (404, 404)
    assert "stream &#x27;no-such&#x27; has no events" in stream.text
    assert "no event at position 99" in event.text


def test_a_malformed_parameter_is_a_400_page_naming_it(store: Store) -> None:
    append(store.url, "parcel-1", registered("1"))

    with serving(store) as base:
        words = fetch(f"{base}/streams/parcel-1?from=abc")
        negative = fetch(f"{base}/log.json?after=-1")

    assert (words.status, negative.status) == (400, 400)
    assert "invalid literal for int()" in words.text
    assert "after must be at least 0" in negative.text
