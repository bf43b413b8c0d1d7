// The orders page: plain DOM and fetch, polling the service's JSON endpoints. No build step.
"use strict";

const state = {
  status: "",            // the orders filter
  selected: null,        // the order whose timeline is shown
  versions: new Map(),   // order id -> version last drawn, to flash rows that changed
  checkpoints: "",       // the projections' checkpoints last seen, to refetch only on change
  lagHistory: new Map(), // projection name -> recent lag samples for the sparkline
  simulationRunning: false,
};

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
  const query = new URLSearchParams({ limit: "200" });
  if (state.status) query.set("status", state.status);
  if (minPosition) query.set("min_position", String(minPosition));
  const payload = await api("GET", `/api/orders?${query}`);
  drawOrders(payload.orders, payload.total_count);
  if (state.selected) await refreshTimeline();
}

function drawOrders(orders, totalCount) {
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
      element("td", { class: "mono", text: order.order_id }),
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
  $("#projections-updated").textContent = `head ${payload.head_position} · ${new Date().toLocaleTimeString(undefined, { hour12: false })}`;
  const checkpoints = payload.projections.map((projection) => projection.checkpoint).join(",");
  const changed = checkpoints !== state.checkpoints;
  state.checkpoints = checkpoints;
  return changed;
}

function drawProjection(projection) {
  const history = state.lagHistory.get(projection.name) || [];
  history.push(projection.lag_events);
  while (history.length > 120) history.shift();
  state.lagHistory.set(projection.name, history);
  const lagSeconds = projection.lag_seconds;
  const lagClass = (lagSeconds !== null && lagSeconds > 5) || projection.held_back_events > 0 ? "bad" : projection.lag_events > 0 ? "warn" : "";
  const stat = (label, value, extra = "") => element("div", { class: "stat" },
    element("div", { class: "label", text: label }), element("div", { class: `value ${extra}`, text: value }));
  const canvas = element("canvas", { class: "spark", width: "600", height: "92", title: "lag in events, last minute" });
  requestAnimationFrame(() => drawSparkline(canvas, history));
  return element("div", { class: "projection", "data-projection": projection.name },
    element("div", { class: "projection-head" },
      element("div", {},
        element("div", { class: "projection-name", text: projection.name }),
        element("div", { class: "projection-target", text: `v${projection.version} → ${projection.target}` })),
      element("span", { class: `badge ${projection.state}`, text: projection.state.replace("_", " ") })),
    element("div", { class: "stats" },
      stat("checkpoint", String(projection.checkpoint)),
      stat("lag events", String(projection.lag_events), lagClass),
      stat("lag seconds", lagSeconds === null ? "–" : lagSeconds.toFixed(2), lagClass),
      stat("held back", String(projection.held_back_events), projection.held_back_events > 0 ? "bad" : ""),
      stat("events/s", projection.events_per_second.toFixed(1))),
    canvas,
    problem(projection),
  );
}

// Why a projection is not live: the event it failed at, or the transaction holding events back.
function problem(projection) {
  const failure = projection.failure;
  if (failure) {
    return element("div", { class: "error", "data-problem": "failed",
      text: `failed at position ${failure.position} (${failure.event_type} in ${failure.stream_id}) after ${failure.attempts} attempts: ${failure.error}\nPOST /api/projections/${projection.name}/retry or /skip` });
  }
  if (projection.stalled_reason) {
    return element("div", { class: "error", "data-problem": "stalled", text: `stalled: ${projection.stalled_reason.message}` });
  }
  return projection.last_error && projection.state !== "live" ? element("div", { class: "error", text: projection.last_error }) : null;
}

function drawSparkline(canvas, values) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const peak = Math.max(10, ...values);
  const step = width / 119;
  context.beginPath();
  context.moveTo(0, height);
  values.forEach((value, index) => context.lineTo(index * step, height - 4 - (value / peak) * (height - 12)));
  context.lineTo((values.length - 1) * step, height);
  context.closePath();
  context.fillStyle = "rgba(79, 70, 229, 0.12)";
  context.fill();
  context.beginPath();
  values.forEach((value, index) => {
    const y = height - 4 - (value / peak) * (height - 12);
    if (index === 0) context.moveTo(0, y); else context.lineTo(index * step, y);
  });
  context.strokeStyle = "#4f46e5";
  context.lineWidth = 2;
  context.stroke();
  context.fillStyle = "#6b7385";
  context.font = "18px DejaVu Sans, sans-serif";
  context.fillText(`peak ${Math.max(...values, 0)}`, width - 110, 22);
}

// ------------------------------------------------------------------ simulation

async function startSimulation(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    await api("POST", "/api/simulations", { orders: Number(form.get("orders")), concurrency: Number(form.get("concurrency")) });
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
      await refreshOrders();
    });
  }
  const info = await api("GET", "/api/info");
  $("#store-url").textContent = info.store;
  await refreshOrders();
  await refreshSimulation();
  tick();
}

document.addEventListener("DOMContentLoaded", start);
