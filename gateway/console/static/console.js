// The gateway console: a small page over the admin API. Data is always inserted as text (never as markup).
"use strict";

const TOKEN_KEY = "gateway-admin-token";
const OFFICER_KEY = "gateway-officer";  // the name decisions are recorded under (X-Gateway-Actor console:NAME)
const TYPES = ["order", "payment", "logistics", "inventory", "declaration", "risk-alert", "receipt",
  "tax-payment", "inspection-result"];
const STATUSES = ["received", "waiting", "held", "accepted", "delivering", "retrying", "delivered", "failed",
  "rejected"];
let poller = null;

// DOM helpers -------------------------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "onclick" || key === "onsubmit") node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function table(headers, rows, id) {
  return el("table", { id },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
}

function badge(text) { return el("span", { class: `badge ${text}` }, text); }
function when(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC") : ""; }

function view(title, ...children) {
  const section = document.getElementById("view");
  // replaceChildren would write an absent part (null) as the text "null": leave absent parts out.
  section.replaceChildren(el("h2", {}, title), ...children.filter((c) => c !== null && c !== undefined && c !== false));
  section.hidden = false;
}

// API -------------------------------------------------------------------------------------------------------

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json", ...(options.headers || {}) },
  });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("The token was not accepted; sign in again.");
    throw new Error("unauthorized");
  }
  const body = await response.json();
  if (!response.ok && !options.allowError) throw new Error(`${body.error}: ${body.message}`);
  return { status: response.status, body };
}

// Pages -----------------------------------------------------------------------------------------------------

async function partnersPage() {
  const { body } = await api("/v1/admin/partners");
  const warnings = body.partners.filter((p) => p.status.startsWith("certificate-"));
  const rows = body.partners.map((p) => [
    el("a", { href: `#/messages?partner=${encodeURIComponent(p.id)}` }, p.id),
    p.name, p.role, p.country, p.format, badge(p.status),
    p.sends.join(", "), p.receives.join(", "),
    el("ul", {}, p.certificates.map((c) => el("li", {},
      el("span", { class: c.days_left < 0 ? "expired" : (c.expiring ? "expiring" : null) },
        `${c.file}: ${c.days_left} days left`), ` (until ${when(c.not_after)})`))),
    el("button", {
      type: "button", class: "suspend-toggle", "data-partner": p.id,
      onclick: () => toggleSuspend(p.id, !p.suspended),
    }, p.suspended ? "Resume" : "Suspend"),
  ]);
  view("Partners",
    warnings.length ? el("div", { class: "warning", id: "expiry-warning" },
      `Certificates expiring within ${body.certificate_warning_days} days: `,
      warnings.map((p) => `${p.id} (${p.status})`).join(", "),
      ". Add the next certificate: gateway partners rotate-cert ID NEW.crt") : null,
    table(["Partner", "Name", "Role", "Country", "Format", "Status", "Sends", "Receives", "Certificates", ""],
      rows, "partners-table"),
    el("p", { id: "partners-note", class: "notice" }));
}

async function toggleSuspend(id, suspend) {
  const { status, body } = await api(`/v1/admin/partners/${encodeURIComponent(id)}/${suspend ? "suspend" : "resume"}`,
    { method: "POST", allowError: true });
  await partnersPage();
  const note = document.getElementById("partners-note");
  note.className = status < 300 ? "notice" : "error";
  note.textContent = status < 300 ? body.detail : `${body.error}: ${body.message}`;
}

async function trafficPage() {
  const render = async () => {
    const { body } = await api("/v1/admin/traffic");
    const ingress = body.ingress.filter((r) => r.count > 0);
    view("Live traffic",
      el("p", {}, `Counts since this gateway process started; refreshed every 3 s (last ${when(body.time)}).`),
      el("h3", {}, "Received"),
      table(["Partner", "Type", "Outcome", "Count"],
        ingress.map((r) => [r.partner, r.type, badge(r.outcome), r.count]), "traffic-ingress"),
      el("h3", {}, "Senders and their quotas"),
      table(["Partner", "Accepted", "Rate-limited (429)", "Shed (503)", "In flight"],
        (body.senders || []).map((r) => [r.partner, r.accepted, r.rate_limited, r.shed, r.in_flight]),
        "traffic-senders"),
      el("h3", {}, "Deliveries"),
      table(["Receiver", "Outcome", "Count"],
        body.deliveries.filter((r) => r.count > 0).map((r) => [r.receiver, badge(r.outcome), r.count]),
        "traffic-deliveries"),
      el("h3", {}, "Queues"),
      table(["Receiver", "Queue", "Messages waiting"], body.queues.map((r) => [r.receiver, r.queue, r.depth]),
        "traffic-queues"));
  };
  await render();
  poller = setInterval(() => render().catch(showError), 3000);
}

// Charts: inline SVG drawn here (no library, nothing fetched but the admin API) -----------------------------

const SVG_NS = "http://www.w3.org/2000/svg";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function hhmm(ms) { return new Date(ms).toISOString().slice(11, 16); }

function niceMax(value) {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * step).find((m) => m >= value);
}

// One line per series over the window; a gap where a value is absent (null). ``label`` formats the y axis.
function lineChart(id, title, series, window, label, xLabel) {
  const [width, height, left, right, top, bottom] = [900, 230, 64, 16, 14, 30];
  const n = window.buckets;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null))));
  const x = (i) => left + (n > 1 ? (i * (width - left - right)) / (n - 1) : 0);
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const chart = svg("svg", { id, class: "chart", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": title });
  for (const v of [0, max / 2, max]) {
    chart.append(svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), stroke: "#d8dde3" }),
      svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#55606b" }, label(v)));
  }
  const start = Date.parse(window.since);
  for (const [i, anchor] of [[0, "start"], [Math.floor((n - 1) / 2), "middle"], [n - 1, "end"]]) {
    chart.append(svg("text", { x: x(i), y: height - 10, "text-anchor": anchor, "font-size": 11, fill: "#55606b" },
      (xLabel || ((ms) => `${hhmm(ms)} UTC`))(start + i * window.bucket_seconds * 1000)));
  }
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    let run = [];
    const flush = () => {
      if (run.length === 1) chart.append(svg("circle", { cx: run[0][0], cy: run[0][1], r: 2.5, fill: color }));
      if (run.length > 1) {
        chart.append(svg("polyline", { points: run.map((p) => p.join(",")).join(" "), fill: "none", stroke: color,
          "stroke-width": 2, "data-series": s.name }));
      }
      run = [];
    };
    s.values.forEach((v, i) => { if (v === null) flush(); else run.push([x(i).toFixed(1), y(v).toFixed(1)]); });
    flush();
  });
  const legend = el("ul", { class: "legend", id: `${id}-legend` }, series.map((s, k) =>
    el("li", { "data-series": s.name }, el("span", { class: `swatch c${k % COLORS.length}` }), ` ${s.name} ${s.note}`)));
  return el("figure", { class: "chart" }, el("figcaption", {}, title), chart, legend);
}

function seconds(v) { return v >= 1 ? `${v.toFixed(v >= 10 ? 0 : 1)} s` : `${Math.round(v * 1000)} ms`; }

async function chartsPage() {
  const render = async () => {
    const { body } = await api("/v1/admin/traffic/history?minutes=60");
    const received = body.received.map((s) => ({ name: s.partner, values: s.counts, note: `(${s.total} received)` }));
    const delivered = body.delivered.map((s) => ({ name: s.partner, values: s.counts, note: `(${s.total} delivered)` }));
    const latency = body.delivered.map((s) => {
      const known = s.latency_max.filter((v) => v !== null);
      return { name: s.partner, values: s.latency_avg, note: known.length ? `(slowest ${seconds(Math.max(...known))})` : "" };
    });
    const count = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
    const none = (id, text) => el("p", { id, class: "notice" }, text);
    view("Charts",
      el("p", {}, `The last hour by minute, from the message store (every worker and instance); refreshed every 10 s `,
        `(until ${when(body.until)}).`),
      el("h3", {}, "Messages received per sender"),
      received.length ? lineChart("chart-received", "Messages received per sender and minute", received, body, count)
        : none("chart-received-none", "No message received in the last hour."),
      el("h3", {}, "Deliveries per receiver"),
      delivered.length ? lineChart("chart-delivered", "Deliveries per receiver and minute", delivered, body, count)
        : none("chart-delivered-none", "Nothing delivered in the last hour."),
      el("h3", {}, "Delivery latency (receipt at ingress to delivery, average per minute)"),
      latency.length ? lineChart("chart-latency", "Average delivery latency per receiver and minute", latency, body,
        seconds) : none("chart-latency-none", "Nothing delivered in the last hour."));
  };
  await render();
  poller = setInterval(() => render().catch(showError), 10000);
}

async function messagesPage(params) {
  const form = el("form", { class: "search", id: "search" },
    el("label", {}, "Message id", el("input", { name: "id", value: params.get("id") || "", size: 38 })),
    el("label", {}, "Partner", el("input", { name: "partner", value: params.get("partner") || "" })),
    el("label", {}, "Type", select("type", TYPES, params.get("type"))),
    el("label", {}, "Status", select("status", STATUSES, params.get("status"))),
    el("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    if (data.get("id")) { location.hash = `#/message/${encodeURIComponent(data.get("id"))}`; return; }
    const query = new URLSearchParams([...data.entries()].filter(([, v]) => v));
    location.hash = `#/messages?${query}`;
  });
  const query = new URLSearchParams(["partner", "type", "status"].filter((k) => params.get(k))
    .map((k) => [k, params.get(k)]));
  const { body } = await api(`/v1/admin/messages?${query}`);
  view("Messages", form, messageTable(body.messages, false));
}

function select(name, values, chosen) {
  return el("select", { name }, el("option", { value: "" }, "any"),
    values.map((v) => el("option", { value: v, selected: v === chosen }, v)));
}

function messageTable(messages, withRetry) {
  return table(["Gateway id", "Sender", "Sender's id", "Type", "Status", "Receivers", "Reason", "Updated",
    ...(withRetry ? [""] : [])],
  messages.map((m) => [
    el("a", { href: `#/message/${encodeURIComponent(m.id)}` }, m.id), m.sender, m.sender_message_id || "",
    m.type || "", badge(m.status), m.receivers.join(", "), m.code ? `${m.code}: ${m.reason}` : (m.reason || ""),
    when(m.updated),
    ...(withRetry ? [el("button", { type: "button", class: "retry", "data-message": m.id,
      onclick: () => retry(m.id) }, "Retry")] : []),
  ]), "messages-table");
}

async function messagePage(id) {
  const { status, body } = await api(`/v1/admin/messages/${encodeURIComponent(id)}`, { allowError: true });
  if (status === 404) { view("Message", el("p", { class: "error" }, body.message)); return; }
  view(`Message ${body.id}`,
    table(["Sender", "Sender's id", "Type", "Status", "Receivers", "Created"],
      [[body.sender, body.sender_message_id || "", body.type || "", badge(body.status), body.receivers.join(", "),
        when(body.created)]], "message-summary"),
    body.status === "failed" ? el("button", { type: "button", class: "retry", "data-message": body.id,
      onclick: () => retry(body.id) }, "Retry failed deliveries") : null,
    el("p", { id: "retry-result" }),
    el("h3", {}, "Deliveries"),
    table(["Receiver", "Status", "Attempts", "Reason", "Next attempt", "Updated"],
      body.deliveries.map((d) => [d.receiver, badge(d.status), d.attempts, d.reason || "", when(d.next_attempt),
        when(d.updated)]), "message-deliveries"),
    el("h3", {}, "History"),
    table(["At", "Status", "Actor", "Receiver", "Reason"],
      body.history.map((e) => [when(e.at), badge(e.status), e.actor, e.receiver || "", e.reason || ""]),
      "message-history"),
    body.type === "inspection-result" ? el("section", { id: "inspection" }) : null);
  if (body.type === "inspection-result") await inspectionSection(body.id);
}

// Inspection results: the fields, then the images as thumbnails (PNG previews made by the gateway, so TIFF
// scans show too); a click shows the image full size (the original for PNG/JPEG, a large preview for TIFF).
// Images are fetched with the token and shown through blob: URLs (an <img src> cannot send the token).

async function imageURL(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` } });
  if (!response.ok) throw new Error(`${response.status}`);
  return URL.createObjectURL(await response.blob());
}

function kb(bytes) { return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`; }

async function showFull(image) {
  const overlay = document.getElementById("image-full") || document.body.appendChild(
    el("div", { id: "image-full", class: "overlay", onclick: () => { overlay.hidden = true; } }));
  overlay.replaceChildren(el("p", {}, `Loading ${image.id} (${kb(image.size)})…`));
  overlay.hidden = false;
  const original = image.media_type !== "image/tiff";
  const url = await imageURL(`/v1/admin/images/${image.sha256}${original ? "" : "?preview=2048"}`);
  overlay.replaceChildren(
    el("p", {}, `${image.id}: ${image.type}, ${image.media_type}, ${kb(image.size)}`,
      original ? "" : " (TIFF: shown as a 2048-pixel preview)", ". Click to close."),
    el("img", { src: url, alt: `${image.id} full size`, id: "image-full-img", class: "full" }));
}

async function inspectionSection(id) {
  const section = document.getElementById("inspection");
  const { status, body } = await api(`/v1/admin/messages/${encodeURIComponent(id)}/inspection`, { allowError: true });
  if (status !== 200) { section.replaceChildren(el("p", { class: "error" }, body.message)); return; }
  const gallery = el("div", { id: "inspection-images", class: "gallery" });
  section.replaceChildren(
    el("h3", {}, `Inspection result ${body.reference}`),
    table(["Inspected", "Where", "Methods", "Declaration", "Waybill", "Outcome", "Officer", "Authority"],
      [[when(body.inspected), body.location || "", body.methods.join(", "), body.declaration || "",
        body.waybill || "", badge(body.outcome), body.officer || "", body.authority || ""]], "inspection-summary"),
    body.outcome_description ? el("p", {}, body.outcome_description) : null,
    table(["Finding", "Description", "Images"],
      body.findings.map((f) => [f.code, f.description, f.images.join(", ")]), "inspection-findings"),
    el("h3", {}, `Images (${body.images.length})`),
    gallery);
  for (const image of body.images) {
    const figure = el("figure", { class: "thumb", "data-image": image.id },
      el("figcaption", {}, `${image.id} · ${image.type} · ${image.media_type} · ${kb(image.size)}`),
      el("p", { class: "digest" }, `sha256 ${image.sha256.slice(0, 16)}…`));
    gallery.append(figure);
    try {
      const url = await imageURL(`/v1/admin/images/${image.sha256}?preview=240`);
      figure.prepend(el("img", { src: url, alt: `${image.id} thumbnail`, title: "click: full size",
        onclick: () => showFull(image) }));
    } catch (error) {
      figure.prepend(el("p", { class: "error" }, `no preview (${error.message})`));
    }
  }
}

async function failedPage() {
  const { body } = await api("/v1/admin/messages?status=failed");
  view("Dead-lettered messages",
    el("p", {}, "Messages whose delivery failed for good. Retry publishes them again to the receivers they failed for."),
    el("p", { id: "retry-result" }),
    body.messages.length ? messageTable(body.messages, true) : el("p", { id: "no-failed" }, "None."));
}

async function retry(id) {
  const { status, body } = await api(`/v1/admin/messages/${encodeURIComponent(id)}/retry`,
    { method: "POST", allowError: true });
  await route();
  const result = document.getElementById("retry-result");
  result.className = status < 300 ? "notice" : "error";
  result.textContent = status < 300 ? `Message ${id}: ${body.message}` : `${body.code}: ${body.message}`;
}

// Watch list of non-compliant goods: held messages with Release / Refuse, decisions, shares per platform/seller

function hitsText(hits) {
  return hits.map((h) => `${h.entry} (${[h.brand, h.model].filter((x) => x).join(" ") || h.category || h.hs}; `
    + `item ${h.item} by ${h.by}${h.hazard ? `; ${h.hazard}` : ""})`).join("; ");
}

function percent(share) {
  return el("span", { class: share >= 0.05 ? "share high" : "share" }, `${(share * 100).toFixed(1)} %`);
}

async function watchlistPage() {
  const { status, body: held } = await api("/v1/admin/watchlist/holds?state=held,releasing,refusing&limit=200",
    { allowError: true });
  if (status === 409) { view("Watch list", el("p", { class: "notice", id: "watchlist-off" }, held.message)); return; }
  const { body: recent } = await api("/v1/admin/watchlist/holds?state=released,refused,alerted&limit=50");
  const { body: list } = await api("/v1/admin/watchlist?limit=0");
  const shares = {};
  for (const by of ["platform", "seller"]) shares[by] = (await api(`/v1/admin/watchlist/monitoring?by=${by}&days=30`)).body;
  const decision = (h) => {
    if (h.state !== "held") return badge(h.state);
    const note = el("input", { class: "note", placeholder: "note (kept with the decision)", "aria-label": "note",
      "data-message": h.message_id });
    return el("span", {}, note, " ",
      el("button", { type: "button", class: "release", "data-message": h.message_id,
        onclick: () => decide(h.message_id, "release", note.value) }, "Release"), " ",
      el("button", { type: "button", class: "refuse", "data-message": h.message_id,
        onclick: () => decide(h.message_id, "refuse", note.value) }, "Refuse"));
  };
  const shareTable = (by) => table(
    [by === "platform" ? "Platform (ebpCode)" : "Seller", "Consignments", "Held", "Refused", "Alerted", "Held share",
      "Refused share", "Alerted share"],
    shares[by].groups.map((g) => [g[by] || "(none)", g.total, g.held, g.refused, g.alerted, percent(g.held_share),
      percent(g.refused_share), percent(g.alerted_share)]), `watch-${by}s`);
  const officer = el("input", { id: "officer", value: sessionStorage.getItem(OFFICER_KEY) || "", size: 20,
    pattern: "[A-Za-z0-9._@$-]{1,64}", placeholder: "e.g. li.wei" });
  officer.addEventListener("change", () => sessionStorage.setItem(OFFICER_KEY, officer.value.trim()));
  // Over time: one line per platform (the five riskiest), its share per day; null where it had no consignment.
  const days = shares.platform.days;
  const since = Date.parse(`${shares.platform.since}T00:00:00Z`);
  const window = { buckets: days, since: shares.platform.since, bucket_seconds: 86400 };
  const dayOf = (iso) => Math.round((Date.parse(`${iso}T00:00:00Z`) - since) / 86400000);
  const overTime = (measure) => shares.platform.groups.slice(0, 5).map((g) => {
    const values = new Array(days).fill(null);
    for (const d of g.days) values[dayOf(d.day)] = d[`${measure}_share`];
    return { name: g.platform || "(none)", values, note: `(${(g[`${measure}_share`] * 100).toFixed(1)} % of ${g.total})` };
  });
  const pct = (v) => `${Math.round(v * 100)} %`;
  const date = (ms) => new Date(ms).toISOString().slice(5, 10);
  const charts = shares.platform.groups.length ? ["held", "refused", "alerted"].map((m) =>
    lineChart(`chart-watch-${m}`, `Share of consignments ${m} per platform and day`, overTime(m), window, pct, date))
    : [el("p", { id: "watch-no-traffic", class: "notice" }, "No consignment screened in the last 30 days.")];
  view("Watch list of non-compliant goods",
    el("p", {}, `${list.total} entries in force from ${list.folder}. Messages whose goods match a hold entry wait `,
      "here for a decision: Release sends them on to their receivers, Refuse answers the sender with its rejection ",
      "receipt (non-compliant). Each decision is recorded in the message's history under your name."),
    el("label", {}, "Your name (decisions are recorded as console:NAME) ", officer),
    el("p", { id: "decision-result" }),
    el("h3", {}, "Held, awaiting a decision"),
    held.holds.length ? table(["Gateway id", "Sender", "Type", "Platform", "Seller", "Watch-list hits", "Held since",
      "Decision"], held.holds.map((h) => [el("a", { href: `#/message/${encodeURIComponent(h.message_id)}` },
      h.message_id), h.sender, h.type, h.platforms.join(", "), h.sellers.join(", "), hitsText(h.hits),
      when(h.created), decision(h)]), "watch-held") : el("p", { id: "watch-none-held" }, "None."),
    el("h3", {}, "Recent decisions and alerts"),
    recent.holds.length ? table(["Gateway id", "Sender", "Type", "State", "By", "Note", "Watch-list hits", "At"],
      recent.holds.map((h) => [el("a", { href: `#/message/${encodeURIComponent(h.message_id)}` }, h.message_id),
        h.sender, h.type, badge(h.state), h.decided_by || "", h.note || "", hitsText(h.hits), when(h.updated)]),
    "watch-recent") : el("p", { id: "watch-none-recent" }, "None."),
    el("h3", {}, "Per e-commerce platform, last 30 days"),
    shareTable("platform"),
    ...charts,
    el("h3", {}, "Per seller, last 30 days"),
    shareTable("seller"));
}

async function decide(id, decision, note) {
  const name = (document.getElementById("officer")?.value || "").trim();
  if (name) sessionStorage.setItem(OFFICER_KEY, name);
  const actor = name ? { "X-Gateway-Actor": `console:${name}` } : {};
  const { status, body } = await api(`/v1/admin/watchlist/holds/${encodeURIComponent(id)}/${decision}`, {
    method: "POST", allowError: true, headers: { "Content-Type": "application/json", ...actor },
    body: JSON.stringify(note ? { note } : {}),
  });
  await route();
  const result = document.getElementById("decision-result");
  result.className = status < 300 ? "notice" : "error";
  result.textContent = status < 300 ? `Message ${id}: ${body.state} by ${body.decided_by}.` : `${body.error}: ${body.message}`;
}

async function auditPage() {
  const { body } = await api("/v1/admin/config-events?limit=200");
  const json = (value) => value ? el("details", {}, el("summary", {}, "show"),
    el("pre", {}, JSON.stringify(value, null, 2))) : "";
  view("Configuration log",
    table(["At", "Who", "Action", "Partner", "Detail", "Before", "After"],
      body.events.map((e) => [when(e.at), e.actor, badge(e.action), e.partner || "", e.detail || "",
        json(e.before), json(e.after)]), "audit-table"));
}

// Navigation ------------------------------------------------------------------------------------------------

const PAGES = { partners: partnersPage, traffic: trafficPage, charts: chartsPage, messages: messagesPage,
  failed: failedPage, watchlist: watchlistPage, audit: auditPage };

async function route() {
  if (poller) { clearInterval(poller); poller = null; }
  if (!sessionStorage.getItem(TOKEN_KEY)) { showLogin(); return; }
  document.getElementById("login").hidden = true;
  document.getElementById("nav").hidden = false;
  const [path, search] = (location.hash.replace(/^#\/?/, "") || "partners").split("?");
  const [page, ...rest] = path.split("/");
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.page === page);
  try {
    if (page === "message") await messagePage(decodeURIComponent(rest.join("/")));
    else await (PAGES[page] || partnersPage)(new URLSearchParams(search || ""));
  } catch (error) { showError(error); }
}

function showError(error) {
  if (error.message === "unauthorized") return;
  view("Error", el("p", { class: "error" }, error.message));
}

function showLogin(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("view").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    document.getElementById("token").value = "";
    if (!location.hash) location.hash = "#/partners";
    await route();
  });
  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("Signed out.");
  });
  window.addEventListener("hashchange", route);
  route();
});
