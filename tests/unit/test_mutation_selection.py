"""``make mutate MUTATE_FUNCTIONS=…``: only the named functions' mutants are run and scored, so a
change to two functions of a 950-line module is measured in minutes (tests/mutation.py)."""

from __future__ import annotations

import fnmatch
import json
from collections import Counter
from pathlib import Path

import pytest

from tests.mutation import KILLED, SURVIVED, TIMEOUT, function_patterns, mutant_names, outcomes, report, sample, wilson

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


# ``MUTATE_SAMPLE=N``: a package of thousands of mutants scored on a random few hundred, with its interval


def test_every_mutant_of_the_modules_is_named(tmp_path: Path) -> None:
    tree = _meta(tmp_path)
    assert mutant_names(tree, ["core/redact.py"]) == sorted(KEYS)
    assert mutant_names(tree, ["core/redact.py"], function_patterns(["core/redact.py"], ["mask"])) == [
        "core.redact.x_mask__mutmut_1"]
    assert mutant_names(tree, ["core/other.py"]) == []  # a module mutmut made nothing of


def test_a_sample_is_drawn_from_the_names_and_repeats_with_its_seed() -> None:
    names = [f"m.x_f__mutmut_{i}" for i in range(200)]
    drawn = sample(names, 30, seed=7)
    assert len(drawn) == len(set(drawn)) == 30
    assert set(drawn) <= set(names)
    assert drawn == sorted(drawn)
    assert sample(list(reversed(names)), 30, seed=7) == drawn  # the names' order does not change it
    assert sample(names, 30, seed=8) != drawn
    assert sample(names, 500, seed=7) == sorted(names)  # asked for more than there are: all of them


def test_a_sample_is_uniform_over_the_names() -> None:
    names = [f"m.x_f__mutmut_{i:03}" for i in range(100)]
    firsts = sum(n < "m.x_f__mutmut_050" for seed in range(200) for n in sample(names, 10, seed))
    assert 900 <= firsts <= 1100  # half of 2,000 draws from the first half, give or take five standard deviations


def test_wilson_interval_brackets_the_score() -> None:
    low, high = wilson(85, 100)
    assert round(low, 3) == 0.767 and round(high, 3) == 0.907  # the textbook figures for 85 of 100
    assert wilson(0, 0) == (0.0, 1.0)  # nothing judged: nothing known
    low, high = wilson(20, 20)
    assert high == 1.0 and 0.83 < low < 0.84  # all killed is not a certainty of 100 %
    low, high = wilson(0, 20)
    assert low == 0.0 and 0.16 < high < 0.17
    assert wilson(170, 200)[1] - wilson(170, 200)[0] < wilson(85, 100)[1] - wilson(85, 100)[0]


def test_a_sampled_report_carries_the_interval(capsys: pytest.CaptureFixture[str]) -> None:

    rows = report({"brain/understanding/when.py": Counter({KILLED: 17, SURVIVED: 2, TIMEOUT: 1})}, sampled=True)
    module, package = rows
    assert module["score"] == 0.9 and module["interval"] == list(wilson(18, 20))
    assert package["package"] == "brain/understanding" and package["interval"] == module["interval"]
    out = capsys.readouterr().out
    assert "95 % interval" in out and "90 %" in out and "70–97 %" in out  # 18 of 20
    assert "interval" not in report({"m.py": Counter({KILLED: 1})})[0]
