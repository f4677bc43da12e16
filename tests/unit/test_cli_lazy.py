"""The lazily built command tree is typer's tree (gateward/cli_fast.py; issue 15).

``gateward`` builds a click command only when click looks it up, and builds a parameter's pydantic
coercion only for a value it cannot pass through unchanged. Both are shortcuts around typer
internals, so these tests compare them with typer's own eager behaviour: every command's help
text, the errors for unknown commands and bad values, and the coerced value of every plain
``str``/``int`` parameter for a range of inputs.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import typer.testing
from typer.main import get_command
from typer.testing import CliRunner

from gateward import cli, cli_fast


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():
        yield from _paths(sub, (*prefix, name))


@pytest.fixture(scope="module")
def eager() -> Any:
    return get_command(cli.app)


def _invoke(args: list[str], lazy: bool, monkeypatch: pytest.MonkeyPatch, eager: Any = None) -> tuple[int, str]:
    """Run ``gateward args`` through typer's test runner, on a lazy tree built for this run, or on
    typer's eager tree: ``eager`` when given (built once: click commands are parsed afresh on every
    run, and building typer's whole tree again for each of ~200 runs was most of this module's time)."""
    # What earlier tests left unclosed may be collected inside the runner, whose output then took its
    # ResourceWarning (CI: "…raddr=('127.0.0.1', 35506)" at the end of one help text): the warning is
    # ignored while the runner runs. A gc.collect() before each run did the same, but in a worker whose
    # heap earlier tests had grown it cost the ~400 runs of the help-text test over 300 s beside four
    # CPU hogs (issue 61 item 10). Alone, the test took 9.4 s with it and takes 1.1 s without.
    with warnings.catch_warnings(), monkeypatch.context() as m:
        warnings.simplefilter("ignore", ResourceWarning)
        m.setenv("COLUMNS", "120")
        if lazy:
            m.setattr(typer.testing, "_get_command", cli_fast.lazy_command)
        elif eager is not None:
            m.setattr(typer.testing, "_get_command", lambda _app: eager)
        res = CliRunner().invoke(cli.app, args)
    return res.exit_code, res.output


def test_every_help_text_is_typers(eager: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = list(_paths(eager))
    assert len(paths) > 80 and ("devices",) in paths and ("device",) in paths
    for path in paths:
        args = [*path, "--help"]
        assert _invoke(args, True, monkeypatch) == _invoke(args, False, monkeypatch, eager), path


def test_a_reused_eager_tree_answers_as_a_fresh_one(eager: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """What lets the checks above build typer's tree once: it answers as one built for the run."""
    for args in (["--help"], ["devices", "--help"], ["devices", "--limit", "x"], ["nope"]):
        assert _invoke(args, False, monkeypatch, eager) == _invoke(args, False, monkeypatch), args


@pytest.mark.parametrize("args", [[], ["nope"], ["devices", "nope"], ["devise"], ["show"], ["devices", "--limit", "x"],
                                  ["devices", "--limit", "1_0"], ["usp", "devices", "--timeout", "zz"],
                                  ["run", "--workers", "99"], ["proposals", "--limit", "-1x"]])
def test_errors_are_typers(args: list[str], eager: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _invoke(args, True, monkeypatch) == _invoke(args, False, monkeypatch, eager)


def test_the_tree_has_the_same_commands_in_the_same_order(eager: Any) -> None:
    lazy = cli_fast.lazy_command(cli.app)

    def shape(command: Any) -> Any:
        subs = getattr(command, "commands", None)
        params = [(p.name, tuple(p.opts), p.required, repr(p.default), p.help if hasattr(p, "help") else None)
                  for p in command.params]
        return (command.name, command.help, params,
                None if subs is None else [(n, shape(c)) for n, c in subs.items()])

    assert shape(lazy) == shape(eager)


_SHAPE = """
import json, sys
from gateward import cli, cli_fast

def shape(command):
    subs = getattr(command, "commands", None)
    params = [[p.name, list(p.opts), p.required, repr(p.default)] for p in command.params]
    return [command.name, command.help, params, None if subs is None else [[n, shape(c)] for n, c in subs.items()]]

root = cli_fast.lazy_command(cli.app)
root.commands["devices"]
built = {"root": list(root.commands._built), "devices": list(root.commands._built["devices"].commands._built),
         "modules": sorted(m for m in sys.modules if m.startswith("gateward.cli_"))}
import typer.testing
lazy_runner = typer.testing.CliRunner()
typer.testing._get_command = cli_fast.lazy_command
helps = {" ".join(a): lazy_runner.invoke(cli.app, a).output for a in (["--help"], ["nope"], ["devices", "--help"])}
print(json.dumps({"built": built, "shape": shape(root), "helps": helps}))
"""


def test_an_invocation_builds_and_imports_only_what_it_uses(eager: Any) -> None:
    """In a fresh process (the plugin modules not yet imported): looking up ``devices`` builds that
    group alone and imports gateward.cli_devices alone; the whole lazy tree is still the eager one."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": "120"}
    done = subprocess.run([sys.executable, "-c", _SHAPE], capture_output=True, text=True, timeout=120, check=True,
                          env=env)
    out = json.loads(done.stdout.splitlines()[-1])
    for args, text in out["helps"].items():
        assert text == CliRunner().invoke(cli.app, args.split(), env={"COLUMNS": "120"}).output, args
    assert out["built"] == {"root": ["devices"], "devices": [],
                            "modules": ["gateward.cli_actor", "gateward.cli_devices", "gateward.cli_face",
                                        "gateward.cli_fast", "gateward.cli_text"]}  # cli_text: the escaping

    def shape(command: Any) -> Any:
        subs = getattr(command, "commands", None)
        params = [[p.name, list(p.opts), p.required, repr(p.default)] for p in command.params]
        return [command.name, command.help, params, None if subs is None else [[n, shape(c)] for n, c in subs.items()]]

    assert out["shape"] == shape(eager)


SAMPLES: list[Any] = ["abc", "", " 5", "5 ", "+5", "-5", "-0", "0", "007", "1_000", "12", "99999999999999999999",
                      "1e3", "0x10", "١٢", 7, 0, -3, True, False, 2.0]


def test_the_coercion_shortcut_agrees_with_typer(eager: Any) -> None:
    from typer._click.exceptions import BadParameter
    from typer._coercion import build_runtime_param

    seen = 0
    for path in _paths(eager):
        command = eager
        for name in path:
            command = command.commands[name]
        for param in command.params:
            d = getattr(param, "type_descriptor", None)
            if d is None or d.annotation not in (str, int):
                continue
            real = build_runtime_param(d)
            for value in SAMPLES:
                known, coerced = cli_fast.passes_unchanged(d.annotation, d.parameter_info, value)
                if not known:
                    continue
                seen += 1
                try:
                    expected = real.coerce(value, param=param, ctx=None)  # type: ignore[arg-type]
                except BadParameter:
                    pytest.fail(f"{path} {param.name}: the shortcut accepts {value!r}, typer refuses it")
                assert (coerced, type(coerced)) == (expected, type(expected)), (path, param.name, value)
    assert seen > 100


def test_the_plugin_names_are_what_each_module_adds() -> None:
    """gateward.cli.PLUGINS names, per module, the top-level commands and groups its register() adds:
    an invocation imports only the module that adds the command it runs."""
    from typer.main import get_command_name, solve_typer_info_defaults

    from gateward.cli_fast import plugin_module

    for module_name, (commands, groups) in cli.PLUGINS.items():
        scratch = typer.Typer()
        plugin_module(module_name).register(scratch)
        assert tuple(c.name or get_command_name(c.callback.__name__) for c in scratch.registered_commands) == commands
        assert tuple(solve_typer_info_defaults(g).name for g in scratch.registered_groups) == groups
