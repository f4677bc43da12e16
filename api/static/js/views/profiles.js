// Provisioning profiles (issue 39): the versioned baselines zero-touch provisioning applies,
// which devices each is chosen for, what it sets, and the conflicts that hold devices back.

import * as api from "../api.js";
import { fill, fmtValue, h, loading } from "../dom.js";

function matchWords(m) {
  const parts = [["vendor", m.vendors], ["model", m.models], ["region", m.regions], ["service", m.services]]
    .filter(([, v]) => v && v.length).map(([k, v]) => `${k} ${v.join(" or ")}`);
  return parts.length ? parts.join(", ") : "every device";
}

function devicesHref(m) {
  const q = new URLSearchParams();
  if ((m.models || []).length === 1) q.set("model", m.models[0]);
  if ((m.regions || []).length === 1) q.set("region", m.regions[0]);
  return `#/devices/?${q}`;
}

export async function profilesView(root) {
  fill(root, loading());
  let list, check;
  try {
    [list, check] = await Promise.all([api.get("/api/remediation/profiles"), api.get("/api/remediation/profiles/check")]);
  } catch (e) { fill(root, h("p", { class: "error" }, e.message)); return null; }
  const held = check.fleet || [];
  const conflicts = check.pairs || [];
  fill(root, h("div", { class: "row spread" }, h("h1", {}, `Provisioning profiles (${list.total})`),
    h("span", { class: conflicts.length ? "badge b-bad" : "badge b-ok", "data-testid": "profiles-status" },
      conflicts.length ? `⚠ ${conflicts.length} conflict${conflicts.length === 1 ? "" : "s"}` : "✓ no conflicts")),
  conflicts.length ? h("section", { class: "panel", "data-testid": "profile-conflicts" }, h("h2", {}, "Conflicts"),
    h("p", { class: "muted small" }, "Two profiles that could match one device and set a parameter differently: such devices are not provisioned until the profiles agree."),
    h("ul", {}, conflicts.map((c) => h("li", {}, `${c.a} v${c.a_version} vs ${c.b} v${c.b_version}: ${c.text}`))),
    held.length ? h("ul", { class: "small", "data-testid": "held-back" }, held.map((c) => h("li", {},
      `${c.devices} device${c.devices === 1 ? "" : "s"} (${c.vendor} ${c.model}, ${c.region}, ${c.service}) held back: `, c.conflicts.map((x) => x.text).join("; ")))) : null) : null,
  list.items.map((p) => h("section", { class: "panel", "data-testid": "profile", "data-id": p.id },
    h("div", { class: "row spread" }, h("h2", { class: "mono" }, `${p.id} v${p.version}`),
      h("a", { href: devicesHref(p.match || {}) }, "matching devices")),
    p.description ? h("p", {}, p.description) : null,
    h("p", { class: "small" }, h("strong", {}, "chosen for: "), matchWords(p.match || {})),
    h("table", { class: "kv" }, Object.entries(p.parameters).sort().map(([path, v]) => h("tr", {},
      h("th", { class: "mono small" }, path), h("td", { class: "mono", "data-testid": "profile-value" }, fmtValue(v))))))));
  return null;
}
