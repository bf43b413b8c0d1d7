"""The console's one script, served at ``/assets/console.js`` (no build step, no framework).

It refreshes fragments the server rendered (``data-refresh``: the projections' cards every two
seconds) and follows the global log, appending rows it builds with ``textContent`` only, so no
stored value is ever parsed as HTML in the browser. Without JavaScript every page still works;
it just does not move on its own.
"""

from __future__ import annotations

CONSOLE_JS = """\
"use strict";

async function refreshFragments() {
  for (const node of document.querySelectorAll("[data-refresh]")) {
    const response = await fetch(node.dataset.refresh, { headers: { Accept: "text/html" } });
    // The fragment is the server's own rendering, every stored value already escaped there.
    if (response.ok) node.innerHTML = await response.text();
  }
}

function cell(row, text, href) {
  const td = document.createElement("td");
  if (href) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    td.append(a);
  } else {
    td.textContent = text;
  }
  row.append(td);
  return td;
}

async function followLog() {
  const box = document.getElementById("log");
  if (!box) return;
  const query = new URLSearchParams({ after: box.dataset.after });
  if (box.dataset.type) query.set("type", box.dataset.type);
  const response = await fetch(`/log.json?${query}`);
  if (!response.ok) return;
  const payload = await response.json();
  const body = box.querySelector("tbody");
  for (const event of payload.events) {
    const row = document.createElement("tr");
    row.className = "fresh";
    cell(row, String(event.position), `/events/${event.position}`);
    const stream = event.stream_id ? `/streams/${encodeURIComponent(event.stream_id)}` : null;
    cell(row, event.stream_id || "", stream);
    cell(row, event.version === null ? "?" : String(event.version));
    cell(row, event.type);
    cell(row, event.recorded_at || "-");
    const pre = document.createElement("pre");
    pre.textContent = event.error || event.data;
    cell(row, "").append(pre);
    body.append(row);
  }
  box.dataset.after = String(payload.after);
}

let ticks = 0;
setInterval(() => {
  ticks += 1;
  followLog().catch(() => {});
  if (ticks % 2 === 0) refreshFragments().catch(() => {});
}, 1000);
"""
