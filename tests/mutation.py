"""Mutation testing of the modules a change touches: would a test notice if a line were wrong?

``make mutate`` (``MODULES="core/preconditions.py core/localtime.py"``, else every product module the
working tree changes against ``BASE``, ``main`` by default) runs mutmut 3 on them and prints, per module
and per package, how many of its mutants the selected tests killed. Why mutmut and how it is run:
docs/decisions/0031-mutation-testing.md.

mutmut copies the tree it runs in into ``mutants/`` and rewrites the mutated modules there; a copy of
this checkout is made outside it first (``MUTATE_DIR``, default a folder under the system's temporary
directory), so the shared checkout, its linters and its other test runs never see a mutant. The tests
that may kill a module's mutants are, unless ``MUTATE_TESTS`` names them, the everyday tier's test files
that import the module; mutmut then runs, for each mutant, only the tests that reached its function.
The figures are written to ``var/mutate/scores.json`` too.

``MUTATE_SAMPLE=N`` scores a uniform random sample of N of the selected mutants (``MUTATE_SEED``, 0 by
default, makes it the same sample again) and gives the score with its 95 % Wilson interval: a whole
package of the reader is thousands of mutants, days on two shared cores, while a few hundred chosen at
random say where it stands within a few points.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "api", "brain", "campaigns", "executors", "policies", "gateward", "evals", "bench", "testing")
SKIP = ("/proto/", "/migrations/")
KILLED, SURVIVED, NO_TESTS, TIMEOUT = "killed", "survived", "no tests", "timeout"
# mutmut's exit codes (mutmut.stats.status_by_exit_code) in the four outcomes a score counts
OUTCOME = {1: KILLED, 3: KILLED, 0: SURVIVED, 5: NO_TESTS, 33: NO_TESTS, 36: TIMEOUT, 24: TIMEOUT, -24: TIMEOUT,
           152: TIMEOUT, 255: TIMEOUT}


def _git(*args: str) -> list[str]:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line]


def changed_modules(base: str) -> list[str]:
    """The product modules the working tree changes against ``base`` (committed or not, new or not)."""
    names = set(_git("diff", "--name-only", base)) | set(_git("ls-files", "--others", "--exclude-standard"))
    return sorted(n for n in names if n.endswith(".py") and n.split("/")[0] in PACKAGES
                  and not any(s in f"/{n}" for s in SKIP) and (ROOT / n).exists())


def tests_for(modules: list[str]) -> list[str]:
    """The test files that import any of ``modules`` (``core.localtime``, ``from core import localtime``)."""
    patterns = []
    for m in modules:
        dotted = m.removesuffix(".py").replace("/", ".")
        parent, _, leaf = dotted.rpartition(".")
        patterns.append(re.compile(rf"\b{re.escape(dotted)}\b|from {re.escape(parent)} import [^\n]*\b{leaf}\b"))
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")
                  if "sanity" not in p.parts and any(rx.search(p.read_text(encoding="utf-8")) for rx in patterns))


def _copy_tree(into: Path) -> None:
    """This checkout as it is (tracked files and new ones, ignored ones left out), into ``into``."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    for name in _git("ls-files", "--cached", "--others", "--exclude-standard"):
        src = ROOT / name
        if src.is_file() and not name.startswith("docs/img/"):
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, into / name)


def _configure(tree: Path, modules: list[str], tests: list[str]) -> None:
    """mutmut's settings, in the copy's ``pyproject.toml`` (mutmut reads them from its working folder)."""
    settings = {
        "source_paths": list(PACKAGES),
        "only_mutate": modules,
        "pytest_add_cli_args_test_selection": tests,
        # the everyday tier, in the files' order, in one process per mutant
        "pytest_add_cli_args": ["-q", "-p", "no:randomly", "-p", "no:xdist", "-m", "not full and not sanity"],
    }
    lines = ["", "[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    with open(tree / "pyproject.toml", "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def function_patterns(modules: list[str], functions: list[str]) -> list[str]:
    """mutmut's names for the mutants of ``functions`` (a module's function ``x_name__mutmut_N``, a
    class's method ``xǁClassǁname__mutmut_N``) in each of ``modules``: for a large module whose change
    touched a few functions, measuring those is minutes where the whole module is hours."""
    out = []
    for m in modules:
        dotted = m.removesuffix(".py").replace("/", ".")
        for f in functions:
            out += [f"{dotted}.x_{f}__mutmut_*", f"{dotted}.xǁ*ǁ{f}__mutmut_*"]
    return out


def outcomes(tree: Path, modules: list[str], patterns: list[str] | None = None) -> dict[str, Counter[str]]:
    """module → how many of its mutants (those ``patterns`` match, when given) were killed, survived,
    had no test, timed out."""
    out: dict[str, Counter[str]] = {}
    for m in modules:
        meta = tree / "mutants" / f"{m}.meta"
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        out[m] = Counter(OUTCOME.get(code, "other") for key, code in codes.items()
                         if not patterns or any(fnmatch.fnmatchcase(key, p) for p in patterns))
    return out


def mutant_names(tree: Path, modules: list[str], patterns: list[str] | None = None) -> list[str]:
    """Every mutant mutmut made of ``modules`` (those ``patterns`` match, when given), sorted."""
    out: list[str] = []
    for m in modules:
        meta = tree / "mutants" / f"{m}.meta"
        keys = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        out += [k for k in keys if not patterns or any(fnmatch.fnmatchcase(k, p) for p in patterns)]
    return sorted(out)


def sample(names: list[str], n: int, seed: int) -> list[str]:
    """A uniform random sample of ``n`` of ``names`` (all of them when there are no more), the same one
    for the same names and ``seed``, sorted."""
    return sorted(random.Random(seed).sample(sorted(names), min(n, len(names))))


def wilson(killed: int, judged: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a sampled score ``killed``/``judged``: unlike the normal
    approximation it stays within 0..1 and is honest for a score near either end."""
    if judged <= 0:
        return 0.0, 1.0
    p = killed / judged
    centre = (p + z * z / (2 * judged)) / (1 + z * z / judged)
    half = z * math.sqrt(p * (1 - p) / judged + z * z / (4 * judged * judged)) / (1 + z * z / judged)
    return max(0.0, centre - half), min(1.0, centre + half)


def survivors(tree: Path) -> list[str]:
    res = subprocess.run([sys.executable, "-m", "mutmut", "results"], cwd=tree, capture_output=True, text=True)
    return [line.strip().split(":")[0] for line in res.stdout.splitlines() if line.strip().endswith(": survived")]


def score(c: Counter[str]) -> float | None:
    """Killed (a timeout is a kill) of the mutants a test could judge: a mutant no test reaches counts as
    surviving — it is a line nobody would notice."""
    judged = c[KILLED] + c[TIMEOUT] + c[SURVIVED] + c[NO_TESTS]
    return None if not judged else (c[KILLED] + c[TIMEOUT]) / judged


def _interval(c: Counter[str]) -> list[float]:
    killed = c[KILLED] + c[TIMEOUT]
    return list(wilson(killed, killed + c[SURVIVED] + c[NO_TESTS]))


def report(results: dict[str, Counter[str]], sampled: bool = False) -> list[dict[str, object]]:
    """One row a module and one a package; a sampled run's rows carry the score's 95 % interval."""
    rows: list[dict[str, object]] = []
    by_package: dict[str, Counter[str]] = defaultdict(Counter)
    for m, c in results.items():
        by_package[m.rsplit("/", 1)[0]] += c
        rows.append({"module": m, **c, "score": score(c)} | ({"interval": _interval(c)} if sampled else {}))
    rows += [{"package": p, **c, "score": score(c)} | ({"interval": _interval(c)} if sampled else {})
             for p, c in sorted(by_package.items())]
    print(f"{'module / package':<44} {'killed':>6} {'survived':>8} {'no test':>7} {'timeout':>7} {'score':>6}"
          + ("  95 % interval" if sampled else ""))
    for r in rows:
        s = r["score"]
        name = str(r.get("module") or f"{r['package']}/ (package)")
        bounds = r.get("interval")
        print(f"{name:<44} {r.get(KILLED, 0):>6} {r.get(SURVIVED, 0):>8} {r.get(NO_TESTS, 0):>7} "
              f"{r.get(TIMEOUT, 0):>7} {'-' if s is None else f'{100 * float(s):.0f} %':>6}"  # type: ignore[arg-type]
              + (f"  {100 * bounds[0]:.0f}–{100 * bounds[1]:.0f} %" if isinstance(bounds, list) else ""))
    return rows


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="make mutate", description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help="files to mutate (default: those changed against --base)")
    ap.add_argument("--base", default=os.environ.get("BASE") or "main")
    ap.add_argument("--tests", default=os.environ.get("MUTATE_TESTS", ""),
                    help="test files or folders (space-separated)")
    ap.add_argument("--functions", default=os.environ.get("MUTATE_FUNCTIONS", ""),
                    help="only these functions or methods of the modules (space-separated names)")
    ap.add_argument("--sample", type=int, default=int(os.environ.get("MUTATE_SAMPLE") or 0),
                    help="score only this many of the mutants, drawn at random (0: all)")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("MUTATE_SEED") or 0),
                    help="the sample's seed")
    ap.add_argument("--min", type=float, default=float(os.environ.get("MUTATE_MIN") or 0),
                    help="fail when a module scores below this percentage")
    ap.add_argument("--workers", type=int, default=int(os.environ.get("MUTATE_WORKERS") or os.cpu_count() or 1))
    ap.add_argument("--dir", default=os.environ.get("MUTATE_DIR")
                    or str(Path(tempfile.gettempdir()) / f"gateward-mutate-{os.getuid()}"))
    args = ap.parse_args(argv)
    modules = sorted(set(args.modules)) or changed_modules(args.base)
    if not modules:
        print(f"nothing to mutate: no product module changed against {args.base}")
        return 0
    missing = [m for m in modules if not (ROOT / m).is_file()]
    if missing:
        print(f"not a file of this checkout: {', '.join(missing)}", file=sys.stderr)
        return 2
    tests = args.tests.split() or tests_for(modules)
    if not tests:
        print(f"no test file imports {', '.join(modules)}: name them with MUTATE_TESTS", file=sys.stderr)
        return 2
    tree = Path(args.dir) / "tree"
    print(f"mutating {', '.join(modules)} against {len(tests)} test file(s), in {tree}")
    _copy_tree(tree)
    _configure(tree, modules, tests)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    patterns = function_patterns(modules, args.functions.split())
    mutmut = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.workers)]
    if args.sample > 0:
        # mutants made and the tests' reach recorded, none run (no mutant has this name): then the sample
        subprocess.run([*mutmut, "gateward-no-such-mutant"], cwd=tree, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        made = mutant_names(tree, modules, patterns)
        if not made:
            print(f"mutmut made no mutant of {', '.join(modules)}; run it in {tree} to see why", file=sys.stderr)
            return 2
        patterns = sample(made, args.sample, args.seed)
        print(f"scoring {len(patterns)} of {len(made)} mutants drawn at random (seed {args.seed})")
    run = subprocess.run([*mutmut, *patterns], cwd=tree, env=env, stdout=subprocess.DEVNULL)
    if run.returncode != 0:
        print(f"mutmut failed (exit {run.returncode}); run it in {tree} to see why", file=sys.stderr)
        return run.returncode
    results = outcomes(tree, modules, patterns)
    rows = report(results, sampled=args.sample > 0)
    left = survivors(tree)
    if left:
        print("survivors (see one: cd " + str(tree) + " && python -m mutmut show NAME):\n  " + "\n  ".join(left))
    out = ROOT / "var" / "mutate" / "scores.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"tests": tests, "rows": rows, "survivors": left}, indent=1) + "\n")
    low = [m for m, c in results.items() if (s := score(c)) is not None and 100 * s < args.min]
    if low:
        print(f"below {args.min:g} %: {', '.join(low)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
