"""The Rego unit tests and the coverage checks, run through the same runner as `gateward policy test`."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies import testing


@pytest.fixture(scope="module")
def run() -> testing.RegoTestRun:
    return testing.run_rego_tests()


def test_every_rego_test_passes(run: testing.RegoTestRun) -> None:
    assert len(run) > 100
    assert [f"{r.id}: {r.error}" for r in run.failures] == []


def test_every_rule_is_referenced_by_a_test(run: testing.RegoTestRun) -> None:
    assert run.unreferenced == []


def test_every_rule_body_fires_in_some_test(run: testing.RegoTestRun) -> None:
    assert run.never_fired == []


def test_every_rule_file_has_a_test_file() -> None:
    from policies.loader import RULES_DIR, rule_files

    for path in rule_files():
        assert (RULES_DIR / f"{path.stem}_test.rego").exists(), f"{path.name} has no {path.stem}_test.rego"


def test_main_prints_the_closing_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert testing.main([]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    passed, failed = last.split(", ")
    assert passed.endswith("passed") and failed == "0 failed"


def test_main_fails_on_a_failing_test(pack_copy, capsys: pytest.CaptureFixture[str]) -> None:
    rules, data = pack_copy()
    (rules / "broken_test.rego").write_text(
        "package gateward.broken_test\n\nimport rego.v1\n\n"
        "test_wrong if {\n\tdata.gateward.data.limits.blind_bulk_max_targets == 99\n}\n"
    )
    assert testing.main(["--rules-dir", str(rules), "--data-dir", str(data)]) == 1
    out = capsys.readouterr().out
    assert "FAIL gateward.broken_test.test_wrong" in out
    assert out.strip().splitlines()[-1].endswith("1 failed")


def test_coverage_check_catches_an_untested_rule(pack_copy) -> None:
    rules, data = pack_copy()
    with (rules / "change.rego").open("a") as fh:
        fh.write(
            '\ndeny contains "change: never tested" if {\n\tinput.proposal.intent == "nope"\n}\n'
            "\nlonely := 1\n"
        )
    run = testing.run_rego_tests(rules, data)
    assert "gateward.change.lonely" in run.unreferenced
    assert any("change.rego" in item and "gateward.change.deny" in item for item in run.never_fired)
    assert not run.ok


def test_discover_and_rule_heads(tmp_path: Path) -> None:
    (tmp_path / "a.rego").write_text("package p\n\nimport rego.v1\n\nx := 1\n\nf(a) if {\n\ta > 1\n}\n")
    (tmp_path / "a_test.rego").write_text("package p_test\n\nimport rego.v1\n\ntest_x if data.p.x == 1\n")
    assert testing.discover_tests(tmp_path) == [("a_test.rego", "p_test", "test_x")]
    heads = testing.rule_heads(tmp_path)
    assert [(h.name, h.line, h.last_line) for h in heads] == [("x", 5, 5), ("f", 7, 8)]


def test_an_override_that_leaves_a_derived_table_stale_fails_the_run(pack_copy) -> None:
    """Overriding a key the loader derives a table from (here the risk step list the rules read
    as risk.target_steps_from_zero) would not reach the rules: the runner fails the file."""
    rules, data = pack_copy()
    assert testing.stale_overrides(rules) == []
    (rules / "stale_test.rego").write_text(
        "package gateward.stale_test\n\nimport rego.v1\n\n"
        "test_steps if {\n\tdata.gateward.risk.score >= 0 with data.gateward.data.risk.target_steps as []\n}\n"
    )
    run = testing.run_rego_tests(rules, data, coverage=False)
    assert [item.split(":")[0] for item in run.stale_overrides] == ["stale_test.rego"]
    assert not run.ok
