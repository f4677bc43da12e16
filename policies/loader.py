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
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

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
    data: dict[str, Any]
    revision: str
    rules_dir: Path
    data_dir: Path
    data_files: tuple[str, ...] = field(default=())

    def data_document(self) -> dict[str, Any]:
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


def _derive(data: dict[str, Any]) -> None:
    """Add the indexes the rules need that are functions of other data (see module doc)."""
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
        data["param_classes"] = {**classes, "prefix_index": index}
    pw = data.get("common_passwords")
    if isinstance(pw, dict) and isinstance(pw.get("entries"), list):
        hashes: dict[str, bool] = dict(pw.get("sha256_lower") or {})
        for entry in pw["entries"]:
            if not isinstance(entry, str):
                raise PolicyLoadError("common_passwords.json", f"entries must be strings, got {entry!r}")
            hashes[hashlib.sha256(entry.lower().encode()).hexdigest()] = True
        data["common_passwords"] = {**pw, "sha256_lower": hashes}


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
    data: dict[str, Any] = {}
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
