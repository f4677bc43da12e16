"""The planner's reader above cyclomatic complexity 20 in no function (issue 57, deliverable 5), by radon.

Why a check of its own beside the project-wide bound (``tests/sanity/test_complexity.py``, decision 0030,
whose baseline lists what is still over 20 and only shrinks): the reader was the most complex and least
tested code in the house — functions of complexity 41 to 108, where a dropped qualifier hid in one branch
of a hundred — so brain/understanding, brain/qualify.py and brain/lookup.py are held to 20 with no
baseline at all: nothing of the reader may ever be listed there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.sanity.test_write_path import ROOT

LIMIT = 20
STRICT = ("brain/understanding/", "brain/qualify.py", "brain/lookup.py")


def _blocks(source: str) -> list[tuple[str, int]]:
    """(name, complexity) of every function, method and nested function, as ``radon cc`` names them."""
    from radon.complexity import cc_visit

    out: list[tuple[str, int]] = []

    def walk(block: Any, name: str) -> None:
        out.append((name, block.complexity))
        for inner in getattr(block, "closures", []):
            walk(inner, f"{name}.{inner.name}")

    for block in cc_visit(source):
        if hasattr(block, "methods"):
            continue  # a class: radon lists its methods on their own, each with its class name
        walk(block, f"{block.classname}.{block.name}" if block.classname else block.name)
    return out


def over_the_limit(root: Path = ROOT) -> dict[tuple[str, str], int]:
    """Every brain/ function above ``LIMIT``, by (file, name)."""
    found: dict[tuple[str, str], int] = {}
    for path in sorted((root / "brain").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for name, cc in _blocks(path.read_text(encoding="utf-8")):
            if cc > LIMIT:
                found[(rel, name)] = cc
    return found


def test_no_function_of_the_reader_is_above_the_limit() -> None:
    strict = {k: v for k, v in over_the_limit().items() if k[0].startswith(STRICT)}
    assert strict == {}, f"the reader is held to complexity {LIMIT} without exception (radon cc -s): {strict}"


def test_the_check_sees_a_function_above_the_limit(tmp_path: Path) -> None:
    """The measure itself: a function of complexity 21 is found, one of 20 is not — a method by its class."""
    body = "\n".join(f"        if x == {i}:\n            return {i}" for i in range(19))
    (tmp_path / "brain").mkdir()
    (tmp_path / "brain" / "m.py").write_text(
        f"class C:\n    def f(self, x):\n{body}\n        return -1\n\n"
        f"    def g(self, x):\n{body}\n        if x == 99:\n            return 99\n        return -1\n")
    assert over_the_limit(tmp_path) == {("brain/m.py", "C.g"): 21}
