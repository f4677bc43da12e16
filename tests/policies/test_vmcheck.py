"""The regorus 0.9.1 VM hazards (policies/vmcheck.py): the shipped pack has none, each check finds
its construct, and each construct really decides differently on the VM — so that the day a
regorus upgrade fixes one, this test says the check may go."""

from __future__ import annotations

from pathlib import Path

import pytest
import regorus
from regorus import regorus as regorus_native

from policies.loader import load_sources
from policies.vmcheck import check_sources

HAZARDS = {
    "undefined assignment": (
        "x contains c if {\n\tsome c in input.cs\n\tspec := data.cat[c]\n\tnot spec == 1\n}\n",
        "may be undefined",
    ),
    "not of a non-boolean in a loop": (
        "x contains c if {\n\tsome c in input.cs\n\tnot data.cat[c]\n}\n",
        "`not` of a value",
    ),
    "every": ("x contains c if {\n\tsome c in input.cs\n\tevery y in [1] { y > 2 }\n}\n", "`every`"),
    "undefined comprehension term": ("x := count([data.cat[c] | some c in input.cs])\n", "comprehension term"),
}


def _pack(tmp_path: Path, body: str) -> Path:
    rules = tmp_path / "rego"
    rules.mkdir()
    (rules / "p.rego").write_text("package gateward.p\n\nimport rego.v1\n\n" + body)
    return rules


def test_the_shipped_pack_has_no_vm_hazard() -> None:
    assert [str(h) for h in check_sources(load_sources())] == []


@pytest.mark.parametrize("name", list(HAZARDS))
def test_each_hazard_is_found_and_is_real(name: str, tmp_path: Path) -> None:
    body, says = HAZARDS[name]
    rules = _pack(tmp_path, body)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "cat.json").write_text('{"a": 1}')
    found = check_sources(load_sources(rules, data_dir))
    assert found and says in found[0].message and found[0].file == "p.rego"
    # The VM really decides it differently from the interpreter.
    data = '{"cat": {"a": 1}}'
    module = ("p.rego", (rules / "p.rego").read_text().replace("data.cat", "data.cat"))
    interpreter = regorus.Engine()
    interpreter.set_rego_v0(False)
    interpreter.add_policy(*module)
    interpreter.add_data_json(data)
    vm = regorus_native.Rvm()
    vm.load_program(regorus_native.Program.compile_from_modules(data, [module], ["data.gateward.p.x"]))
    vm.set_data_json(data)
    for engine in (interpreter, vm):
        engine.set_input_json('{"cs": ["a", "b"]}')
    assert interpreter.eval_rule_as_json("data.gateward.p.x") != vm.execute()


def test_the_safe_forms_pass(tmp_path: Path) -> None:
    body = (
        "x contains c if {\n\tsome c in input.cs\n\tspec := data.cat[c]\n\tis_number(spec)\n}\n\n"
        "y contains c if {\n\tsome c in input.cs\n\tobject.get(data.cat, c, false) == false\n}\n\n"
        "z contains c if {\n\tsome c in input.cs\n\tnot c in {\"a\"}\n}\n\n"
        "n := count([v | some c in input.cs; v := data.cat[c]; is_number(v)])\n"
    )
    assert check_sources(load_sources(_pack(tmp_path, body), tmp_path)) == []


def test_an_engine_never_decides_a_hazardous_pack_on_the_vm(tmp_path: Path) -> None:
    """An operator's own rules may hold a construct the VM gets wrong: the engine then decides
    with the interpreter (a wrong deny or allow would be silent), and says so in its evaluator."""
    import shutil

    from policies.engine import EmbeddedRegoEngine

    rules = tmp_path / "rego"
    shutil.copytree(Path(__file__).resolve().parents[2] / "policies" / "rego", rules)
    (rules / "operator_extra.rego").write_text(
        "package gateward.operator_extra\n\nimport rego.v1\n\n" + HAZARDS["every"][0])
    data = Path(__file__).resolve().parents[2] / "policies" / "data"
    assert EmbeddedRegoEngine(rules, data).evaluator == "interpreter"
    assert EmbeddedRegoEngine().evaluator == "vm"  # the shipped pack has no hazard
