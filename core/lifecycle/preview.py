"""The preview: before → after per device, from a live read (a few targets) or stored snapshots
(a fleet, with a live sample), recorded with what the approver must read first.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from core import policy_input as pinput
from core.execution import values_equal
from core.fanout import map_bounded
from core.kernel.errors import Conflict
from core.kernel.jsontypes import Json
from core.kernel.models import Actor, Change, Device, DevicePreview, DiffLine, Proposal, utcnow
from core.kernel.ports.executor import DeviceReader, ExecutorError, Fault, InvalidParameterName, ParamValue
from core.kernel.secrets import MASK, is_secret_path
from core.lifecycle.context import LifecycleContext, S
from core.lifecycle.device_io import GrantedIO
from core.states import require_state, set_state
from core.store import repo
from core.store.records import ProposalRecord

LIVE_PREVIEW_MAX = 200


class Previews:
    """Taking and recording previews; device reads go through ``io``."""

    def __init__(self, ctx: LifecycleContext, io: GrantedIO) -> None:
        self.ctx, self.io = ctx, io

    def preview_of(self, pid: str) -> dict[str, Any] | None:
        with self.ctx.store.read() as s:
            return ProposalRecord.load(s, pid).preview

    def _context_paths(self, p: Proposal) -> list[str]:
        return list(pinput.WIFI_FACT_PATHS) if any(c.path.startswith("Device.WiFi.") for c in p.changes) else []

    def preview(self, pid: str, actor: Actor | None = None, *, source: str | None = None) -> Proposal:
        """Record before → after per device. ``live`` reads every device through its read path;
        ``snapshot`` (the default above ``LIVE_PREVIEW_MAX`` targets) diffs against each device's
        latest stored snapshot, reads a live sample, and summarises per class — a fleet-wide
        preview in seconds. Presence is checked live again at apply time in any case."""
        t0 = time.perf_counter()
        p = self.ctx.get(pid)
        require_state(p, S.VALIDATED, S.PREVIEWED, doing="preview")
        preview = self.take(p, source)
        with self.ctx.store.write() as s:
            row = self.store_in(s, p, preview, actor)
        self.ctx.time("preview", t0)
        return repo.proposal_from_row(row, p)

    def take(self, p: Proposal, source: str | None = None,
             devices: dict[str, Device] | None = None) -> dict[str, Any]:
        """Read what the change would do (no transaction held while devices are read): ``live``
        for a few targets, ``snapshot`` for a fleet (above ``LIVE_PREVIEW_MAX``). ``devices`` may
        carry the target rows the caller already holds."""
        mode = source or ("live" if len(p.targets) <= LIVE_PREVIEW_MAX else "snapshot")
        if p.per_target:  # a class summary would show one value for devices that each get their own
            mode = "live"
        if mode == "snapshot":
            preview = self._snapshot(p)
        else:
            if devices is None or any(t not in devices for t in p.targets):
                with self.ctx.store.read() as s:
                    devices = repo.get_devices(s, p.targets)
            preview = {"hash": p.hash, "taken_at": utcnow().isoformat(), "source": "live",
                       "devices": self._live(p, [devices[t] for t in p.targets])}
        preview["completeness"] = pinput.preview_completeness(preview, len(p.targets))
        preview["warnings"] = self._warnings(p, preview["completeness"]) + self._cached(preview["devices"])
        return preview

    @staticmethod
    def _cached(devices: Sequence[Mapping[str, Any]]) -> list[str]:
        """One warning naming the devices whose before values the adapter answered from what its ACS
        last learnt (``read_for_preview``), with the first one's words (each device's line keeps its own)."""
        read = [dp for dp in devices if dp.get("read")]
        if not read:
            return []
        names = ", ".join(str(dp["device_id"]) for dp in read[:3]) + (f" and {len(read) - 3} more" if len(read) > 3
                                                                       else "")
        return [f"{names}: the before values are {read[0]['read']}"]

    def _live(self, p: Proposal, devices: Sequence[Device]) -> list[dict[str, Any]]:
        """Every device read live, up to ``GATEWARD_APPLY_CONCURRENCY`` at a time (50
        devices on GenieACS took 28.6 s one after another), listed in target order."""
        extra = self._context_paths(p)
        limit = max(1, int(self.ctx.settings.apply_concurrency))
        return [done.get() for done in map_bounded(lambda d: self._live_one(p, d, extra), devices, limit)]

    def _live_one(self, p: Proposal, d: Device, extra: list[str]) -> dict[str, Any]:
        """One device's before → after, presence and listed values; a device error is its line's error."""
        mine = p.changes_for(d.id)  # this device's own before → after (per-target values)
        paths = [c.path for c in mine]
        dp = DevicePreview(device_id=d.id, present=False, operations=list(p.operations))
        facts: dict[str, Any] = {}
        read_from = ""
        try:
            reader = self.io.reader(d)  # inside: an adapter that cannot start is this device's error
            pres = reader.presence(d)
            dp.present = pres.online
            if not pres.online:
                dp.error = f"offline: {pres.detail or 'no recent contact'}"
            else:
                # Tolerant like the backup: a string row the device lacks yet is "absent" (before
                # None), not a failed preview; anything else missing is (see _missing_error).
                with self.io.waits(p, d, "preview"):  # a NAT'd device's read waits for its inform: said
                    values, read_from = self._read(reader, d, paths + extra)
                for c in mine:
                    pv = values.get(c.path)
                    secret = is_secret_path(c.path)
                    before = pv.value if pv is not None else None
                    dp.lines.append(DiffLine(
                        path=c.path, device_path=pv.device_path if pv else c.path,
                        before=MASK if secret and before not in (None, "") else before,
                        after=MASK if secret else c.value, type=c.type or (pv.type if pv else "string"),
                        secret=secret, restorable=not secret,
                        unchanged=not secret and pv is not None and values_equal(pv.value, c.value),
                    ))
                facts = pinput.wifi_facts(values)
                from core.validation import listed_error  # a value the device does not list fails here

                dp.error = listed_error(d, mine, values, reader)
                dp.error = dp.error or self._missing_error(mine, values)
        except ExecutorError as exc:
            dp.present = False if not isinstance(exc, Fault) else dp.present
            dp.error = exc.message
        item = dp.model_dump(mode="json")
        item["facts"] = facts
        if read_from:
            item["read"] = read_from
        return item

    def _read(self, reader: DeviceReader, d: Device, paths: list[str]) -> tuple[dict[str, ParamValue], str]:
        """The preview's read (``read_for_preview``: an adapter may answer from what its ACS provably
        last learnt, fresh enough — a CPE behind NAT costs an inform per read) and, when it did, from
        where, for the approver; a path the device lacks is read path by path as the backup does."""
        try:
            got = reader.read_for_preview(d, paths)
        except InvalidParameterName:
            return self.io.read_tolerant(d, paths), ""
        return got.values, (got.detail if got.source == "cache" else "")

    @staticmethod
    def _missing_error(changes: Sequence[Change], values: dict[str, ParamValue]) -> str | None:
        """A changed parameter the device does not have and the backup could not record as absent
        (only a plain string row can be created and cleared again): the preview fails for it."""
        for c in changes:
            if c.path not in values and (is_secret_path(c.path) or (c.type or "string") != "string"):
                return f"{c.path} does not exist on the device"
        return None

    def _snapshot(self, p: Proposal) -> dict[str, Any]:
        """Diff against stored snapshots, summarised per class by the database; a live sample of up
        to 20 devices for the approver to spot-check."""
        from core import fleet_facts, fleet_pass

        changes = [(c.path, c.value, is_secret_path(c.path)) for c in p.changes]
        sample_ids = fleet_pass.sample_ids(p.targets)
        with self.ctx.store.fleet_read(len(p.targets)) as s:
            facts = fleet_facts.preview_facts(s, p.id, changes, len(p.targets), target_ids=p.targets,
                                              proposal_hash=p.hash)
            classes = facts.classes
            absent = fleet_facts.absent_devices(s, p.id) if facts.stale else []  # a search only if any
            found = repo.get_devices(s, sample_ids)
        sample = self._live(p, [found[t] for t in sample_ids])
        # Completeness (defect 8): a target with no full snapshot is covered only if the live
        # sample read it; the rest are ``uncovered`` and policy denies on them.
        read_live = {d["device_id"] for d in sample if d["present"] and not d["error"]}
        with self.ctx.store.read() as s:
            unknown = ([d for d in fleet_facts.unsnapshotted(s, p.id, limit=200) if d not in read_live]
                       if facts.missing else [])
            rescued = read_live - set(repo.latest_snapshots(s, sorted(read_live)) if read_live else ())
        uncovered = facts.missing - len(rescued)
        return {"hash": p.hash, "taken_at": utcnow().isoformat(), "source": "snapshot",
                "devices_total": len(p.targets), "absent": absent, "classes": classes,
                "uncovered": max(0, uncovered), "uncovered_devices": unknown[:20], "devices": sample}

    def store_in(self, s: Session, p: Proposal, preview: dict[str, Any], actor: Actor | None,
                 *, save: bool = True, row: ProposalRecord | None = None) -> ProposalRecord:
        """Record a preview taken by :meth:`take` in the caller's transaction, if the
        proposal is still the content that was previewed; returns the proposal row (locked: read
        for update, or by the save that records it).
        ``save=False``: the caller records the decision on the row next, which saves both.
        ``row``: the row as this call committed it a moment ago, instead of reading it again — its
        save matches that version, so any change made since (an edit, a cancel) refuses the
        whole transaction with ``Conflict`` (a full row read fewer a submit)."""
        pid = p.id
        out = preview["devices"]
        if row is None:
            row = ProposalRecord.load(s, pid, for_update=True)
        if row.hash != p.hash:
            raise Conflict(f"proposal {pid} changed while it was being previewed; preview again")
        if row.state not in (S.VALIDATED, S.PREVIEWED):  # e.g. cancelled while its devices were read
            require_state(repo.proposal_from_row(row), S.VALIDATED, S.PREVIEWED, doing="preview")
        row.preview = preview
        set_state(s, row, S.PREVIEWED, actor.id if actor else p.author, "proposal.previewed", save=save, data={
            "devices": [{"device_id": d["device_id"], "present": d["present"], "error": d["error"],
                         "lines": [{"path": ln["path"], "before": ln["before"], "after": ln["after"]}
                                   for ln in d["lines"]]} for d in out[:20]],
            "device_count": preview.get("devices_total", len(out)), "source": preview.get("source"),
            "completeness": preview["completeness"], "warnings": preview["warnings"],
        })
        return row

    @staticmethod
    def _warnings(p: Proposal, completeness: Mapping[str, Json]) -> list[str]:
        """What the approver must read before approving: what a rollback cannot undo (defect 10)
        and which targets the preview could not read (defect 8; policy denies on those)."""
        out = [f"{path}: a rollback cannot restore the old value (a secret reads back empty); "
               "if this change is rolled back, the new value stays" for path in pinput.not_restorable_paths(p)]
        if completeness["failed"]:
            out.append(f"the preview could not read {completeness['failed']} of {len(p.targets)} target device(s)")
        if completeness["offline"]:
            out.append(f"{completeness['offline']} of {len(p.targets)} target device(s) were offline at preview")
        return out
