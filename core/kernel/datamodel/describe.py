"""What each TR-181 / TR-098 parameter is, in the standard's own words: its description's first sentence.

Why beside the registry's tables and not in them: the registry answers "may this be written, does the
value fit" on every write and loads in milliseconds; the descriptions serve one reader only — the
planner's answers from the data model (``brain.lookup``), which finds the parameters a question is
about by their names *and* what the Broadband Forum says they are ("how long is the DHCP lease?"
finds ``LeaseTime`` through "lease time in seconds of client assigned addresses"). So they are their
own small tables, generated from the same XML by the same rules (deterministic gzip, sorted keys) and
loaded on first use.

Regenerate with ``python -m core.kernel.datamodel.describe --shared ../shared/datamodels``. The text
is the description's first sentence with the BBF markup resolved (``{{param|X}}`` → X, ``{{units}}`` →
the parameter's units, references and other templates dropped), cut at 200 characters; only current
parameters are listed. The BBF licence (``data/LICENSE-BBF.txt``) covers it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import xml.etree.ElementTree as ET
from functools import cache
from importlib import resources
from pathlib import Path

from core.kernel.datamodel.generate import dump_bytes

SOURCES: dict[str, tuple[str, str]] = {
    # output file: (xml file, root) — the CWMP flavour of TR-181 holds every parameter a USP agent has too
    "describe-tr181.json.gz": ("tr-181-2-19-1-cwmp-full.xml", "Device."),
    "describe-tr098.json.gz": ("tr-098-1-8-0-full.xml", "InternetGatewayDevice."),
}
FILES = {"Device.": "describe-tr181.json.gz", "InternetGatewayDevice.": "describe-tr098.json.gz"}
DATA_DIR = Path(__file__).resolve().parent / "data"
LIMIT = 200

_TEMPLATE = re.compile(r"\{\{(\w+)(?:\|([^{}|]*))?(?:\|[^{}]*)?\}\}")
_KEEP = {"param", "object", "enum", "units", "command", "event", "false", "true", "null", "empty"}


def clean(text: str) -> str:
    """BBF description markup → plain words: ``{{param|Channel}}`` → Channel, ``{{bibref|RFC2863}}`` → ''."""
    def one(m: re.Match[str]) -> str:
        name, arg = m.group(1), m.group(2)
        if name in ("false", "true", "null", "empty"):
            return name
        if name in _KEEP:
            return arg or ""
        return ""

    prev = None
    while prev != text:  # templates nest ({{param|{{object}}.X}})
        prev, text = text, _TEMPLATE.sub(one, text)
    text = re.sub(r"'{2,}", "", text)
    return re.sub(r"\s+", " ", text).strip()


def first_sentence(text: str) -> str:
    """The first sentence (up to a full stop followed by a space and a capital), at most ``LIMIT`` chars."""
    m = re.search(r"(?<![A-Z0-9.])\.\s+(?=[A-Z{])", text)
    out = text[:m.start() + 1] if m else text
    return out if len(out) <= LIMIT else out[:LIMIT - 1].rsplit(" ", 1)[0] + "…"


def extract(xml_path: Path) -> dict[str, str]:
    """``{parameter pattern path: first sentence}`` for every current parameter of the file's model (a
    deprecated, obsoleted or deleted one, or one of such an object, is left out)."""
    doc = ET.fromstring(xml_path.read_bytes())
    model = doc.find("model")
    if model is None:
        raise ValueError(f"{xml_path}: no <model>")
    out: dict[str, str] = {}
    for obj in model.findall("object"):
        path = obj.get("name") or ""
        if not path or (obj.get("status") or "current") != "current":
            continue
        for param in obj.findall("parameter"):
            name = param.get("name")
            desc = param.find("description")
            if (not name or (param.get("status") or "current") != "current" or desc is None
                    or not (desc.text or "").strip()):
                continue
            units = param.find("syntax//units")
            text = (desc.text or "").replace("{{units}}", units.get("value", "") if units is not None else "")
            out[path + name] = first_sentence(clean(text))
    return out


@cache
def descriptions(root: str) -> dict[str, str]:
    """The shipped descriptions of ``root``'s model (``Device.`` or ``InternetGatewayDevice.``), by pattern path."""
    name = FILES.get(root)
    if name is None:
        return {}
    raw = resources.files("core.kernel.datamodel").joinpath("data", name).read_bytes()
    data: dict[str, str] = json.loads(gzip.decompress(raw))
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, required=True, help="directory holding the BBF full XML files")
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    args = ap.parse_args(argv)
    for out_name, (xml_name, _root) in SOURCES.items():
        src = args.shared / xml_name
        if not src.exists():
            print(f"error: {src} is missing", file=sys.stderr)
            return 2
        data = dump_bytes(dict(extract(src)))  # the registry tables' deterministic gzip
        (args.out / out_name).write_bytes(data)
        print(f"{args.out / out_name}: {len(data):,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
