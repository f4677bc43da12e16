"""How long the chat redactor and the value validators take on the worst 4,000-character message.

Why it matters: every chat message (at most 4,000 characters) is scrubbed before it is stored or
shown, and every proposed value is validated; a backtracking regex or a per-keyword rescan makes
one crafted message cost the API's event loop a second (1,215 ms before the redactor went linear).
The corpus is ``testing.redact_corpus.pathological()``. Each input is timed three times and the
fastest counts, so a neighbour's burst on a shared machine does not make the worst. The same-run
baseline is an ordinary support message of the same length (sentences of the negative corpus),
which shows how fast the machine was. Goal: the worst input ≤ 5 ms on an idle machine; the bound
the timing test used to assert, on a shared one, was 25 ms (moved here: a test asserts behaviour).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.framework import BenchResult

NAME = "redact_pathological"
KEYS = ("redact_worst_ms", "redact_ordinary_ms")  # metrics every --quick run reports (tests/bench_smoke)
DESCRIPTION = ("chat redactor and value validators on the worst 4,000-character message "
               "(goal ≤ 5 ms idle, bound 25 ms), an ordinary message as baseline")

GOAL_MS = 5.0
BOUND_MS = 25.0
ORDINARY = ("the customer says the wifi drops in the evening since the new router arrived, "
            "can you check channel 36 and the signal in the living room? ")


def _fastest_ms(fn: Callable[[str], object], text: str, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def _validators() -> list[Callable[[str], object]]:
    from core.kernel import values
    from core.validation import _HOST_RE

    return [
        lambda t: values.control_problem(t, display=True), lambda t: values.control_problem(t, display=False),
        values.listed_values, values.parse_bool, values.parse_wire_int, values.byte_length,
        lambda t: _HOST_RE.match(t), lambda t: values.named_type_check(["IPv4Address"]),
    ]


def run(quick: bool) -> BenchResult:
    from brain.redact import redact, scrub_text
    from testing.redact_corpus import PATHOLOGICAL_LEN, pathological

    runs = 2 if quick else 3
    corpus = pathological()
    ordinary = (ORDINARY * (PATHOLOGICAL_LEN // len(ORDINARY) + 1))[:PATHOLOGICAL_LEN]
    cases: dict[str, list[Callable[[str], object]]] = {"scrub_text": [scrub_text], "redact": [redact],
                                                       "validators": _validators()}
    metrics: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    for label, fns in cases.items():
        worst_ms, worst_name = max((_fastest_ms(fn, text, runs), name) for name, text in corpus for fn in fns)
        base_ms = max(_fastest_ms(fn, ordinary, runs) for fn in fns)
        metrics[f"{label}_worst_ms"] = round(worst_ms, 3)
        metrics[f"{label}_ordinary_ms"] = round(base_ms, 3)
        status = "met" if worst_ms <= GOAL_MS else ("within the bound" if worst_ms <= BOUND_MS else "NOT met")
        rows.append((f"{label}: worst input ({worst_name})",
                     f"{worst_ms:.2f} ms (goal ≤ {GOAL_MS:g} ms idle, bound {BOUND_MS:g}: {status})"))
        rows.append((f"{label}: an ordinary message, same length (baseline)", f"{base_ms:.2f} ms"))
    return BenchResult(name=NAME, metrics=metrics,
                       params={"inputs": len(corpus), "characters": PATHOLOGICAL_LEN, "runs_per_input": runs},
                       rows=rows)
