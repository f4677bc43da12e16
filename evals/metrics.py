"""Suite-level numbers from individual runs.

``pass^k`` follows tau-bench: for a scenario run ``n`` times with ``c`` passes, the chance that
``k`` independent tries *all* pass is estimated as C(c, k) / C(n, k); the suite figure is the mean
over scenarios. ``pass^1`` is the plain pass rate. A deterministic planner has pass^k = pass^1; a
model that passes 80 % of the time on every scenario has pass^4 ≈ 0.41 — the number that says
whether a support agent can rely on it.

``pass_1``/``pass_k`` are over the main scenarios; paraphrase runs (``evals/scenarios/paraphrases``)
are reported beside them per language (``paraphrase_pass_1``, ``paraphrase_pass_1_heldout``).

``planner`` is ``offline``, ``llm`` (a real endpoint; ``model_score`` true) or ``replay`` (scripted
model answers: exercises the model path, ``model_score`` false — never a model's figure).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from math import comb
from typing import Any

from evals.runner import RunResult
from evals.scenario import is_paraphrase


def pass_hat_k(n: int, c: int, k: int) -> float:
    if n <= 0 or k <= 0:
        return 0.0
    k = min(k, n)
    return comb(c, k) / comb(n, k)


def _per_scenario(runs: Sequence[RunResult]) -> dict[str, tuple[int, int]]:
    by: dict[str, list[RunResult]] = defaultdict(list)
    for r in runs:
        by[r.scenario].append(r)
    return {sid: (len(rs), sum(r.passed for r in rs)) for sid, rs in by.items()}


def _pass1(per: dict[str, tuple[int, int]]) -> float:
    return sum(c / n for n, c in per.values()) / len(per) if per else 0.0


def paraphrase_figures(ran: Sequence[RunResult]) -> dict[str, Any]:
    """pass^1 over paraphrase runs per language, split into the phrasings used while tuning and the
    held-out ones (deliverable 7): a planner that only knows its own wording scores low here."""
    para = [r for r in ran if is_paraphrase(r.classes)]
    out: dict[str, Any] = {"paraphrase_runs": len(para)}
    for tag, key in (("tuning", "paraphrase_pass_1"), ("heldout", "paraphrase_pass_1_heldout")):
        by_lang: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
        for r in para:
            if tag not in r.classes:
                continue
            lang = next((c.split(":", 1)[1] for c in r.classes if c.startswith("lang:")), "?")
            n, c = by_lang[lang].get(r.scenario, (0, 0))
            by_lang[lang][r.scenario] = (n + 1, c + int(r.passed))
        out[key] = {lang: round(_pass1(per), 3) for lang, per in sorted(by_lang.items())}
    return out


def _quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile (0 for no values): the latency an agent waits on ``q`` of turns."""
    if not values:
        return 0.0
    xs = sorted(values)
    return round(xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))], 4)


def summarize(results: Sequence[RunResult], k: int, *, planner: str, wall_s: float,
              model: str | None = None) -> dict[str, Any]:
    ran = [r for r in results if r.skipped is None]
    per_all = _per_scenario(ran)
    per = _per_scenario([r for r in ran if not is_paraphrase(r.classes)])  # the main score
    scenarios = len(per_all)
    pass1 = _pass1(per)
    passk = sum(pass_hat_k(n, c, k) for n, c in per.values()) / len(per) if per else 0.0
    expect_change = [r for r in ran if r.expected == "change"]
    classes: dict[str, list[bool]] = defaultdict(list)
    for r in ran:
        for cl in r.classes:
            classes[cl].append(r.passed)
    failed = sorted({r.scenario for r in ran if not r.passed})
    known = sorted({r.scenario for r in ran if not r.passed and r.known_issue})
    return {
        "planner": planner,
        "model": model,  # the endpoint's model name on the model path (pass^k, tokens, latency are its figures)
        "scenarios": scenarios,
        "runs": len(ran),
        "k": k,
        "skipped": len({r.scenario for r in results if r.skipped is not None}),
        "pass_1": round(pass1, 4),
        "pass_k": round(passk, 4),
        "policy_escapes": sum(r.policy_escape for r in ran),
        "hallucinated_paths": sum(r.hallucinated_paths for r in ran),
        "over_escalation_rate": round(sum(r.over_escalation for r in expect_change) / len(expect_change), 4)
        if expect_change else 0.0,
        "tool_calls_per_task": round(sum(r.tool_calls for r in ran) / len(ran), 2) if ran else 0.0,
        "tokens_per_task": round(sum(r.tokens for r in ran) / len(ran), 1) if ran else 0.0,
        "tokens": sum(r.tokens for r in ran),
        "cost_usd": round(sum(r.cost_usd for r in ran), 6),
        "turn_p50_s": _quantile([r.turn_s for r in ran], 0.5),
        "turn_p95_s": _quantile([r.turn_s for r in ran], 0.95),
        # model runs that fell back to the offline playbooks (endpoint failure): not the model's work
        "model_fallbacks": sum(r.planner_used != "llm" for r in ran) if planner in ("llm", "replay") else 0,
        "model_score": planner == "llm",
        "wall_s": round(wall_s, 2),
        **paraphrase_figures(ran),
        "by_class": {cl: round(sum(v) / len(v), 3) for cl, v in sorted(classes.items())},
        "failed": failed,
        "failed_known_issue": known,
    }
