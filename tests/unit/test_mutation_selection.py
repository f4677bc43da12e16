"""``make mutate MUTATE_FUNCTIONS=…``: only the named functions' mutants are run and scored, so a
change to two functions of a 950-line module is measured in minutes (tests/mutation.py)."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

from tests.mutation import KILLED, SURVIVED, TIMEOUT, function_patterns, outcomes

KEYS = {
    "core.redact.x__article_phrase__mutmut_1": 1,  # killed
    "core.redact.x__article_phrase__mutmut_2": 0,  # survived
    "core.redact.x__phrase__mutmut_1": -24,  # timed out
    "core.redact.x__phrase_list__mutmut_1": 0,  # another function whose name begins alike
    "core.redact.xǁMaskerǁ_phrase__mutmut_1": 1,  # a method of that name
    "core.redact.x_mask__mutmut_1": 0,
}


def _meta(tmp_path: Path) -> Path:
    meta = tmp_path / "mutants" / "core" / "redact.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"exit_code_by_key": KEYS}))
    return tmp_path


def test_patterns_name_functions_and_methods_exactly() -> None:
    pats = function_patterns(["core/redact.py"], ["_phrase"])
    matched = sorted(k for k in KEYS if any(fnmatch.fnmatchcase(k, p) for p in pats))
    assert matched == ["core.redact.x__phrase__mutmut_1", "core.redact.xǁMaskerǁ_phrase__mutmut_1"]


def test_only_the_named_functions_are_counted(tmp_path: Path) -> None:
    tree = _meta(tmp_path)
    got = outcomes(tree, ["core/redact.py"], function_patterns(["core/redact.py"], ["_article_phrase", "_phrase"]))
    assert got["core/redact.py"] == {KILLED: 2, SURVIVED: 1, TIMEOUT: 1}


def test_without_functions_every_mutant_counts(tmp_path: Path) -> None:
    tree = _meta(tmp_path)
    assert sum(outcomes(tree, ["core/redact.py"])["core/redact.py"].values()) == len(KEYS)
