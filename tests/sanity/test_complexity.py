"""No function of the product grows past the complexity bound the project states (docs/decisions/0030).

Cyclomatic complexity as radon measures it (``radon cc``: one plus each branch, loop, boolean
operator, comprehension condition and ``except``), of every function and method — nested ones too —
in the product's packages, the composition root, the harnesses and the test doubles. The bound is
:data:`BOUND`; the functions over it today are listed with their figure in ``complexity_baseline.json``,
and that list may only shrink: a new function over the bound fails, a listed one may not grow, and a
listed one brought under the bound (or gone) must leave the list. ``python -m tests.sanity.test_complexity``
prints the figures the list would hold now.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BASELINE = Path(__file__).with_name("complexity_baseline.json")
#: The bound for new code (docs/decisions/0030-complexity-bound.md).
BOUND = 20
PACKAGES = ("core", "api", "brain", "campaigns", "executors", "policies", "gateward", "evals", "bench", "testing")
SKIP = ("/proto/", "/migrations/")  # generated code, and migrations frozen as they shipped


def _blocks(items: list[Any], prefix: str = "") -> Iterator[tuple[str, int]]:
    """Each function's qualified name and complexity, nested functions included."""
    for b in items:
        name = getattr(b, "name", "")
        cls = getattr(b, "classname", None)
        qual = f"{prefix}{cls + '.' if cls and not prefix else ''}{name}"
        if hasattr(b, "complexity") and not hasattr(b, "methods"):  # a function or a method
            yield qual, int(b.complexity)
        yield from _blocks(list(getattr(b, "closures", []) or []), f"{qual}.")


@cache
def measured() -> dict[str, int]:
    """``path::qualname`` → complexity of every function over :data:`BOUND` (a second function of
    the same name in one file is ``#2``)."""
    from radon.complexity import cc_visit

    out: dict[str, int] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if any(s in f"/{rel}" for s in SKIP):
                continue
            seen: dict[str, int] = {}
            for qual, cc in _blocks(list(cc_visit(path.read_text(encoding="utf-8")))):
                seen[qual] = seen.get(qual, 0) + 1
                key = f"{rel}::{qual}" + (f"#{seen[qual]}" if seen[qual] > 1 else "")
                if cc > BOUND:
                    out[key] = cc
    return out


def _baseline() -> dict[str, int]:
    data = json.loads(BASELINE.read_text(encoding="utf-8"))
    return {str(k): int(v) for k, v in data["functions"].items()}


def test_no_new_function_is_over_the_bound() -> None:
    new = {k: v for k, v in measured().items() if k not in _baseline()}
    assert not new, (f"over the complexity bound of {BOUND} (docs/decisions/0030-complexity-bound.md): "
                     + "; ".join(f"{k} ({v})" for k, v in sorted(new.items()))
                     + " — split it into steps that each do one thing")


def test_a_listed_function_does_not_grow() -> None:
    base = _baseline()
    grown = {k: (base[k], v) for k, v in measured().items() if k in base and v > base[k]}
    assert not grown, "more complex than tests/sanity/complexity_baseline.json allows: " + "; ".join(
        f"{k} ({was} → {now})" for k, (was, now) in sorted(grown.items()))


def test_the_list_only_shrinks() -> None:
    """A listed function brought under the bound (or renamed, moved, deleted) leaves the list, and a
    smaller figure is written down, so the allowance never grows back."""
    now = measured()
    stale = {k: v for k, v in _baseline().items() if now.get(k, 0) < v}  # grown: the test above says so
    assert not stale, ("tests/sanity/complexity_baseline.json is out of date — write the figures down "
                       "(python -m tests.sanity.test_complexity --write): "
                       + "; ".join(f"{k}: listed {v}, now {now.get(k, f'≤ {BOUND} or gone')}"
                                   for k, v in sorted(stale.items())))


def main(argv: list[str]) -> None:
    """Print the figures the list would hold; ``--write`` writes those that only shrink it (a
    function new over the bound, or grown, is never added here: split it)."""
    now = measured()
    base = _baseline() if BASELINE.exists() else {}
    # a listed function keeps the smaller of its two figures (a grown one stays at its old figure and
    # fails until it is split); one not listed is never added — unless there is no list yet
    kept = {k: min(v, base.get(k, v)) for k, v in now.items() if not base or k in base}
    if "--write" in argv:
        BASELINE.write_text(json.dumps({"bound": BOUND, "functions": dict(sorted(kept.items()))}, indent=1)
                            + "\n", encoding="utf-8")
    for k, v in sorted(now.items(), key=lambda kv: -kv[1]):
        print(f"{v:4d}  {k}")


if __name__ == "__main__":
    main(sys.argv[1:])
