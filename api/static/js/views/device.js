// Devices: a filterable fleet list, and one device's page — parameters (snapshot or live),
// telemetry plots, events, topology neighbourhood (upstream chain, siblings, Wi-Fi air).

import * as api from "../api.js";
import { ago, badge, clear, fmtTime, fmtValue, h, kv, lastHeard, loading, presenceBadge, presenceNow, s, toast, fill } from "../dom.js";
import { chartsFor } from "../chart.js";
import { onChange, touches } from "../live.js";
import { deviceList } from "./device_list.js";
import { actionBar, eventList, paramTree, workAndFaults } from "./device_page.js";

export async function devicesView(root, ctx) {
  if (ctx.arg && !ctx.arg.startsWith("?")) {
    // The page follows the device: an apply, a rollback or a new snapshot updates what it shows in
    // place — the tree as expanded, the filter, the history window and any form being typed stay.
    const id = decodeURIComponent(ctx.arg);
    let page = await devicePage(root, id, ctx);
    let running = null;
    let again = false;
    const follow = async () => {
      if (running) { again = true; return; }  // one update at a time, the last change never missed
      do {
        again = false;
        running = page ? page.update() : devicePage(root, id, ctx, true).then((p) => { page = p; });
        await running;
      } while (again);
      running = null;
    };
    return onChange((c) => { if (touches(c, { device: id })) follow(); });
  }
  return deviceList(root, ctx);
}

// One device's page. Returns { update } (re-reads the device and updates the parts that follow it,
// never the forms), or null when the device could not be read.
async function devicePage(root, id, ctx, quiet = false) {
  if (!quiet) fill(root, loading());
  // The history and the neighbourhood are asked with the device, not once it has answered: one round
  // trip, not two (used below when the device is the one asked for, under that id).
  const enc = encodeURIComponent(id);
  const early = quiet ? null : { hist: api.get(`/api/devices/${enc}/history`, { hours: 48 }), topo: api.get(`/api/devices/${enc}/topology`) };
  early?.hist.catch(() => {}); early?.topo.catch(() => {});  // each error is its panel's to show
  let d;
  try { d = await api.get(`/api/devices/${enc}`); } catch (e) {
    if (!quiet) fill(root, e.status === 404 ? unknownDevice(id) : h("p", { class: "error" }, e.message));
    return null;
  }
  const dev = d.device;
  const badges = h("div", { class: "row" });
  const infoBox = h("div");
  const paramsBox = h("div");
  const histBox = h("div", {}, loading());
  const topoBox = h("div", {}, loading());
  const tree = paramTree(dev);
  const workBox = h("div", {}, workAndFaults(d, []));
  const hours = h("select", { "aria-label": "history window", "data-testid": "history-hours" },
    [24, 48, 168].map((n) => h("option", { value: n, selected: n === 48 }, n < 48 ? `${n} h` : `${n / 24} days`)));
  const drawInfo = () => {
    const v = d.device;
    fill(badges, presenceBadge(d.presence), d.busy ? badge("busy") : null,
      h("a", { href: `#/support/${encodeURIComponent(v.id)}` }, "Open in support"));
    fill(infoBox, kv([
      ["subscriber", v.subscriber || "—"], ["vendor · model", `${v.vendor} ${v.model} (${v.product_class || "—"})`],
      ["firmware", v.firmware], ["serial · OUI", `${v.serial} · ${v.oui}`], ["region · service", `${v.region} · ${v.service}`],
      ["protocol · root · adapter", `${v.protocol} · ${v.root} · ${v.adapter}`], ["tags", (v.tags || []).join(", ") || "—"],
      // two facts: what the protocol says now, asked at this read, and the newest inform or
      // message the device sent (a CWMP device stays online between its periodic informs)
      ["presence now", h("span", {}, h("span", { "data-testid": "presence-now" }, presenceNow(d.presence)),
        d.presence?.detail ? h("div", { class: "muted small" }, d.presence.detail) : null)],
      [lastHeard(v)[0], h("span", { "data-testid": "last-heard" }, lastHeard(v)[1])],
      ["lock", d.lock ? `held by ${d.lock.proposal_id} since ${fmtTime(d.lock.since)}` : "none"]]),
      h("h3", {}, "compatibility"), h("div", { class: "row", "data-testid": "compat" },
        Object.entries(d.compat?.workflows || {}).map(([wf, st]) => h("span", {}, `${wf} `, badge(st))),
        h("span", { class: "muted small" }, `(${d.compat?.source || "?"} row of the matrix)`)),
      h("h3", {}, "proposals"), d.recent_proposals.length ? h("ul", {}, d.recent_proposals.map((p) => h("li", {},
        h("a", { href: `#/approvals/${encodeURIComponent(p.id)}`, class: "mono" }, p.id), " ", badge(p.state), ` ${p.intent} `,
        h("span", { class: "muted small" }, `${p.author}, ${ago(p.updated_at)}`)))) : h("p", { class: "muted" }, "none"));
  };
  fill(root,
    h("div", { class: "row spread" }, h("h1", { class: "mono", "data-testid": "device-title" }, dev.id), badges),
    h("div", { class: "grid-2" },
      h("section", { class: "panel" }, h("h2", {}, "Device"), infoBox),
      h("section", { class: "panel" }, h("h2", {}, "Neighbourhood"), topoBox)),
    actionBar(dev, () => tree.refreshAll()),
    h("section", { class: "panel" }, h("h2", {}, "Pending work and faults"), workBox),
    h("section", { class: "panel" }, h("div", { class: "row spread" }, h("h2", {}, "History"), hours), histBox),
    h("section", { class: "panel" }, h("h2", {}, "Parameter tree"), tree.el),
    h("section", { class: "panel" }, h("h2", {}, "All parameters"), paramsBox));
  drawInfo();

  const params = renderParams(paramsBox, dev.id, d.parameters);
  let histSeq = 0;  // only the newest history load draws (the window can change while one is out)
  const loadHistory = async (quiet = false) => {
    const mine = ++histSeq;
    if (!quiet) fill(histBox, loading());
    const asked = early && dev.id === id && hours.value === "48" ? early.hist : null;
    if (early) early.hist = null;  // the first load only: a later one asks again
    try {
      const hist = await (asked || api.get(`/api/devices/${encodeURIComponent(dev.id)}/history`, { hours: hours.value }));
      if (mine !== histSeq) return;
      fill(histBox, hist.series.length ? chartsFor(hist) : h("p", { class: "muted" }, "no telemetry in this window"),
        h("h3", {}, `events (${hist.events.length})`), eventList(hist.events));
      fill(workBox, workAndFaults(d, hist.events));
    } catch (e) { if (mine === histSeq && !quiet) fill(histBox, h("p", { class: "error" }, e.message)); }
  };
  hours.addEventListener("change", () => loadHistory());
  loadHistory();
  (early && dev.id === id ? early.topo : api.get(`/api/devices/${encodeURIComponent(dev.id)}/topology`))
    .then((t) => fill(topoBox, renderTopology(t)))
    .catch((e) => fill(topoBox, h("p", { class: "error" }, e.message)));
  const update = async () => {
    if (!root.contains(badges)) return;  // the page was left
    try { d = await api.get(`/api/devices/${encodeURIComponent(id)}`); } catch { return; }  // the header says why
    drawInfo();
    params.update(d.parameters);
    await Promise.all([tree.refreshStored(), loadHistory(true)]);
  };
  return { update };
}

// A device id the fleet does not have (a stale link, a typo): said in the console's words, with the
// search that may find it — not the API's hint for the command line.
function unknownDevice(id) {
  return h("section", { class: "panel", "data-testid": "unknown-device" },
    h("h1", {}, "No such device"),
    h("p", {}, "The fleet has no device ", h("span", { class: "mono" }, id), "."),
    h("p", {}, h("a", { href: `#/devices/?q=${encodeURIComponent(id.slice(0, 100))}`, "data-testid": "unknown-device-search" },
      "Search the device list for it"), " — by id, subscriber or model — or ", h("a", { href: "#/devices/" }, "see every device"), "."));
}

function renderParams(box, id, snapshot) {
  const filter = h("input", { type: "search", placeholder: "filter paths, e.g. WiFi.Radio", "data-testid": "param-filter", "aria-label": "filter parameters" });
  const liveBtn = h("button", { "data-testid": "param-live" }, "Read live from the device");
  const source = h("span", { class: "muted small" }, "last stored snapshot");
  const count = h("span", { class: "small", "data-testid": "param-count" });
  const body = h("tbody");
  let rows = snapshot || [];
  const draw = () => {
    const f = filter.value.trim().toLowerCase();
    clear(body);
    const matching = rows.filter((p) => !f || p.path.toLowerCase().includes(f));
    const shown = matching.slice(0, 500);
    count.textContent = `${rows.length} parameter${rows.length === 1 ? "" : "s"}` + (f ? `, ${matching.length} match` : "")
      + (shown.length < matching.length ? ` (first ${shown.length} shown)` : "");
    for (const p of shown) body.append(h("tr", { "data-testid": "param-row", "data-path": p.path }, h("td", { class: "path" }, p.path,
      p.native ? h("div", { class: "muted small", "data-testid": "param-native" }, `on the device: ${p.native}`) : null),
      h("td", { class: "mono", "data-testid": "param-value" }, fmtValue(p.value)), h("td", { class: "muted small" }, p.type)));
    if (!shown.length) body.append(h("tr", {}, h("td", { colspan: 3, class: "empty" }, "no parameter matches")));
  };
  filter.addEventListener("input", draw);
  // After a change: the stored snapshot again (the filter kept); it holds what was just applied.
  const update = (fresh) => {
    rows = fresh || [];
    source.textContent = "last stored snapshot";
    draw();
  };
  liveBtn.addEventListener("click", async () => {
    liveBtn.disabled = true;
    source.textContent = "reading…";
    try {
      const res = await api.get(`/api/devices/${encodeURIComponent(id)}/parameters`, { live: true, prefix: "Device." });
      if (res.live_error) { source.textContent = `live read failed: ${res.live_error}`; return; }
      rows = res.live;
      source.textContent = `read live ${new Date().toLocaleTimeString()}`;
      draw();
    } catch (e) { source.textContent = e.message; } finally { liveBtn.disabled = false; }
  });
  fill(box, h("div", { class: "row" }, filter, liveBtn, count, source),
    h("div", { class: "scroll" }, h("table", { "data-testid": "param-table" }, h("thead", {}, h("tr", {}, h("th", {}, "path"), h("th", {}, "value"), h("th", {}, "type"))), body)));
  draw();
  return { update };
}

function renderTopology(t) {
  const chain = [...(t.upstream || [])].reverse(); // OLT / CMTS first, then PON port
  const W = 470, rowH = 34, boxW = 200, boxH = 24;
  const nodes = [...chain.map((n) => ({ label: `${n.kind}: ${n.label}`, cls: "" }))];
  if (t.building) nodes.push({ label: `building: ${t.building.label}`, cls: "" });
  nodes.push({ label: t.device_id, cls: "self" });
  const height = nodes.length * rowH + 10;
  const svg = s("svg", { viewBox: `0 0 ${W} ${height}`, width: W, height, class: "topo", role: "img", "aria-label": "upstream chain" });
  nodes.forEach((n, i) => {
    const y = 6 + i * rowH;
    if (i > 0) svg.append(s("line", { x1: 20 + boxW / 2, y1: y - rowH + boxH, x2: 20 + boxW / 2, y2: y }));
    svg.append(s("g", { class: `node ${n.cls}` }, s("rect", { x: 20, y, width: boxW, height: boxH, rx: 4 }),
      s("text", { x: 28, y: y + 17 }, n.label.length > 30 ? `${n.label.slice(0, 29)}…` : n.label)));
  });
  const sibs = t.siblings || [];
  const trouble = sibs.filter((x) => Object.keys(x.events_24h || {}).length);
  svg.append(s("text", { x: 230, y: 6 + (nodes.length - 1) * rowH + 17 },
    `+ ${sibs.length} other gateway${sibs.length === 1 ? "" : "s"} here, ${trouble.length} with trouble`));
  const uh = t.upstream_health;
  const outage = uh?.suspected_outage ? h("p", { class: "badge b-bad", "data-testid": "suspected-outage" },
    `suspected upstream problem: ${uh.degraded_siblings} of ${uh.siblings} neighbours degraded`) : null;
  const neighbours = t.wifi_neighbors || [];
  return h("div", { "data-testid": "topology" }, svg, outage,
    h("h3", {}, `gateways on the same upstream (${sibs.length})`),
    sibs.length ? h("div", { class: "scroll" }, h("table", {}, h("tbody", {}, sibs.map((x) => h("tr", {},
      h("td", {}, h("a", { href: `#/devices/${encodeURIComponent(x.id)}`, class: "mono small" }, x.id)), h("td", { class: "small" }, `${x.model} ${x.firmware}`),
      h("td", { class: "small" }, Object.entries(x.events_24h || {}).map(([k, n]) => `${k} ×${n}`).join(", ") || h("span", { class: "muted" }, "quiet"))))))) : h("p", { class: "muted" }, "none"),
    h("h3", {}, `Wi-Fi neighbours heard (${neighbours.length})`),
    neighbours.length ? h("div", { class: "scroll" }, h("table", { "data-testid": "wifi-neighbours" },
      h("thead", {}, h("tr", {}, ["SSID (untrusted text)", "band", "channel", "RSSI"].map((c) => h("th", {}, c)))),
      h("tbody", {}, neighbours.slice(0, 60).map((n) => h("tr", {}, h("td", {}, n.ssid, n.managed_device_id ? h("span", { class: "muted small" }, " (ours)") : null),
        h("td", {}, n.band), h("td", { class: "num" }, n.channel), h("td", { class: "num" }, `${n.rssi_dbm} dBm`)))))) : h("p", { class: "muted" }, "none"));
}
