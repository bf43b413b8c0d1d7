"""HTML for the console's pages: the layout, and small builders that escape everything they are given.

Pages are rendered on the server as plain HTML (no template engine, no JavaScript framework, no
build step): every value that comes from the store (stream ids, event data, errors) goes through
:func:`esc` or a builder that calls it, so a stream id or a field containing ``<script>`` shows
as text. The little JavaScript there is (``/assets/console.js``) only refreshes fragments the
server rendered and appends rows built with ``textContent``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

NAVIGATION = (
    ("/", "overview"),
    ("/streams", "streams"),
    ("/log", "log"),
    ("/projections", "projections"),
    ("/check", "store check"),
)

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1f2430; background: #f6f7fb; }
header { background: #1f2440; color: #fff; padding: 10px 20px; display: flex; gap: 18px; }
header { align-items: baseline; }
header a { color: #c9cffd; text-decoration: none; } header a.here { color: #fff; font-weight: 600; }
header .brand { font-weight: 700; margin-right: 12px; } header .mode { margin-left: auto; color: #aab; }
main { padding: 16px 20px; } h1 { font-size: 20px; margin: 4px 0 12px; } h2 { font-size: 16px; }
table { border-collapse: collapse; background: #fff; width: 100%; margin-bottom: 12px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e5e8f0; vertical-align: top; }
th { font-size: 12px; color: #6b7385; text-transform: uppercase; } td.num, th.num { text-align: right; }
.mono, pre { font-family: ui-monospace, DejaVu Sans Mono, monospace; font-size: 12px; }
pre { margin: 0; white-space: pre-wrap; word-break: break-word; }
.card { background: #fff; border-radius: 8px; padding: 12px 16px; margin-bottom: 14px; }
.card { box-shadow: 0 1px 2px #0001; }
.muted { color: #6b7385; } .bad { color: #b42318; } .warn { color: #b54708; } .ok { color: #067647; }
.state { font-weight: 600; } .failure { background: #fef3f2; padding: 8px 12px; border-radius: 6px; }
form.inline { display: inline; } button { padding: 4px 10px; } input { padding: 4px 6px; }
.chart { width: 100%; max-width: 720px; height: 180px; display: block; }
.chart text { fill: #6b7385; font-size: 11px; } .chart .axis { stroke: #9aa3b5; }
.chart .grid { stroke: #e5e8f0; } .chart .line { fill: none; stroke: #4f46e5; stroke-width: 2; }
"""


def esc(value: object) -> str:
    """``value`` as text that HTML shows literally (quotes escaped too, for attributes)."""
    return escape(str(value), quote=True)


def page(title: str, body: str, *, here: str = "/", operations: bool = False, script: bool = False) -> str:
    """A whole page: navigation, a title and ``body`` (HTML already escaped by its builder)."""
    links = " ".join(
        f'<a href="{path}"{" class=here" if path == here else ""}>{esc(label)}</a>'
        for path, label in NAVIGATION
    )
    mode = "operations enabled" if operations else "read-only"
    js = '<script src="/assets/console.js" defer></script>' if script else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(title)} · eventledger console</title><style>{STYLE}</style>{js}</head>"
        f'<body><header><span class="brand">eventledger console</span>{links}'
        f'<span class="mode">{esc(mode)}</span></header>'
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )


def link(path: str, text: object, **query: object) -> str:
    """An ``<a>`` to ``path`` with ``query`` parameters (empty ones left out)."""
    parameters = {key: str(value) for key, value in query.items() if value not in (None, "")}
    href = path + ("?" + urlencode(parameters) if parameters else "")
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def stream_path(stream_id: str) -> str:
    """The URL path of a stream's page (the id percent-encoded, slashes too)."""
    return "/streams/" + quote(stream_id, safe="")


def table(headings: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[int] = ()) -> str:
    """A table of cells that are already HTML (built with :func:`esc` or :func:`link`)."""
    head = "".join(
        f'<th{" class=num" if index in numeric else ""}>{esc(text)}</th>'
        for index, text in enumerate(headings)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td{" class=num" if index in numeric else ""}>{cell}</td>' for index, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def pretty_json(value: Any) -> str:
    """Indented JSON in a ``<pre>``, escaped."""
    return f"<pre>{esc(json.dumps(value, indent=2, default=str, ensure_ascii=False))}</pre>"


def when(moment: datetime | None) -> str:
    """A time in UTC to the millisecond, escaped (``-`` for none)."""
    if moment is None:
        return "-"
    return esc(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z")


def form(
    action: str, label: str, secret: str, *, danger: bool = False, fields: dict[str, str] | None = None
) -> str:
    """A one-button POST form carrying the console's form secret."""
    hidden = "".join(
        f'<input type=hidden name="{esc(key)}" value="{esc(value)}">'
        for key, value in {"form_secret": secret, **(fields or {})}.items()
    )
    style = ' class="bad"' if danger else ""
    button = f"<button{style}>{esc(label)}</button>"
    return f'<form class=inline method=post action="{esc(action)}">{hidden}{button}</form>'


def lag_chart(points: Sequence[tuple[float, int | None]], *, span: float = 120.0) -> str:
    """An SVG chart of lag over time with labelled axes: x is seconds ago (``span`` to 0), y events."""
    width, height, left, right, top, bottom = 720, 180, 56, 10, 10, 36
    values = [value or 0 for _, value in points]
    peak = max(10, *values) if values else 10

    def x(ago: float) -> float:
        return left + (span - min(ago, span)) / span * (width - left - right)

    def y(value: float) -> float:
        return top + (1 - value / peak) * (height - top - bottom)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="lag in events over the '
        f'last {span:.0f} seconds">'
    ]
    for tick in (0, peak / 2, peak):
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
        )
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{round(tick)}</text>')
    for tick in (span, span * 3 / 4, span / 2, span / 4, 0):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - bottom + 14}" text-anchor="middle">{tick:.0f}</text>'
        )
    parts.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}"/>')
    parts.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}"/>'
    )
    middle = (top + height - bottom) / 2
    parts.append(
        f'<text class="x-label" x="{(left + width) / 2:.0f}" y="{height - 4}" '
        'text-anchor="middle">seconds ago</text>'
    )
    parts.append(
        f'<text class="y-label" x="14" y="{middle:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle:.0f})">lag (events)</text>'
    )
    if len(points) > 1:
        line = " ".join(f"{x(ago):.1f},{y(value or 0):.1f}" for ago, value in points)
        parts.append(f'<polyline class="line" points="{line}"/>')
    parts.append("</svg>")
    return "".join(parts)
