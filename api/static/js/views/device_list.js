// The fleet's device list (issue 39): keyset pages in any sort order (GET /api/devices/page), a
// last-contact column, a search by a stored parameter value, problem badges in words, and a
// multi-select that starts a campaign from the selection. The filters live in the URL's hash
// (#/devices/?region=DE&offline_hours=1), so the fleet view's bars link straight to a filtered list.

import * as api from "../api.js";
import { ago, badge, clear, fill, fmtTime, h, loading, toast } from "../dom.js";

const COLUMNS = [
  // [label, sort key or null]
  ["device", "id"], ["subscriber", "subscriber"], ["model / firmware", "model"], ["region", "region"],
  ["presence now", null], ["last contact", "last_seen"], ["problems", "problems"], ["work", null],
];
const FILTERS = ["q", "model", "firmware", "region", "param", "value", "offline_hours", "upstream", "status"];
const CLONE_KEY = "gateward.campaign.clone"; // what the campaigns form prefills from (campaigns.js)
export const SELECTION_KEY = "gateward.campaign.selection";

// Problem badges: a word, an icon glyph and a class, so that the meaning never rests on colour.
// offline / unreachable are the device's presence asked now (the one definition the fleet tiles and
// the device page use); "no contact for N h" is its silence, a fact of its own.
const BADGE = { case: ["▲", "b-warn"], outage: ["⚡", "b-bad"], offline: ["◌", "b-bad"], unreachable: ["◌", "b-warn"],
  silent: ["◔", "b-dim"] };

export function problemBadge(b) {
  const [glyph, cls] = BADGE[b.kind] || ["•", ""];
  return h("span", { class: `badge ${cls}`, "data-testid": "problem-badge", "data-kind": b.kind, title: b.label },
    h("span", { "aria-hidden": "true" }, `${glyph} `), b.label);
}

export function parseQuery(arg) {
  const i = (arg || "").indexOf("?");
  return new URLSearchParams(i >= 0 ? arg.slice(i + 1) : "");
}

export async function deviceList(root, ctx) {
  const query = parseQuery(ctx.arg);
  // by default the devices with a problem come first: the ones a person opens the list to find
  const state = { sort: query.get("sort") || "problems", desc: query.has("sort") ? query.get("desc") === "true" : false,
    limit: Math.min(500, Math.max(1, Number(query.get("limit")) || 50)), cursors: [null], page: 0, total: null, exact: true, selected: new Map(), items: [] };
  // The facet counts and the first page are asked at once (the page waited for the counts before it
  // asked for its rows): a filter's own value is its option until the counts fill the rest in.
  const facetsAsked = api.get("/api/devices/facets").catch(() => ({ models: {}, firmwares: {}, regions: {} }));
  const options = (label, values, chosen) => [h("option", { value: "" }, `any ${label}`),
    ...Object.entries(values).map(([v, n]) => h("option", { value: v }, `${v} (${n.toLocaleString()})`)),
    ...(chosen && !(chosen in values) ? [h("option", { value: chosen }, chosen)] : [])];
  const sel = (name, label) => h("select", { name, "aria-label": label, "data-testid": `filter-${name}` },
    options(label, {}, query.get(name)));
  const el = {
    q: h("input", { type: "search", name: "q", placeholder: "id, subscriber or model  ( / )", "data-focus": "slash", "aria-label": "search", "data-testid": "filter-q" }),
    model: sel("model", "model"), firmware: sel("firmware", "firmware"), region: sel("region", "region"),
    offline_hours: h("select", { name: "offline_hours", "aria-label": "last contact", "data-testid": "filter-offline" },
      h("option", { value: "" }, "any last contact"), [1, 6, 24, 72].map((n) => h("option", { value: n }, `silent ≥ ${n} h`))),
    param: h("input", { name: "param", placeholder: "parameter, e.g. Device.WiFi.SSID.1.SSID", "aria-label": "parameter path", "data-testid": "filter-param", size: 34, list: "param-paths" }),
    value: h("input", { name: "value", placeholder: "value", "aria-label": "parameter value", "data-testid": "filter-value", size: 14 }),
    upstream: h("input", { type: "hidden", name: "upstream" }), status: h("input", { type: "hidden", name: "status" }),
  };
  for (const k of FILTERS) if (query.get(k) !== null && el[k]) el[k].value = query.get(k);
  const paths = h("datalist", { id: "param-paths" }, ["Device.WiFi.SSID.1.SSID", "Device.WiFi.Radio.1.Channel",
    "Device.WiFi.Radio.2.Channel", "Device.WiFi.Radio.2.AutoChannelEnable", "Device.DeviceInfo.SoftwareVersion"].map((p) => h("option", { value: p })));
  const total = h("span", { class: "muted", "data-testid": "device-total" });
  const range = h("span", { class: "small", "data-testid": "page-range" });
  const prev = h("button", { "data-testid": "page-prev" }, "← Previous");
  const next = h("button", { "data-testid": "page-next" }, "Next →");
  const selInfo = h("span", { class: "small", "data-testid": "selection-count" });
  const campaignBtn = h("button", { class: "primary", "data-testid": "campaign-from-selection", disabled: true }, "Campaign from selection");
  const clearSel = h("button", { class: "link", "data-testid": "selection-clear" }, "clear");
  const allBox = h("input", { type: "checkbox", "aria-label": "select every device on this page", "data-testid": "select-page" });
  const head = h("tr");
  const body = h("tbody");
  const filterChip = h("span", { class: "small", "data-testid": "filter-upstream" });

  const drawHead = () => {
    fill(head, h("th", {}, allBox), COLUMNS.map(([label, key]) => {
      if (!key) return h("th", {}, label);
      const on = state.sort === key;
      const arrow = on ? (state.desc ? " ▼" : " ▲") : "";
      return h("th", { "aria-sort": on ? (state.desc ? "descending" : "ascending") : "none" },
        h("button", { class: "link sort", "data-testid": `sort-${key}`, onclick: () => {
          state.desc = on ? !state.desc : key === "last_seen";
          state.sort = key; restart();
        } }, label, arrow));
    }));
  };
  const params = () => {
    const p = { sort: state.sort, desc: state.desc, limit: state.limit };
    for (const k of FILTERS) if (el[k].value) p[k] = el[k].value;
    if (!p.param || !p.value) { delete p.param; delete p.value; }
    return p;
  };
  const drawSelection = () => {
    const n = state.selected.size;
    selInfo.textContent = n ? `${n} selected` : "select devices to start a campaign";
    campaignBtn.disabled = !n; clearSel.hidden = !n;
    allBox.checked = state.items.length > 0 && state.items.every((d) => state.selected.has(d.id));
  };
  const row = (d) => {
    const box = h("input", { type: "checkbox", "aria-label": `select ${d.id}`, "data-testid": "select-device", checked: state.selected.has(d.id) });
    box.addEventListener("change", () => { if (box.checked) state.selected.set(d.id, d); else state.selected.delete(d.id); drawSelection(); });
    return h("tr", { "data-testid": "device-row", "data-id": d.id },
      h("td", {}, box),
      h("td", {}, h("a", { href: `#/devices/${encodeURIComponent(d.id)}`, class: "mono" }, d.id)),
      h("td", {}, d.subscriber || "—"), h("td", {}, `${d.model} ${d.firmware}`), h("td", {}, d.region),
      h("td", { "data-testid": "presence-now", "data-state": d.presence }, badge(d.presence || "unknown")),
      h("td", { "data-testid": "last-contact", title: d.last_seen ? fmtTime(d.last_seen) : "never" }, ago(d.last_seen)),
      h("td", {}, h("div", { class: "badges" }, d.badges.length ? d.badges.map(problemBadge) : h("span", { class: "muted" }, "—"))),
      h("td", {}, d.busy ? h("span", { class: "badge b-info" }, "open proposal") : h("span", { class: "muted" }, "idle")));
  };
  const load = async () => {
    fill(body, h("tr", {}, h("td", { colspan: COLUMNS.length + 1 }, loading())));
    const p = params();
    const cursor = state.cursors[state.page];
    const mine = (state.seq = (state.seq || 0) + 1);  // typing fires several loads: only the newest may draw
    try {
      const res = await api.get("/api/devices/page", cursor ? { ...p, cursor } : p);
      if (mine !== state.seq) return;
      if (res.total !== null) { state.total = res.total; state.exact = res.total_exact; }
      state.items = res.items;
      if (res.next_cursor) state.cursors[state.page + 1] = res.next_cursor; else state.cursors.length = state.page + 1;
      clear(body);
      for (const d of res.items) body.append(row(d));
      if (!res.items.length) body.append(h("tr", {}, h("td", { colspan: COLUMNS.length + 1, class: "empty" }, "no device matches")));
      const n = state.total;
      total.textContent = n === null ? "" : state.exact ? `${n.toLocaleString()} device${n === 1 ? "" : "s"}`
        : n > 10000 ? `about ${n.toLocaleString()} devices` : `more than ${n.toLocaleString()} devices`;
      const first = state.page * state.limit + 1;
      range.textContent = res.items.length ? `showing ${first.toLocaleString()}–${(first + res.items.length - 1).toLocaleString()}` : "";
      prev.disabled = state.page === 0; next.disabled = !res.next_cursor;
      drawHead(); drawSelection();
    } catch (e) { if (mine === state.seq) fill(body, h("tr", {}, h("td", { colspan: COLUMNS.length + 1, class: "error" }, e.message))); }
  };
  const restart = () => {
    state.cursors = [null]; state.page = 0; state.total = null;
    const p = params(); if (p.limit === 50) delete p.limit;
    const qs = new URLSearchParams(Object.entries(p).map(([k, v]) => [k, String(v)])).toString();
    history.replaceState(null, "", `#/devices/?${qs}`);
    filterChip.textContent = el.upstream.value ? `on upstream ${el.upstream.value} ` : "";
    load();
  };
  prev.addEventListener("click", () => { if (state.page > 0) { state.page -= 1; load(); } });
  next.addEventListener("click", () => { if (state.cursors[state.page + 1]) { state.page += 1; load(); } });
  allBox.addEventListener("change", () => {
    for (const d of state.items) { if (allBox.checked) state.selected.set(d.id, d); else state.selected.delete(d.id); }
    for (const b of body.querySelectorAll("[data-testid=select-device]")) b.checked = allBox.checked;
    drawSelection();
  });
  clearSel.addEventListener("click", () => { state.selected.clear(); for (const b of body.querySelectorAll("[data-testid=select-device]")) b.checked = false; drawSelection(); });
  campaignBtn.addEventListener("click", () => campaignFromSelection([...state.selected.values()]));
  let timer = null;
  for (const k of FILTERS) {
    el[k].addEventListener(el[k].tagName === "INPUT" ? "input" : "change", () => { clearTimeout(timer); timer = setTimeout(restart, 250); });
  }
  fill(root, h("section", { class: "panel" },
    h("div", { class: "row spread" }, h("h2", {}, "Devices"), h("div", { class: "row" }, filterChip, total)),
    h("div", { class: "row" }, el.q, el.model, el.firmware, el.region, el.offline_hours),
    h("div", { class: "row" }, h("span", { class: "small muted" }, "stored value:"), el.param, h("span", {}, "="), el.value, paths),
    h("div", { class: "row spread selection-bar" }, h("div", { class: "row" }, selInfo, clearSel, campaignBtn), h("div", { class: "row" }, range, prev, next)),
    h("div", { class: "scroll list-fill" }, h("table", { "data-testid": "device-table", class: "device-list" }, h("thead", {}, head), body))));
  filterChip.textContent = el.upstream.value ? `on upstream ${el.upstream.value} ` : "";
  drawHead();
  const facetsFilled = facetsAsked.then((facets) => {
    for (const [name, values, label] of [["model", facets.models, "model"], ["firmware", facets.firmwares, "firmware"],
      ["region", facets.regions, "region"]]) {
      const chosen = el[name].value;
      fill(el[name], options(label, values, chosen));
      el[name].value = chosen;
    }
  });
  await Promise.all([load(), facetsFilled]);
  return null;
}

// The campaign targets exactly the selected ids (target.devices, read by campaigns.js); the
// selection's common model / firmware / region prefill the form beside them, for the change
// windows it shows and as a guard that must hold for each listed device.
function campaignFromSelection(devices) {
  const common = (k) => { const vs = new Set(devices.map((d) => d[k])); return vs.size === 1 ? [...vs][0] : undefined; };
  const target = { model: common("model"), firmware: common("firmware"), region: common("region") };
  const spec = { name: `${devices.length} selected device${devices.length === 1 ? "" : "s"}`.slice(0, 120),
    intent: "", target: Object.fromEntries(Object.entries(target).filter(([, v]) => v)) };
  sessionStorage.setItem(CLONE_KEY, JSON.stringify(spec));
  sessionStorage.setItem(SELECTION_KEY, JSON.stringify(devices.map((d) => d.id)));
  toast(`campaign form prefilled from ${devices.length} device${devices.length === 1 ? "" : "s"}`);
  location.hash = "#/campaigns/new";
}
