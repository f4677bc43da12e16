"""How long the offline understander takes to read one support message into a typed request.

Why it matters: every chat turn reads the whole message before anything is planned (issue 44), and a
message may be 4,000 characters of anything. The understander finds qualifiers with regular
expressions and phrase lists; a backtracking pattern turned a run of punctuation into minutes (found
while writing this bench: the confirmation matcher, now a word-by-word phrase scan). Rows: an
ordinary support message (goal ≤ 5 ms on an idle machine) and the worst of the redactor's
pathological 4,000-character inputs plus runs of qualifier words (goal ≤ 250 ms), each the fastest of
three; the same-run baseline is the speech-act step that ran alone before (``clauses.heard``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bench.framework import BenchResult

NAME = "understand"
KEYS = ("ordinary_ms", "worst_ms")  # metrics every --quick run reports (tests/bench_smoke)
DESCRIPTION = ("offline understander: an ordinary message (goal ≤ 5 ms) and the worst 4,000-character input "
               "(goal ≤ 250 ms); the speech-act step alone as baseline")

ORDINARY = ("the customer says the 5 GHz drops every evening, can you move it to channel 44 tonight at 2 "
            "unless a neighbour already sits there? and the guest wifi should stay as it is")
GOAL_ORDINARY_MS = 5.0
GOAL_WORST_MS = 250.0
_RUNS = ("unless a neighbour ", "if it is on 6 ", "tomorrow at 4 ", "the 5 on 6 ", "reboot it and ", "all the routers ",
         "x, ", "1 2 3 ")


def _fastest_ms(fn: Callable[[str], object], text: str, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def run(quick: bool) -> BenchResult:
    from brain.understanding import clauses
    from brain.understanding.offline import Context, understand
    from testing.redact_corpus import PATHOLOGICAL_LEN, pathological

    ctx = Context(now=datetime.now(UTC), zone=ZoneInfo("Europe/Berlin"))
    runs = 2 if quick else 3
    corpus = list(pathological()) + [(f"run {u.strip()!r}", (u * PATHOLOGICAL_LEN)[:PATHOLOGICAL_LEN]) for u in _RUNS]
    if quick:
        corpus = corpus[::3]

    def read(text: str) -> object:
        return understand(text, ctx)

    ordinary = _fastest_ms(read, ORDINARY, 20)
    ordinary_base = _fastest_ms(clauses.heard, ORDINARY, 20)
    worst, worst_name = max((_fastest_ms(read, text, runs), name) for name, text in corpus)
    worst_base = max(_fastest_ms(clauses.heard, text, runs) for _, text in corpus)
    rows = [
        ("an ordinary support message", f"{ordinary:.2f} ms (goal ≤ {GOAL_ORDINARY_MS:g} ms: "
                                        f"{'met' if ordinary <= GOAL_ORDINARY_MS else 'NOT met'})"),
        ("  the speech-act step alone (baseline)", f"{ordinary_base:.2f} ms"),
        (f"worst {PATHOLOGICAL_LEN}-character input ({worst_name})",
         f"{worst:.1f} ms (goal ≤ {GOAL_WORST_MS:g} ms: {'met' if worst <= GOAL_WORST_MS else 'NOT met'})"),
        ("  the speech-act step alone on the corpus (baseline)", f"{worst_base:.1f} ms"),
    ]
    metrics = {"ordinary_ms": round(ordinary, 3), "ordinary_baseline_ms": round(ordinary_base, 3),
               "worst_ms": round(worst, 2), "worst_baseline_ms": round(worst_base, 2)}
    return BenchResult(name=NAME, metrics=metrics,
                       params={"inputs": len(corpus), "characters": PATHOLOGICAL_LEN, "runs_per_input": runs},
                       rows=rows)
