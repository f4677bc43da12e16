"""The Rego test runner behind ``gateward policy test`` (``main()``), and the coverage checks.

Why our own runner: there is no ``opa`` binary on the machines this runs on, and the production
engine is regorus; tests must pass on the engine that decides. It discovers every ``test_*``
rule in every ``*_test.rego`` package, evaluates each with regorus against the real rules and
data (a test passes when it evaluates to ``true``; undefined or an error fails), and then checks
that the tests cover the pack:

* every rule and function defined in a non-test file is referenced by some test
  (``pkg.name`` or ``data.gateward.pkg.name``), and
* every rule *body* in a non-test file fired at least once while the tests ran (regorus line
  coverage of the body's head line): a ``deny`` body that no test makes deny is untested.

Both coverage checks count as one test each in the ``N passed, M failed`` line, and so does the
check that the pack uses none of the constructs regorus's bytecode VM decides differently
(policies/vmcheck.py; the embedded engine decides on that VM).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import regorus

from policies.loader import DERIVED_FROM, clean_error, load_sources, rego_test_files, rule_files

_PACKAGE = re.compile(r"^package\s+([A-Za-z0-9_.]+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_[A-Za-z0-9_]+)\b", re.MULTILINE)
# A rule head starts at column 0 with its name (functions too); package/import/default lines
# and comments are not rule heads.
_RULE_HEAD = re.compile(r"^(?!package\b|import\b|default\b)([A-Za-z_][A-Za-z0-9_]*)\b")


@dataclass(frozen=True)
class RegoTestResult:
    package: str
    name: str
    file: str
    passed: bool
    error: str | None = None
    duration_ms: float = 0.0

    @property
    def id(self) -> str:
        return f"{self.package}.{self.name}"


@dataclass(frozen=True)
class RuleHead:
    package: str
    name: str
    file: str
    line: int  # 1-based
    last_line: int  # the body's last line (= line for a one-line rule)
    text: str = ""


@dataclass
class RegoTestRun:
    """The results, plus what the coverage checks found (empty lists = fully covered)."""

    results: list[RegoTestResult] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)
    never_fired: list[str] = field(default_factory=list)
    coverage_checked: bool = False
    vm_hazards: list[str] = field(default_factory=list)
    vm_checked: bool = False
    stale_overrides: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[RegoTestResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def failures(self) -> list[RegoTestResult]:
        return [r for r in self.results if not r.passed]

    @property
    def passed(self) -> int:
        n = sum(r.passed for r in self.results)
        if self.coverage_checked:
            n += (not self.unreferenced) + (not self.never_fired)
        if self.vm_checked:
            n += not self.vm_hazards
        return n + (not self.stale_overrides)

    @property
    def failed(self) -> int:
        n = len(self.failures)
        if self.coverage_checked:
            n += bool(self.unreferenced) + bool(self.never_fired)
        if self.vm_checked:
            n += bool(self.vm_hazards)
        return n + bool(self.stale_overrides)

    @property
    def ok(self) -> bool:
        return self.failed == 0


def discover_tests(rules_dir: Path | str | None = None) -> list[tuple[str, str, str]]:
    """``(file, package, test rule)`` for every ``test_*`` rule in every ``*_test.rego``."""
    found: list[tuple[str, str, str]] = []
    root = Path(rules_dir) if rules_dir is not None else None
    for path in rego_test_files(root):
        text = path.read_text(encoding="utf-8")
        match = _PACKAGE.search(text)
        if not match:
            continue
        seen: set[str] = set()
        for name in _TEST_RULE.findall(text):
            if name not in seen:
                seen.add(name)
                found.append((path.name, match.group(1), name))
    return found


def rule_heads(rules_dir: Path | str | None = None) -> list[RuleHead]:
    """Every rule/function head line in the non-test files (one per body)."""
    heads: list[RuleHead] = []
    root = Path(rules_dir) if rules_dir is not None else None
    for path in rule_files(root):
        text = path.read_text(encoding="utf-8")
        match = _PACKAGE.search(text)
        if not match:
            continue
        lines = text.splitlines()
        for index, line in enumerate(lines):
            head = _RULE_HEAD.match(line)
            if not head:
                continue
            # The body ends before the next line that starts in column 0 (a closing bracket,
            # "} else", the next rule, a comment or a blank line).
            last = index
            for j in range(index + 1, len(lines)):
                if not lines[j] or not lines[j][0].isspace():
                    break
                last = j
            heads.append(RuleHead(match.group(1), head.group(1), path.name, index + 1, last + 1, line))
    return heads


_IMPORT = re.compile(r"^import\s+data\.([A-Za-z0-9_.]+)(?:\s+as\s+([A-Za-z_][A-Za-z0-9_]*))?", re.MULTILINE)


def _references(test_texts: Sequence[str]) -> set[tuple[str, str]]:
    """``(package, rule)`` pairs the tests name, through ``data.`` paths or import aliases."""
    refs: set[tuple[str, str]] = set()
    for text in test_texts:
        aliases = {(alias or pkg.rsplit(".", 1)[-1]): pkg for pkg, alias in _IMPORT.findall(text)}
        for match in re.finditer(
            r"(?<![A-Za-z0-9_.])([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text
        ):
            parts = match.group(1).split(".")
            if parts[0] == "data":
                parts = parts[1:]
            elif parts[0] in aliases:
                parts = [*aliases[parts[0]].split("."), *parts[1:]]
            else:
                continue
            # data.a.b.c names rule c of package a.b, or rule b of package a: record every split.
            for i in range(1, len(parts)):
                refs.add((".".join(parts[:i]), parts[i]))
    return refs


def _fired(head: RuleHead, covered: set[int]) -> bool:
    """regorus marks a rule's head line when it evaluates the head's value, so a rule with a
    value and a body (``deny contains msg if {``) fired when its head line is covered. Bare
    boolean rules (``x if {``), functions and multi-line values (``x := [... |``) are never
    marked; for those, reaching the last line of the body counts (they are also referenced by
    name in their tests, which the other check enforces)."""
    if head.line in covered:
        return True
    before_if = head.text.split(" if", 1)[0]
    is_function = before_if.split(":=", 1)[0].rstrip().endswith(")")
    has_value = " contains " in before_if or ":=" in before_if or " = " in before_if
    if " if" in head.text and has_value and not is_function:
        return False
    return head.last_line in covered


_OVERRIDE = re.compile(r"with\s+data\.gateward\.data\.([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)")


def stale_overrides(rules_dir: Path | str | None = None) -> list[str]:
    """Test-file lines that override, with ``with``, a data key the loader derives a table from
    (policies/loader.py ``DERIVED_FROM``): the rules read the table, so the override would not
    reach them and the test would check something other than it says."""
    found: list[str] = []
    root = Path(rules_dir) if rules_dir is not None else None
    for path in rego_test_files(root):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for file, key in _OVERRIDE.findall(line):
                if key in DERIVED_FROM.get(file, ()):
                    found.append(f"{path.name}:{number}: data.gateward.data.{file}.{key} has tables derived from "
                                 f"it at load; override data.gateward.data.{file} as a whole")
    return found


def run_rego_tests(
    rules_dir: Path | str | None = None,
    data_dir: Path | str | None = None,
    *,
    coverage: bool = True,
    pattern: str | None = None,
) -> RegoTestRun:
    """Run every Rego test (optionally only ids matching ``pattern``) and the coverage checks."""
    sources = load_sources(rules_dir, data_dir)
    engine = regorus.Engine()
    engine.set_rego_v0(False)
    for name, text in sources.rules:
        engine.add_policy(name, text)
    for path in rego_test_files(sources.rules_dir):
        engine.add_policy(path.relative_to(sources.rules_dir).as_posix(), path.read_text(encoding="utf-8"))
    engine.add_data_json(sources.data_json())
    if coverage:
        engine.set_enable_coverage(True)
    run = RegoTestRun()
    for file, package, name in discover_tests(sources.rules_dir):
        if pattern and not re.search(pattern, f"{package}.{name}"):
            continue
        start = time.perf_counter()
        try:
            value = engine.eval_rule(f"data.{package}.{name}")
            error = (
                None
                if value is True
                else (
                    "undefined (a condition did not hold)"
                    if value is None
                    else f"evaluated to {value!r}, not true"
                )
            )
        except Exception as exc:
            error = clean_error(exc)
            if len(error) > 400:  # regorus dumps whole scopes; the head says what failed
                error = error[:400] + " ..."
        run.results.append(
            RegoTestResult(package, name, file, error is None, error, (time.perf_counter() - start) * 1000)
        )
    run.stale_overrides = stale_overrides(sources.rules_dir)
    if pattern is None:
        from policies.vmcheck import check_sources

        run.vm_checked = True
        run.vm_hazards = [str(h) for h in check_sources(sources)]
    if coverage and pattern is None:
        run.coverage_checked = True
        refs = _references([p.read_text(encoding="utf-8") for p in rego_test_files(sources.rules_dir)])
        heads = rule_heads(sources.rules_dir)
        run.unreferenced = sorted({f"{h.package}.{h.name}" for h in heads if (h.package, h.name) not in refs})
        # regorus marks a rule's head line when the rule produced a value, and a statement's line
        # when it was evaluated; a body whose last line was reached has passed all its conditions.
        report = orjson.loads(engine.get_coverage_report_as_json())
        covered = {Path(f["path"]).name: set(f.get("covered", [])) for f in report.get("files", [])}
        run.never_fired = [
            f"{h.file}:{h.line} {h.package}.{h.name}"
            for h in heads
            if not _fired(h, covered.get(h.file, set()))
        ]
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """``gateward policy test``: print failures, then ``N passed, M failed``; exit 1 on failure."""
    parser = argparse.ArgumentParser(prog="gateward policy test", description=__doc__.splitlines()[0])
    parser.add_argument("--rules-dir", default=None, help="default: the package's policies/rego")
    parser.add_argument("--data-dir", default=None, help="default: the package's policies/data")
    parser.add_argument("-k", dest="pattern", default=None, help="only tests whose id matches this regex")
    parser.add_argument("--no-coverage", action="store_true", help="skip the coverage checks")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every test")
    # None means "no options" (the CLI calls main() inside its own argv), not sys.argv.
    args = parser.parse_args(list(argv) if argv is not None else [])
    try:
        run = run_rego_tests(
            args.rules_dir, args.data_dir, coverage=not args.no_coverage, pattern=args.pattern
        )
    except Exception as exc:  # PolicyLoadError or a parse error in a test file
        print(f"error: cannot load the policy pack: {clean_error(exc)}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    for result in run.results:
        if args.verbose or not result.passed:
            status = "PASS" if result.passed else "FAIL"
            suffix = f": {result.error}" if result.error else ""
            print(f"{status} {result.id} ({result.file}, {result.duration_ms:.1f} ms){suffix}")
    if run.unreferenced:
        print("FAIL coverage: rules no test references: " + ", ".join(run.unreferenced))
    if run.never_fired:
        print("FAIL coverage: rule bodies that never fired in any test:")
        for item in run.never_fired:
            print(f"  {item}")
    if run.stale_overrides:
        print("FAIL overrides that leave a derived table stale (policies/loader.py DERIVED_FROM):")
        for item in run.stale_overrides:
            print(f"  {item}")
    if run.vm_hazards:
        print("FAIL vm: constructs the regorus bytecode VM decides differently (policies/vmcheck.py):")
        for item in run.vm_hazards:
            print(f"  {item}")
    print(f"{run.passed} passed, {run.failed} failed")
    return 0 if run.ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
