"""Write the policy pack as an OPA bundle, for an OPA sidecar (``GATEWARD_OPA_URL``).

Why a bundle rather than pushing policies over the REST API: a bundle is one versioned artefact
(its ``.manifest`` revision is the same sha256 the embedded engine reports), OPA loads it
atomically, and the same file can be served by a bundle server to a fleet of sidecars.

Layout: ``.manifest`` (``revision``, ``roots: ["gateward"]``, ``rego_version: 1``), the rule
files under ``policies/`` (tests left out), and ``data.json`` at the bundle root holding
``{"gateward": {"data": {...}}}`` — the same tree, derived indexes included, that the embedded
engine mounts, so ``data.gateward.decision`` answers the same on a real OPA.
"""

from __future__ import annotations

import argparse
import io
import tarfile
import time
from pathlib import Path

import orjson

from policies.loader import PolicySources, load_sources


def _add(tar: tarfile.TarFile, name: str, payload: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = int(mtime)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(payload))


def bundle_files(sources: PolicySources) -> dict[str, bytes]:
    """Bundle member name -> content."""
    manifest = {"revision": sources.revision, "roots": ["gateward"], "rego_version": 1}
    files = {".manifest": orjson.dumps(manifest, option=orjson.OPT_INDENT_2)}
    for name, text in sources.rules:
        files[f"policies/{name}"] = text.encode("utf-8")
    files["data.json"] = orjson.dumps(sources.data_document(), option=orjson.OPT_SORT_KEYS)
    return files


def write_bundle(
    out_path: Path | str,
    rules_dir: Path | str | None = None,
    data_dir: Path | str | None = None,
) -> str:
    """Write ``out_path`` (a ``.tar.gz``) and return the bundle's revision (the same sha256 the
    engines report). Raises ``PolicyLoadError`` on a bad pack."""
    sources = load_sources(rules_dir, data_dir)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    now = time.time()
    with tarfile.open(out, "w:gz") as tar:
        for name, payload in bundle_files(sources).items():
            _add(tar, name, payload, now)
    return sources.revision


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.bundle", description="Write the OPA bundle.")
    parser.add_argument("out", nargs="?", default="var/gateward-bundle.tar.gz")
    parser.add_argument("--rules-dir", default=None)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    revision = write_bundle(args.out, args.rules_dir, args.data_dir)
    print(f"wrote {args.out} (revision {revision})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
