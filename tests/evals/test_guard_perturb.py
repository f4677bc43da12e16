"""The model path's guard measured without a model (issue 57 deliverable 2; evals/perturb): each
message's correct reading and its one-field perturbations — replayed as the model's tool call through
``testing.llm_server`` and the real ``ChatService`` — must leave what is written unchanged: nothing
submitted, or exactly the correct reading's write.

The everyday tier runs a fixed spread of the messages; the whole set (208 messages, EN/DE/FR/ES) runs
in the full tier and as ``gateward eval-guard`` (the catch rate per field, docs/planner.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from evals.perturb.cases import Case, load
from evals.perturb.perturb import FIELDS, Answer
from evals.perturb.runner import GuardHarness, Turn, judge, sample

CASES = load()
SAMPLE = sample(CASES, 8)


@pytest.fixture(scope="module")
def harness() -> Iterator[GuardHarness]:
    from gateward.cli_brain import SimWorld

    world = SimWorld(7, 60)
    h = GuardHarness(world)
    yield h
    h.close()
    world.close()


def test_the_message_set_is_large_and_in_four_languages() -> None:
    assert len(CASES) >= 200
    assert {c.lang for c in CASES} == {"en", "de", "fr", "es"}
    assert min(sum(c.lang == lang for c in CASES) for lang in ("en", "de", "fr", "es")) >= 50
    for c in CASES:  # a condition's words are the message's own
        for cond in c.cond:
            assert cond.words in c.msg, (c.id, cond.words)
        assert not c.when or c.when in c.msg, (c.id, c.when)


def test_a_perturbed_write_that_differs_from_the_correct_one_is_a_miss() -> None:
    """The judge itself: the harness can report a miss."""
    case = Case(id="x", lang="en", msg="m", action="channel", value=44, bands=["5GHz"])
    control = Turn("x", "en", "control", "change", "proposal", ((("Device.WiFi.Radio.2.Channel", "44"),), (), None, ()))
    wrong = Turn("x", "en", "band", "wrong", "proposal", ((("Device.WiFi.Radio.1.Channel", "44"),), (), None, ()))
    asked = Turn("x", "en", "band", "wrong", "question", None, "which band?")
    answer = Answer("band", "wrong", {})
    assert not judge(case, answer, control, wrong).caught
    assert judge(case, answer, control, asked).caught and judge(case, answer, control, control).caught


@pytest.mark.parametrize("case", SAMPLE, ids=[c.id for c in SAMPLE])
def test_every_perturbation_of_a_sampled_message_is_caught(harness: GuardHarness, case: Case) -> None:
    report = harness.run([case])
    assert report.results, f"{case.id}: no perturbation applies"
    missed = [f"{r.field}/{r.kind}: {r.how}" for r in report.results if not r.caught]
    assert not missed, (case.id, missed, report.controls[0].outcome)


@pytest.mark.slow
# 208 messages, each with its perturbations: 251 s in a loaded full tier on 2 cores, past the
# default 300 s once on a busier run — a hang guard, not a speed bound
@pytest.mark.timeout(900)
def test_the_whole_set(harness: GuardHarness) -> None:
    report = harness.run(CASES)
    summary: dict[str, Any] = report.summary()
    assert set(summary["per_field"]) == set(FIELDS)
    assert summary["perturbations"] >= 600
    # the floor the guard keeps (docs/planner.md has the figures per field and the misses' causes)
    assert summary["catch_rate"] >= FLOOR, summary["missed"]


# 748 of 756 caught in the full run after the guard's fixes (docs/planner.md): every miss left is a field
# the offline reader misreads or misses while the model drops it, so nothing disagrees
FLOOR = 0.98
