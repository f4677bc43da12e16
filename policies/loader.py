"""Reading the policy pack from disk: rule files, data files, and the revision they make.

Why one loader for every consumer: the embedded engine, the OPA bundle writer, the Rego test
runner and the fleet classes must all see the same rules and the same ``data`` tree, or a
decision made in one mode would differ from another. The revision is computed here, over exactly
the bytes that were loaded.

Data layout: each ``policies/data/X.json`` is mounted at ``data.gateward.data.X``. Derived
indexes are added at load time so that operators edit plain data and the rules do lookups instead
of scans: ``common_passwords.sha256_lower`` maps the sha256 of each lowercased ``entries`` item to
``true`` (regorus has no ``crypto.sha256``), and ``param_classes.prefix_index`` maps every class
prefix (2 to 4 path segments, without the trailing dot) to its class, so that the rules find the
longest matching prefix with three lookups instead of a scan.

The rest is partial evaluation of the pack on its static data: what a rule would
compute from data alone on every decision is computed here once (``windows.open_by_utc_hour``,
``regulatory.plain_channels``, ``risk.*_from_zero``; each function below says why), and
tests/policies/test_derived_data.py checks that each answers exactly as the formula it replaces.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from core.kernel.jsontypes import JsonObject

PACKAGE_DIR = Path(__file__).resolve().parent
RULES_DIR = PACKAGE_DIR / "rego"
DATA_DIR = PACKAGE_DIR / "data"
DATA_MOUNT = ("gateward", "data")
DECISION_RULE = "data.gateward.decision"
# The decision of a document that passed policies/validate.py (which implies the pack's own coarse
# shape check, gateward.input.ok): what the embedded engine evaluates on the bytecode VM.
CHECKED_DECISION_RULE = "data.gateward.checked_decision"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PolicyLoadError(Exception):
    """The pack cannot be loaded; the service must refuse to start rather than allow anything."""

    def __init__(self, file: str, message: str) -> None:
        self.file = file
        self.message = message
        super().__init__(f"{file}: {message}")


def clean_error(exc: BaseException | str) -> str:
    """A regorus error without its Rust backtrace (RUST_BACKTRACE=1 appends one), on few lines."""
    text = str(exc).split("Stack backtrace:")[0].strip()
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip().strip("|").strip()]
    return " | ".join(lines) if lines else type(exc).__name__ if isinstance(exc, BaseException) else ""


@dataclass(frozen=True)
class PolicySources:
    """Everything an engine loads, with the revision that names it."""

    rules: tuple[tuple[str, str], ...]
    data: JsonObject
    revision: str
    rules_dir: Path
    data_dir: Path
    data_files: tuple[str, ...] = field(default=())

    def data_document(self) -> JsonObject:
        """The full ``data`` document: ``{"gateward": {"data": {...}}}``."""
        return {DATA_MOUNT[0]: {DATA_MOUNT[1]: self.data}}

    def data_json(self) -> str:
        return orjson.dumps(self.data_document()).decode()


def rule_files(rules_dir: Path | None = None) -> list[Path]:
    """Every ``*.rego`` under ``rules_dir`` except the ``*_test.rego`` files, sorted."""
    root = Path(rules_dir) if rules_dir is not None else RULES_DIR
    return sorted(p for p in root.rglob("*.rego") if not p.name.endswith("_test.rego"))


def rego_test_files(rules_dir: Path | None = None) -> list[Path]:
    """Every ``*_test.rego`` under ``rules_dir``, sorted."""
    root = Path(rules_dir) if rules_dir is not None else RULES_DIR
    return sorted(root.rglob("*_test.rego"))


# What the loader adds to a data file, by file: a key of that name in the file itself would be
# overwritten without a word, so the loader refuses it.
DERIVED_KEYS = {
    "windows": ("open_by_utc_hour", "fallback_open_by_utc_hour"),
    "regulatory": ("plain_channels",),
    "param_classes": ("final_prefix_3",),
    "rollout": ("fewest_targets",),
    "risk": ("target_steps_from_zero", "failed_changes_steps_from_zero"),
}


# What each file's derived tables are computed from: a Rego test that overrides one of these
# with ``with data.gateward.data.FILE.KEY as ...`` would leave the tables stale (the rules read
# the table, not the key), so policies/testing.py fails such a test file; override the whole
# ``data.gateward.data.FILE`` instead (a rule whose table is absent falls back to the formula).
DERIVED_FROM = {
    "windows": ("regions", "fallback"),
    "regulatory": ("domains",),
    "risk": ("target_steps", "failed_changes_steps"),
    "rollout": ("plans", "firmware_plans"),
    "param_classes": ("classes", "prefix_index"),
}


def _derive(data: dict[str, Any]) -> None:
    """Add the indexes the rules need that are functions of other data (see module doc)."""
    for name, keys in DERIVED_KEYS.items():
        section = data.get(name)
        for key in keys:
            if isinstance(section, dict) and key in section:
                raise PolicyLoadError(f"{name}.json", f"{key!r} is derived by the loader; remove it from the file")
    classes = data.get("param_classes")
    if isinstance(classes, dict) and isinstance(classes.get("classes"), dict):
        index: dict[str, str] = {}
        for name, spec in classes["classes"].items():
            for prefix in (spec or {}).get("prefixes", []):
                key = str(prefix).rstrip(".")
                if not 2 <= key.count(".") + 1 <= 4:
                    raise PolicyLoadError(
                        "param_classes.json", f"prefix {prefix!r} must have 2 to 4 segments"
                    )
                if key in index and index[key] != name:
                    raise PolicyLoadError(
                        "param_classes.json", f"prefix {prefix!r} is in both {index[key]} and {name}"
                    )
                index[key] = name
        # The 3-segment prefixes no 4-segment prefix extends: for a path under one of them the
        # longest match is decided by its first 3 segments alone (one lookup, not two).
        longer = {key.rsplit(".", 1)[0] for key in index if key.count(".") == 3}
        final_3 = {key: name for key, name in index.items() if key.count(".") == 2 and key not in longer}
        data["param_classes"] = {**classes, "prefix_index": index, "final_prefix_3": final_3}
    _derive_plain_channels(data)
    _derive_window_hours(data)
    _derive_zero_steps(data)
    _derive_fewest_targets(data)
    pw = data.get("common_passwords")
    if isinstance(pw, dict) and isinstance(pw.get("entries"), list):
        hashes: dict[str, bool] = dict(pw.get("sha256_lower") or {})
        for entry in pw["entries"]:
            if not isinstance(entry, str):
                raise PolicyLoadError("common_passwords.json", f"entries must be strings, got {entry!r}")
            hashes[hashlib.sha256(entry.lower().encode()).hexdigest()] = True
        data["common_passwords"] = {**pw, "sha256_lower": hashes}


def _derive_plain_channels(data: dict[str, Any]) -> None:
    """``regulatory.plain_channels[domain][band]``: a list indexed by channel number, true where
    the channel is permitted on the band and not a DFS channel (``channels`` minus ``dfs``).

    Why: the wifi gate (``wifi.plain_on``) asks exactly this for every Channel change, and on the
    bytecode VM ``x in list`` compares x with each element in turn (~1 k instructions each, the
    DFS list has 15), while indexing a list is one instruction. A channel the table does not
    cover (not an integer, out of range) is simply not plain: the wifi rules then look at it.
    Derived only from integral, non-negative channel numbers below 1000; anything else in the
    table is left to the rules (it is never plain)."""
    reg = data.get("regulatory")
    if not isinstance(reg, dict) or not isinstance(reg.get("domains"), dict):
        return
    plain: dict[str, dict[str, list[bool]]] = {}
    for domain, bands in reg["domains"].items():
        if not isinstance(bands, dict):
            continue
        for band, table in bands.items():
            if not isinstance(table, dict) or not isinstance(table.get("channels"), list):
                continue
            dfs: list[Any] = table["dfs"] if isinstance(table.get("dfs"), list) else []
            ok = {ch for ch in table["channels"] if _channel_number(ch)} - {ch for ch in dfs if _channel_number(ch)}
            # A DFS entry that is not a plain integer (e.g. 52.0) still equals 52 in Rego: drop it too.
            ok -= {int(ch) for ch in dfs if isinstance(ch, float) and ch.is_integer()}
            row = [False] * (max(ok) + 1 if ok else 0)
            for ch in ok:
                row[ch] = True
            plain.setdefault(domain, {})[band] = row
    data["regulatory"] = {**reg, "plain_channels": plain}


def _derive_window_hours(data: dict[str, Any]) -> None:
    """``windows.open_by_utc_hour[region]``: 24 booleans, whether the region's change window is
    open at each UTC hour (``fallback_open_by_utc_hour`` for regions not listed).

    Why: the window formula (``lib.window_open``) is arithmetic on the clock's hour with the
    region's offset and hours, paid per device and per region on every decision; the hour of the
    day is all it reads from the input, so the answer for each of the 24 hours is computed here,
    once, with the same formula (start inclusive, end exclusive, wrapping midnight). Only for
    windows whose hours and offset are integers: Rego's ``%`` refuses a fraction, and a region
    left out of the table keeps that behaviour (the rule computes it, and errors)."""
    windows = data.get("windows")
    if not isinstance(windows, dict):
        return

    def table(w: Any) -> list[bool] | None:
        if not isinstance(w, dict):
            return None
        offset, start, end = w.get("utc_offset_hours"), w.get("start_hour"), w.get("end_hour")
        if not (type(offset) is int and type(start) is int and type(end) is int):
            return None
        return [(((((h + offset) + 24) % 24 - start) + 24) % 24) < (((end - start) + 24) % 24) for h in range(24)]

    regions: JsonObject = windows["regions"] if isinstance(windows.get("regions"), dict) else {}
    by_region = {name: row for name, w in regions.items() if (row := table(w)) is not None}
    derived: JsonObject = {"open_by_utc_hour": by_region}
    fallback = table(windows.get("fallback"))
    if fallback is not None:
        derived["fallback_open_by_utc_hour"] = fallback
    data["windows"] = {**windows, **derived}


def _derive_zero_steps(data: dict[str, Any]) -> None:
    """``risk.X_from_zero`` for each step list X: the list behind a step ``{"min": null,
    "score": 0}`` that every value reaches (``null`` is below every other value in Rego's
    ordering), so that ``max([s.score | some s in X_from_zero; v >= s.min])`` is the step score,
    0 when no step is reached, without the ``array.concat([0], ...)`` (a builtin call) that the
    rules would otherwise pay on every decision."""
    risk = data.get("risk")
    if not isinstance(risk, dict):
        return
    derived = {f"{key}_from_zero": [{"min": None, "score": 0}, *risk[key]]
               for key in ("target_steps", "failed_changes_steps") if isinstance(risk.get(key), list)}
    data["risk"] = {**risk, **derived}


def _derive_fewest_targets(data: dict[str, Any]) -> None:
    """``rollout.fewest_targets``: the lowest ``min_targets`` of any plan (firmware plans too).

    Why: most proposals are below every plan (a one-device fix), and the rollout rules found that
    out by collecting the plans reached; one comparison with this number answers it. Derived only
    when every plan's ``min_targets`` is a number: Rego orders ``null`` and booleans below every
    number, so such a plan would be reached by any count, and the rules decide that case."""
    rollout = data.get("rollout")
    if not isinstance(rollout, dict):
        return
    plans = [p for key in ("plans", "firmware_plans") if isinstance(rollout.get(key), list) for p in rollout[key]]
    mins: list[float] = [p["min_targets"] for p in plans
                         if isinstance(p, dict) and type(p.get("min_targets")) in (int, float)]
    if mins and len(mins) == len(plans):
        data["rollout"] = {**rollout, "fewest_targets": min(mins)}


def _channel_number(value: Any) -> bool:
    return type(value) is int and 0 <= value < 1000


def load_sources(rules_dir: Path | str | None = None, data_dir: Path | str | None = None) -> PolicySources:
    """Read rules and data; raise :class:`PolicyLoadError` naming the file on any problem."""
    rdir = Path(rules_dir) if rules_dir is not None else RULES_DIR
    ddir = Path(data_dir) if data_dir is not None else DATA_DIR
    if not rdir.is_dir():
        raise PolicyLoadError(str(rdir), "rules directory does not exist")
    if not ddir.is_dir():
        raise PolicyLoadError(str(ddir), "data directory does not exist")
    digest = hashlib.sha256()
    rules: list[tuple[str, str]] = []
    for path in rule_files(rdir):
        name = path.relative_to(rdir).as_posix()
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyLoadError(name, f"not UTF-8: {exc}") from exc
        digest.update(b"rule\0" + name.encode() + b"\0" + raw + b"\0")
        rules.append((name, text))
    if not rules:
        raise PolicyLoadError(str(rdir), "no .rego rule files found")
    data: JsonObject = {}
    names: list[str] = []
    for path in sorted(ddir.glob("*.json")):
        raw = path.read_bytes()
        stem = path.stem
        if not _IDENTIFIER.match(stem):
            raise PolicyLoadError(path.name, "data file names must be Rego identifiers (letters, digits, _)")
        try:
            data[stem] = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise PolicyLoadError(path.name, f"malformed JSON: {exc}") from exc
        digest.update(b"data\0" + path.name.encode() + b"\0" + raw + b"\0")
        names.append(path.name)
    _derive(data)
    return PolicySources(
        rules=tuple(rules),
        data=data,
        revision=digest.hexdigest(),
        rules_dir=rdir,
        data_dir=ddir,
        data_files=tuple(names),
    )
