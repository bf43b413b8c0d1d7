// The orders page: plain DOM and fetch, polling the service's JSON endpoints. No build step.
"use strict";

const state = {
  status: "",            // the orders filter
  selected: null,        // the order whose timeline is shown
  versions: new Map(),   // order id -> version last drawn, to flash rows that changed
  checkpoints: "",       // the projections' checkpoints last seen, to refetch only on change
  simulationRunning: false,
  offset: 0,             // the list page's first row
  query: "",             // the order id prefix searched for
  banners: new Map(),    // banner element id -> what it last showed, to redraw only on change
};

const PAGE = 50;           // orders per list page
const NS = "http://www.w3.org/2000/svg";

const $ = (selector) => document.querySelector(selector);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

// Errors come back as problem details (RFC 9457): status, code, detail and the facts.
async function api(method, path, body, headers = {}) {
  const options = { method, headers: { Accept: "application/json, application/problem+json", ...headers } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = payload.detail || response.statusText;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return payload;
}

function toast(message, kind = "error", status = null) {
  const node = element("div", { class: `toast ${kind}` },
    status ? element("span", { class: "status", text: String(status) }) : null, message);
  $("#toasts").append(node);
  setTimeout(() => node.remove(), kind === "error" ? 6000 : 3000);
}

function money(value) {
  return Number(value).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

function clock(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  return moment.toLocaleTimeString(undefined, { hour12: false }) + "." + String(moment.getMilliseconds()).padStart(3, "0");
}

// ------------------------------------------------------------------ the create form

function addItemRow(sku = "", quantity = 1, price = "") {
  const row = element("tr", {},
    element("td", {}, element("input", { name: "sku", placeholder: "e.g. book", value: sku, required: "" })),
    element("td", {}, element("input", { name: "quantity", type: "number", min: "1", max: "1000000", value: String(quantity) })),
    element("td", {}, element("input", { name: "unit_price", type: "number", min: "0", max: "1000000", step: "0.01", placeholder: "0.00", value: price })),
    element("td", {}, element("button", { type: "button", class: "remove", title: "remove this item", onclick: () => { row.remove(); updateFormTotal(); } }, "✕")),
  );
  row.addEventListener("input", updateFormTotal);
  $("#item-rows tbody").append(row);
  updateFormTotal();
}

function formItems() {
  return [...document.querySelectorAll("#item-rows tbody tr")].map((row) => ({
    sku: row.querySelector("[name=sku]").value.trim(),
    quantity: Number(row.querySelector("[name=quantity]").value),
    unit_price: row.querySelector("[name=unit_price]").value || "0",
  }));
}

function updateFormTotal() {
  const total = formItems().reduce((sum, item) => sum + item.quantity * Number(item.unit_price || 0), 0);
  $("#form-total").replaceChildren("Total ", element("strong", { text: money(total) }));
}

async function createOrder(event) {
  event.preventDefault();
  const orderId = $("#order-id").value.trim();
  const body = { items: formItems() };
  if (orderId) body.order_id = orderId;
  $("#create-button").disabled = true;
  try {
    const result = await api("POST", "/api/orders", body);
    toast(`Order ${result.order_id} created (version ${result.version}, position ${result.position})`, "ok", 201);
    $("#order-id").value = "";
    state.selected = result.order_id;
    await refreshOrders(result.position);
  } catch (error) {
    toast(error.message, "error", error.status);
  } finally {
    $("#create-button").disabled = false;
  }
}

async function command(orderId, action, version) {
  try {
    // The version the row shows, as the ETag it came with: a change made meanwhile answers 412.
    const result = await api("POST", `/api/orders/${encodeURIComponent(orderId)}/${action}`, undefined,
      { "If-Match": `W/"${version}"` });
    toast(`Order ${orderId} ${action === "confirm" ? "confirmed" : "cancelled"} (version ${result.version})`, "ok", 200);
    state.selected = orderId;
    await refreshOrders(result.position);
  } catch (error) {
    toast(error.message, "error", error.status);
  }
}

// ------------------------------------------------------------------ orders and timeline

async function refreshOrders(minPosition = null) {
  const query = new URLSearchParams({ limit: String(PAGE), offset: String(state.offset) });
  if (state.status) query.set("status", state.status);
  if (state.query) query.set("q", state.query);
  let payload;
  try {
    payload = await api("GET", `/api/orders?${query}${minPosition ? `&min_position=${minPosition}` : ""}`);
  } catch (error) {
    // 503: the list's read model has not reached the write yet; show what it holds, and say so.
    if (error.status !== 503) throw error;
    toast(error.message, "error", 503);
    payload = await api("GET", `/api/orders?${query}`);
  }
  drawOrders(payload.orders, payload.total_count, payload.offset);
  if (state.selected) await refreshTimeline();
}

function drawOrders(orders, totalCount, offset) {
  const body = $("#orders tbody");
  const rows = orders.map((order) => {
    const changed = state.versions.has(order.order_id) && state.versions.get(order.order_id) !== order.version;
    state.versions.set(order.order_id, order.version);
    const actions = element("td", { class: "actions" });
    if (order.status === "pending") {
      actions.append(element("button", { class: "small confirm", "data-action": "confirm", onclick: (event) => { event.stopPropagation(); command(order.order_id, "confirm", order.version); } }, "Confirm"));
    }
    if (order.status === "pending" || order.status === "confirmed") {
      actions.append(element("button", { class: "small cancel", "data-action": "cancel", onclick: (event) => { event.stopPropagation(); command(order.order_id, "cancel", order.version); } }, "Cancel"));
    }
    const row = element("tr", { "data-order": order.order_id, class: [order.order_id === state.selected ? "selected" : "", changed ? "fresh" : ""].join(" ").trim(), onclick: () => select(order.order_id) },
      element("td", { class: "mono" }, element("a", { class: "order-link", href: `#order=${encodeURIComponent(order.order_id)}`, text: order.order_id })),
      element("td", {}, element("span", { class: `badge ${order.status}`, text: order.status })),
      element("td", { class: "num", text: String(order.item_count) }),
      element("td", { class: "num", text: money(order.total) }),
      element("td", { class: "num", text: String(order.version) }),
      element("td", { class: "muted", text: clock(order.updated_at) }),
      actions,
    );
    return row;
  });
  body.replaceChildren(...rows);
  $("#orders-empty").style.display = orders.length ? "none" : "block";
  $("#order-count").textContent = totalCount ? `(${totalCount})` : "";
  $("#orders-range").textContent = orders.length ? `showing ${offset + 1}–${offset + orders.length} of ${totalCount}` : `none of ${totalCount}`;
  $("#newer-page").disabled = offset === 0;
  $("#older-page").disabled = offset + orders.length >= totalCount;
}

async function turnPage(direction) {
  state.offset = Math.max(0, state.offset + direction * PAGE);
  await refreshOrders();
}

async function select(orderId) {
  state.selected = orderId;
  for (const row of document.querySelectorAll("#orders tbody tr")) {
    row.classList.toggle("selected", row.dataset.order === orderId);
  }
  await refreshTimeline();
}

async function refreshTimeline() {
  const orderId = state.selected;
  let payload;
  try {
    payload = await api("GET", `/api/orders/${encodeURIComponent(orderId)}/events`);
  } catch (error) {
    if (error.status === 404) { $("#timeline").replaceChildren(); return; }
    throw error;
  }
  if (orderId !== state.selected) return;
  $("#timeline-title").textContent = `— ${orderId}`;
  $("#timeline").replaceChildren(...payload.events.map((event) => element("li", { class: event.type },
    element("div", { class: "event-type", text: event.type }),
    element("div", { class: "event-meta" },
      element("span", { text: `version ${event.version}` }),
      element("span", { text: `position ${event.position}` }),
      element("span", { text: clock(event.recorded_at), title: event.recorded_at })),
    describe(event) ? element("div", { class: "event-data mono", text: describe(event) }) : null,
  )));
}

function describe(event) {
  const data = event.data || {};
  if (event.type === "OrderCreated" && Array.isArray(data.items)) {
    const currency = data.currency ? ` ${data.currency}` : "";
    return data.items.map((item) => `${item.quantity} × ${item.sku} @ ${money(item.unit_price)}${currency}`).join("\n");
  }
  if (event.type === "OrderCancelled") return data.reason ? `reason: ${data.reason}` : "no reason given";
  const rest = Object.entries(data).filter(([key]) => key !== "order_id");
  return rest.map(([key, value]) => `${key}: ${JSON.stringify(value)}`).join("\n");
}

// ------------------------------------------------------------------ projections

async function refreshProjections() {
  const payload = await api("GET", "/api/projections");
  const container = $("#projections");
  container.replaceChildren(...payload.projections.map(drawProjection));
  for (const banner of document.querySelectorAll(".banner[data-projection]")) {
    drawBanner(banner, payload.projections.find((projection) => projection.name === banner.dataset.projection));
  }
  $("#projections-updated").textContent = `head ${payload.head_position} · ${new Date().toLocaleTimeString(undefined, { hour12: false })}`;
  const checkpoints = payload.projections.map((projection) => projection.checkpoint).join(",");
  const changed = checkpoints !== state.checkpoints;
  state.checkpoints = checkpoints;
  return changed;
}

function drawProjection(projection) {
  const lagSeconds = projection.lag_seconds;
  const lagClass = (lagSeconds !== null && lagSeconds > 5) || projection.held_back_events > 0 ? "bad" : projection.lag_events > 0 ? "warn" : "";
  const stat = (label, value, extra = "") => element("div", { class: "stat" },
    element("div", { class: "label", text: label }), element("div", { class: `value ${extra}`, text: value }));
  const rates = projection.events_per_second_window || {};
  const rate = (value) => (value === null || value === undefined ? "–" : Number(value).toFixed(1));
  return element("div", { class: "projection", "data-projection": projection.name },
    element("div", { class: "projection-head" },
      element("div", {},
        element("div", { class: "projection-name", text: projection.name }),
        element("div", { class: "projection-target", text: `v${projection.version} → ${projection.target}` })),
      element("span", { class: `badge ${projection.state}`, text: projection.state.replace("_", " ") })),
    element("div", { class: "stats six" },
      stat("checkpoint", String(projection.checkpoint)),
      stat("lag events", String(projection.lag_events), lagClass),
      stat("lag seconds", lagSeconds === null ? "–" : lagSeconds.toFixed(2), lagClass),
      stat("held back", String(projection.held_back_events), projection.held_back_events > 0 ? "bad" : ""),
      stat("events/s 10 s", rate(rates["10s"])),
      stat("events/s 1 min", rate(rates["1m"]))),
    lagChart(projection.lag_history || []),
    problem(projection),
    projection.failure ? operateButtons(projection) : null,
  );
}

// Why a projection is not live: the event it failed at, or the transaction holding events back.
function problem(projection) {
  const failure = projection.failure;
  if (failure) {
    return element("div", { class: "error", "data-problem": "failed",
      text: `failed at position ${failure.position} (${failure.event_type} in ${failure.stream_id}) after ${failure.attempts} attempts: ${failure.error}\nPOST /api/projections/${projection.name}/retry after fixing the cause, or /skip to move it to the dead letters` });
  }
  if (projection.stalled_reason) {
    return element("div", { class: "error", "data-problem": "stalled", text: `stalled: ${projection.stalled_reason.message}` });
  }
  return projection.last_error && projection.state !== "live" ? element("div", { class: "error", text: projection.last_error }) : null;
}

function operateButtons(projection) {
  return element("div", { class: "operate" },
    element("button", { class: "small", "data-operate": "retry", onclick: () => operate(projection, "retry") }, "Retry"),
    element("button", { class: "small cancel", "data-operate": "skip", onclick: () => operate(projection, "skip") }, "Skip to dead letters"));
}

async function operate(projection, action) {
  const failure = projection.failure;
  if (action === "skip" && !window.confirm(`Skip position ${failure.position} (${failure.event_type} in ${failure.stream_id}) for ${projection.name}? Its effects will never be applied; it goes to the dead letters.`)) return;
  try {
    const result = await api("POST", `/api/projections/${encodeURIComponent(projection.name)}/${action}`);
    const event = result.skipped || result.retried;
    toast(`${projection.name}: ${action === "skip" ? "skipped" : "retrying"} position ${event.position}`, "ok", 200);
    state.banners.clear();
    await refreshProjections();
  } catch (error) {
    toast(error.message, "error", error.status);
  }
}

// A banner over a panel whose read model has failed or is behind: what it shows may be incomplete.
function drawBanner(banner, projection) {
  let kind = null;
  let text = "";
  if (projection && projection.failure) {
    const failure = projection.failure;
    kind = "failed";
    text = `The ${projection.name} read model stopped at position ${failure.position} (${failure.event_type} in ${failure.stream_id}): ${failure.error}. What is shown here ends before that event.`;
  } else if (projection && projection.lag_events > 0 && (projection.state === "stalled" || (projection.lag_seconds || 0) > 2)) {
    kind = "behind";
    text = `The ${projection.name} read model is ${projection.lag_events} events (${(projection.lag_seconds || 0).toFixed(1)} s) behind: the newest changes are not shown yet.`;
  }
  const key = `${kind}|${text}`;
  if (state.banners.get(banner.id) === key) return;
  state.banners.set(banner.id, key);
  banner.hidden = kind === null;
  banner.className = `banner ${kind || ""}`;
  banner.replaceChildren();
  if (kind === null) return;
  banner.append(element("span", { class: "grow", text }));
  if (kind === "failed") banner.append(...operateButtons(projection).children);
}

// The lag of the last two minutes: x is seconds ago (120 to 0), y the lag in events.
function lagChart(history) {
  const width = 600, height = 150, left = 52, right = 10, top = 10, bottom = 34;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "lag in events over the last two minutes");
  const add = (tag, attributes, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  const values = history.map((point) => point.lag_events || 0);
  const peak = Math.max(10, ...values);
  const x = (secondsAgo) => left + ((120 - Math.min(secondsAgo, 120)) / 120) * (width - left - right);
  const y = (value) => top + (1 - value / peak) * (height - top - bottom);
  for (const tick of [0, peak / 2, peak]) {
    add("line", { class: "grid", x1: left, x2: width - right, y1: y(tick), y2: y(tick) });
    add("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, String(Math.round(tick)));
  }
  for (const tick of [120, 90, 60, 30, 0]) {
    add("text", { x: x(tick), y: height - bottom + 14, "text-anchor": "middle" }, String(tick));
  }
  add("line", { class: "axis", x1: left, x2: left, y1: top, y2: height - bottom });
  add("line", { class: "axis", x1: left, x2: width - right, y1: height - bottom, y2: height - bottom });
  add("text", { class: "x-label", x: (left + width - right) / 2, y: height - 4, "text-anchor": "middle" }, "seconds ago");
  add("text", { class: "y-label", x: 12, y: (top + height - bottom) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(top + height - bottom) / 2})` }, "lag (events)");
  if (history.length > 1) {
    const points = history.map((point) => `${x(point.seconds_ago).toFixed(1)},${y(point.lag_events || 0).toFixed(1)}`);
    const first = x(history[0].seconds_ago).toFixed(1), last = x(history[history.length - 1].seconds_ago).toFixed(1);
    add("polygon", { class: "area", points: `${first},${y(0)} ${points.join(" ")} ${last},${y(0)}` });
    add("polyline", { class: "line", points: points.join(" ") });
  }
  return svg;
}

// ------------------------------------------------------------------ simulation

async function startSimulation(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const rate = Number(form.get("rate"));
    await api("POST", "/api/simulations", { orders: Number(form.get("orders")), concurrency: Number(form.get("concurrency")), rate: rate > 0 ? rate : null });
    state.simulationRunning = true;
    await refreshSimulation();
  } catch (error) {
    toast(error.message, "error", error.status);
  }
}

async function refreshSimulation() {
  const payload = await api("GET", "/api/simulations/current");
  const box = $("#simulation");
  const simulation = payload.simulation;
  $("#simulate-button").disabled = Boolean(simulation && simulation.running);
  if (!simulation) { box.replaceChildren(); return; }
  state.simulationRunning = simulation.running;
  const percent = Math.round((100 * simulation.orders_done) / simulation.orders);
  box.replaceChildren(
    element("div", { text: simulation.running ? `Running: ${simulation.orders_done} of ${simulation.orders} orders` : `Done: ${simulation.orders} orders in ${simulation.seconds.toFixed(1)} s` }),
    element("div", { class: "bar" }, element("span", { style: `width: ${percent}%` })),
    element("div", { class: "small", text: `${simulation.commands} commands · ${simulation.commands_per_second.toFixed(0)} commands/s · ${simulation.conflicts_retried} conflicts retried · ${simulation.refused} refused by a rule` }),
  );
}

// ------------------------------------------------------------------ polling

async function tick() {
  try {
    const changed = await refreshProjections();
    if (changed) await refreshOrders();
    if (state.simulationRunning) await refreshSimulation();
    $("#live-dot").className = "dot up";
  } catch (error) {
    $("#live-dot").className = "dot down";
  } finally {
    setTimeout(tick, 500);
  }
}

async function start() {
  addItemRow("book", 2, "12.50");
  addItemRow("pen", 3, "1.20");
  $("#add-item").addEventListener("click", () => addItemRow());
  $("#create-form").addEventListener("submit", createOrder);
  $("#simulate-form").addEventListener("submit", startSimulation);
  for (const chip of document.querySelectorAll("#filters .chip")) {
    chip.addEventListener("click", async () => {
      for (const other of document.querySelectorAll("#filters .chip")) other.classList.toggle("active", other === chip);
      state.status = chip.dataset.status;
      state.offset = 0;
      await refreshOrders();
    });
  }
  $("#newer-page").addEventListener("click", () => turnPage(-1));
  $("#older-page").addEventListener("click", () => turnPage(1));
  $("#order-search").addEventListener("input", async (event) => {
    state.query = event.target.value.trim();
    state.offset = 0;
    await refreshOrders();
  });
  // A link per order: #order=ID selects it (and can be shared or bookmarked).
  const fromHash = () => {
    const match = location.hash.match(/^#order=(.+)$/);
    if (match) select(decodeURIComponent(match[1]));
  };
  window.addEventListener("hashchange", fromHash);
  const info = await api("GET", "/api/info");
  $("#store-url").textContent = info.store;
  await refreshOrders();
  fromHash();
  await refreshSimulation();
  tick();
}

document.addEventListener("DOMContentLoaded", start);
