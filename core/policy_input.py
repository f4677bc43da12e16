"""Build the policy input document (``policies/README.md``) from the store and a proposal's preview.

Everything a rule may read is gathered here, once, and secrets are masked on the way in:
a passphrase reaches policy only as ``secret_facts`` (length, salted-free sha256 of the lowercase
form for the common-password check, whether it contains an SSID).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import Actor, Change, Decision, Device, PolicyItem, Proposal, changes_for, utcnow
from core.kernel.secrets import MASK, is_secret_path, secret_facts
from core.kernel.values import LexicalError, as_int, parse_bool
from core.store import repo

WIFI_FACT_PATHS = ("Device.WiFi.Radio.", "Device.WiFi.SSID.")


def wifi_facts(values: dict[str, Any]) -> JsonObject:
    """Radio band/channel/auto/width and SSID names from a TR-181 path → value mapping (values may
    be scalars, ``{"value": ...}`` dicts as stored in snapshots, or ParamValue objects)."""
    radios: dict[int, JsonObject] = {}
    ssids: dict[int, JsonObject] = {}
    for path, raw in values.items():
        if not path.startswith("Device.WiFi."):
            continue
        parts = path.split(".")
        if len(parts) != 5 or not parts[3].isdigit():
            continue
        kind, name = parts[2], parts[4]
        if kind == "Radio":
            field = _RADIO_FIELDS.get(name)
            if field is None:
                continue
            v = raw.get("value") if isinstance(raw, dict) else getattr(raw, "value", raw)
            idx = int(parts[3])
            r = radios.get(idx)
            if r is None:
                r = radios[idx] = {"index": idx}
            if field == "channel":
                try:
                    r[field] = as_int(v)
                except LexicalError:
                    r[field] = v  # policy sees what the device reported (e.g. "Auto")
            elif field == "auto_channel":
                r[field] = parse_bool(v) is True
            else:
                r[field] = str(v)
        elif kind == "SSID" and name == "SSID":
            v = raw.get("value") if isinstance(raw, dict) else getattr(raw, "value", raw)
            ssids[int(parts[3])] = {"index": int(parts[3]), "ssid": str(v)}
    return {"radios": [radios[k] for k in sorted(radios)], "ssids": [ssids[k] for k in sorted(ssids)]}


_RADIO_FIELDS = {"OperatingFrequencyBand": "band", "Channel": "channel", "AutoChannelEnable": "auto_channel",
                 "OperatingChannelBandwidth": "bandwidth"}


def devices_facts(s: Session, devices: Sequence[Device | repo.DeviceLite], preview: dict[str, Any],
                  compat: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    """Facts for every device, with history read in bulk. Devices the preview covered use its live
    facts; the rest (fleet-scale previews keep a sample) use their latest stored snapshot."""
    by_dev = {d["device_id"]: d for d in preview.get("devices", [])}
    ids = [d.id for d in devices]
    since = utcnow() - timedelta(hours=24)
    reboots, failed = repo.history_counts_bulk(s, ids, "boot", since)
    missing = [i for i in ids if i not in by_dev]
    snaps = repo.latest_snapshots(s, missing) if missing else {}
    absent = set(preview.get("absent", []))
    out = []
    for d in devices:
        pv = by_dev.get(d.id)
        if pv is not None:
            facts, present = pv.get("facts") or {}, bool(pv.get("present"))
        else:
            facts, present = wifi_facts(snaps.get(d.id, {})), d.id not in absent and bool(preview)
        out.append({
            "id": d.id, "vendor": d.vendor, "model": d.model, "firmware": d.firmware, "region": d.region,
            "root": str(d.root), "protocol": str(d.protocol), "compat": (compat or {}).get(d.id),
            "present": present, "reboots_24h": reboots.get(d.id, 0), "failed_changes_7d": failed.get(d.id, 0),
            "radios": facts.get("radios", []), "ssids": facts.get("ssids", []),
        })
    return out


OFFLINE_PREFIX = "offline:"  # how a live preview row says the device was not there (core.lifecycle.preview)


def preview_completeness(preview: dict[str, Any] | None, targets: int) -> dict[str, Any]:
    """How much of the target set a preview actually read.

    ``live``: every target must have a row; a row whose device was offline counts as ``offline``,
    any other error (read fault, timeout, a value the device does not list) as ``failed``.
    ``snapshot``: the classes must cover every target, and a target with neither a full stored
    snapshot nor a successful live read in the sample (``uncovered``) counts as ``failed``; the
    sample's offline devices are informational there (presence is re-checked per batch).
    Used for the policy input and again, as a backstop, at apply time."""
    preview = preview or {}
    source = str(preview.get("source") or "live")
    rows = preview.get("devices", []) or []
    errors = [f"{d.get('device_id')}: {d['error']}" for d in rows if d.get("error")]
    if source == "snapshot":
        covered = sum(int(c.get("count", 0)) for c in preview.get("classes", []) or [])
        failed = int(preview.get("uncovered", 0)) + max(0, targets - covered)
        offline = 0
    else:
        offline = sum(1 for d in rows if str(d.get("error") or "").startswith(OFFLINE_PREFIX))
        failed = sum(1 for d in rows if d.get("error") and not str(d["error"]).startswith(OFFLINE_PREFIX))
        failed += max(0, targets - len({d.get("device_id") for d in rows}))
    return {"source": source, "complete": bool(preview) and failed == 0 and offline == 0, "failed": failed,
            "offline": offline, "errors": errors[:5]}


def preview_age_s(preview: Mapping[str, Json] | None, now: datetime | None = None) -> int:
    """Seconds since the preview was taken, by the wall clock (the policy clock may pin only the
    time of day, which would make a preview look younger or older than it is). 0 without one."""
    taken = (preview or {}).get("taken_at")
    if not taken:
        return 0
    try:
        at = datetime.fromisoformat(str(taken))
    except ValueError:
        return 10**9  # an unreadable time is as good as none: stale
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0, int(((now or utcnow()) - at).total_seconds()))


def not_restorable_paths(p: Proposal) -> list[str]:
    """Changed parameters a rollback cannot put back: secrets read back empty, so their old value
    was never known. Said before approval, in the preview and to policy."""
    return [c.path for c in p.changes if is_secret_path(c.path)]


def preview_facts(p: Proposal, preview: dict[str, Any], devices_total: int, devices_present: int) -> JsonObject:
    """``proposal.preview``: whether a preview of this exact content exists, how complete and how old
    it is, and what a rollback could not undo."""
    done = preview_completeness(preview, len(p.targets))
    return {
        "exists": bool(preview) and preview.get("hash") == p.hash,
        "devices_total": devices_total,
        "devices_present": devices_present,
        "blind": not bool(preview),
        "source": done["source"],
        "complete": done["complete"],
        "failed": done["failed"],
        "offline": done["offline"],
        "age_s": preview_age_s(preview),
        "not_restorable": not_restorable_paths(p),
    }


def change_facts(p: Proposal, ssids: Sequence[str], changes: Sequence[Change] | None = None) -> list[dict[str, Any]]:
    """``proposal.changes`` as policy reads them. ``changes``: one device's own list (a per-target
    proposal); by default every change of the proposal, one entry per distinct (path, value)."""
    from core.kernel.datamodel.registry import get_registry

    reg = get_registry("Device.", "cwmp")
    usp = get_registry("Device.", "usp")
    out = []
    seen: set[tuple[str, str]] = set()
    for c in (p.changes if changes is None else changes):
        key = (c.path, repr(c.value))
        if c.target is not None and key in seen:  # one value targeted at several devices: listed once
            continue
        seen.add(key)
        spec = reg.find(c.path) or usp.find(c.path)
        secret = is_secret_path(c.path)
        item: JsonObject = {
            "path": c.path,
            "pattern": spec.path if spec is not None else c.path,
            "value": MASK if secret else c.value,
            "type": c.type or (spec.type if spec is not None else "string"),
            "secret": secret,
        }
        if secret:
            item["secret_facts"] = secret_facts(str(c.value), list(ssids))
        out.append(item)
    return out


# Keys of ``secret_facts`` that are a function of the passphrase itself (an unsalted hash): policy
# needs them in memory, the stored record must not keep them (migration 0026 masked the old rows).
_SECRET_HASH_KEYS = frozenset({"sha256_lower"})


def stored(doc: dict[str, Any]) -> dict[str, Any]:
    """The decision input as it is kept with the decision: every ``secret_facts`` hash masked.

    Why: ``sha256_lower`` lets policy match a passphrase against the common-passphrase
    list without holding it, but an unsalted hash of a weak passphrase is one dictionary lookup from
    the passphrase for anyone who reads the table or a backup. Nothing reads the hash back from a
    stored decision (it records what policy was asked; it is never re-evaluated), so the record
    keeps the length and the SSID fact and masks the hash. ``secret_facts`` sits only on change
    facts: the proposal's ``changes`` and a per-target proposal's ``device_changes``. A proposal
    with no secret (nearly all) is returned as it is, uncopied: this runs on every decision."""
    proposal = doc.get("proposal") or {}
    changes = proposal.get("changes") or []
    own = doc.get("device_changes") or {}
    if not any("secret_facts" in c for c in changes) and not any(
            "secret_facts" in c for items in own.values() for c in items):
        return doc
    out = {**doc, "proposal": {**proposal, "changes": [_masked_change(c) for c in changes]}}
    if own:
        out["device_changes"] = {t: [_masked_change(c) for c in items] for t, items in own.items()}
    return out


def _masked_change(change: dict[str, Any]) -> JsonObject:
    facts = change.get("secret_facts")
    if not isinstance(facts, dict):
        return change
    return {**change, "secret_facts": {k: MASK if k in _SECRET_HASH_KEYS else v for k, v in facts.items()}}


def compact(doc: dict[str, Any], keep: int = 50) -> dict[str, Any]:
    """The input as stored with a decision: whole for small proposals; for fleet proposals the
    first ``keep`` devices and a count (the decision record must not grow with the fleet)."""
    devices = doc.get("devices", [])
    if len(devices) <= keep:
        return doc
    proposal = {**doc["proposal"], "targets": doc["proposal"]["targets"][:keep]}
    return {**doc, "proposal": proposal, "devices": devices[:keep], "devices_omitted": len(devices) - keep}


def build(s: Session, p: Proposal, devices: Sequence[Device | repo.DeviceLite], actor: Actor,
          preview: dict[str, Any] | None, *, compat: dict[str, str | None] | None = None,
          now: datetime | None = None) -> dict[str, Any]:
    """The decision input. ``now`` is the lifecycle's clock: the change window is judged against it."""
    preview = preview or {}
    dev_facts = devices_facts(s, devices, preview, compat)
    all_ssids = sorted({x["ssid"] for f in dev_facts for x in f.get("ssids", []) if x.get("ssid")})
    live = repo.live_overlapping(s, p.id, len(p.targets))
    now = now or utcnow()
    fleet_size = repo.fleet_size(s)
    return {
        "proposal": {
            "id": p.id,
            "hash": p.hash,
            "author": p.author,
            "author_kind": str(p.author_kind),
            "intent": p.intent,
            "emergency": p.emergency,
            "action_type": p.action_type,
            "source": p.source,
            "staged": p.staged,
            "target_count": len(p.targets),
            "targets": list(p.targets),
            "changes": change_facts(p, all_ssids),
            "operations": [o.model_dump(mode="json") for o in p.operations],
            "preview": preview_facts(p, preview, len(devices), sum(1 for f in dev_facts if f["present"])),
        },
        "devices": dev_facts,
        "actor": {"id": actor.id, "roles": list(actor.roles), "kind": str(actor.kind)},
        "context": {
            "now": now.isoformat().replace("+00:00", "Z"),
            "now_ns": int(now.timestamp() * 1_000_000) * 1000,
            "fleet_size": fleet_size,
            "live_proposals": [
                {"id": o.id, "author": o.author, "targets": shared,
                 "changes": [{"path": c.path, "value": MASK if is_secret_path(c.path) else c.value}
                             for c in o.changes if c.target is None or c.target in shared]}
                for o, shared in live
            ],
            "profiles": profile_facts(p),
        },
    }


def profile_facts(p: Proposal) -> list[JsonObject]:
    """``context.profiles`` for precedence: the provisioning profiles a zero-touch proposal was
    built from, carried in its evidence (kind ``profile``: id, version, changes) and so bound to its
    hash. Policy denies a change that disagrees with any of them on these targets. Malformed
    entries are skipped (they cannot widen what is allowed: a missing profile only removes a deny)."""
    out: list[JsonObject] = []
    for e in p.evidence:
        if e.kind != "profile":
            continue
        pid, version, changes = e.data.get("id"), e.data.get("version"), e.data.get("changes")
        if not isinstance(pid, str) or not isinstance(version, (int, str)) or isinstance(version, bool) \
                or not isinstance(changes, list):
            continue
        items = [{"path": c["path"], "value": MASK if is_secret_path(c["path"]) else c["value"]}
                 for c in changes if isinstance(c, dict) and isinstance(c.get("path"), str)
                 and isinstance(c.get("value"), (str, int, float, bool))]
        out.append({"id": pid, "version": version, "targets": list(p.targets), "changes": items})
    return out


# ============================================================================ per-target proposals


def device_changes(p: Proposal, doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each target's own ``proposal.changes`` facts (a per-target proposal), secrets masked as in
    :func:`change_facts`. Stored with the decision so that the record shows every (device, path,
    value) policy was asked about."""
    ssids = sorted({x["ssid"] for f in doc.get("devices", []) for x in f.get("ssids", []) if x.get("ssid")})
    return {t: change_facts(p, ssids, changes_for(p.changes, t)) for t in p.targets}


def per_target_docs(doc: dict[str, Any], own: dict[str, list[dict[str, Any]]]
                    ) -> list[tuple[list[str], dict[str, Any]]]:
    """The decision input split per device for a per-target proposal: each document holds one
    device and exactly the values it gets, so every rule judges each (device, path, value) — a
    rule that joins the device's radio with the channel it is given (DFS, region, AutoChannel)
    sees that device's own channel, never its neighbour's. ``target_count`` stays the proposal's.

    Devices whose facts (all but the id), context and values are identical share one document
    (the same decision, evaluated once); the result lists the member ids with each document."""
    from core.kernel.models import canonical_json
    from policies.classes import class_doc, context_signature

    groups: dict[bytes, tuple[list[str], dict[str, Any]]] = {}
    for device in doc.get("devices", []):
        facts = {k: v for k, v in device.items() if k != "id"}
        key = canonical_json([facts, own.get(device["id"], []), list(context_signature(device["id"], doc))])
        if key in groups:
            groups[key][0].append(device["id"])
            continue
        narrowed = class_doc(doc, device)
        narrowed["proposal"] = {**narrowed["proposal"], "changes": own.get(device["id"], [])}
        groups[key] = ([device["id"]], narrowed)
    return list(groups.values())


def name_per_device(results: Sequence[tuple[list[str], Decision, list[str]]]
                    ) -> tuple[list[Decision], list[list[str]]]:
    """Per-device evaluations of a per-target proposal, ``(device ids, decision, would-deny)`` each,
    with every statement naming the devices it is about — all of them, across groups: "home-b,
    home-d: wifi: DFS channel 100 ...". A statement every device got (the proposal's target count,
    the change window) is about the proposal, not a device, and stays as the rule said it."""
    everyone = {i for ids, _, _ in results for i in ids}
    where: dict[tuple[str, str, str], dict[str, None]] = {}
    said: dict[str, dict[str, None]] = {}
    for ids, d, would in results:
        for item in [*d.deny_items, *(i for a in d.approvals_required for i in a.items)]:
            where.setdefault(_item_key(item), {}).update(dict.fromkeys(ids))
        for m in would:
            said.setdefault(m, {}).update(dict.fromkeys(ids))

    def named(items: Sequence[PolicyItem]) -> list[PolicyItem]:
        out = []
        for i in items:
            ids = list(where[_item_key(i)])
            out.append(i if set(ids) == everyone else i.model_copy(update={
                "message": name_devices(ids, i.message), "params": {**i.params, "devices": ids}}))
        return out

    decisions = []
    for _, d, _ in results:
        deny = named(d.deny_items)
        approvals = [a.model_copy(update={"items": named(a.items),
                                          "reason": "; ".join(dict.fromkeys(i.message for i in named(a.items)))
                                          or a.reason}) for a in d.approvals_required]
        decisions.append(d.model_copy(update={"deny_items": deny, "deny": [i.message for i in deny] or d.deny,
                                              "approvals_required": approvals}))
    would_named = [[m if set(said[m]) == everyone else name_devices(list(said[m]), m) for m in would]
                   for _, _, would in results]
    return decisions, would_named


def _item_key(item: PolicyItem) -> tuple[str, str, str]:
    return item.code, item.message, repr(sorted(item.params.items()))


def name_devices(ids: Sequence[str], message: str) -> str:
    """``"home-a, home-b: <message>"``: a rule's words about some devices of a per-target
    proposal, naming them (rules name device classes, never device ids)."""
    head = ", ".join(ids[:3]) + (f" (+{len(ids) - 3} more)" if len(ids) > 3 else "")
    return f"{head}: {message}"
