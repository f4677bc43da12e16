"""Run ``gateward …`` in this process, as a person runs it, for tests (issue 35 item 5).

Why: a test that spawned ``python -m gateward.cli`` paid the interpreter's start and every import
again (1–3 s each, ~30 tests, several calls each) to check what the command prints and returns.
:func:`run_cli` calls the real entry point, :func:`gateward.cli.main` (secret files, the lazy
command tree, the one-line database errors), with ``sys.argv``, the environment and the working
directory set as for a process, and hands back what a process would: the exit code, stdout and
stderr (a traceback and code 1 for an uncaught exception; warnings logged, as Python's last-resort
handler prints them). Between runs it drops what the CLI keeps per process (the runtime, the read
runtime, the cached settings), so each run reads its own environment.

One subprocess smoke test keeps the real ``gateward`` entry point covered
(``tests/test_cli_papercuts.py::test_the_installed_command_runs_in_a_process``); tests that need a
process (signals, crash recovery, a child that fills its disk) still start one.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_lock = threading.Lock()  # one CLI run at a time per process: it sets argv, the environment, cwd


@dataclass
class CliResult:
    """What ``subprocess.run(..., capture_output=True, text=True)`` would hand back."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _environment(env: Mapping[str, str] | None, unset: tuple[str, ...]) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        # Unset first, then set: a name in both (``unset`` is often "every GATEWARD_* the test
        # process has", which includes GATEWARD_HOME) takes the run's value, as a child process
        # started with that environment would.
        for name in unset:
            os.environ.pop(name, None)
        if env is not None:
            os.environ.update(env)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _cwd(path: Path | str | None) -> Iterator[None]:
    before = os.getcwd()
    if path is not None:
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


@contextlib.contextmanager
def _fresh_process() -> Iterator[None]:
    """The run starts with none of what the CLI keeps for the life of a process (the runtime, the
    read runtime, the cached settings, the start's problems) and closes what it built; a runtime a test handed the CLI
    is put back afterwards."""
    from core.kernel.config import get_settings
    from gateward import cli

    saved = cli._runtime, cli._reads
    cli._runtime = cli._reads = None
    get_settings.cache_clear()
    try:
        yield
    finally:
        runtime, reads = cli._runtime, cli._reads
        cli._runtime, cli._reads = saved
        get_settings.cache_clear()
        # what main() found wrong at this run's start (a secret set twice) ends with the run: left
        # behind, the next `status` of this process (a CliRunner invoke, which skips main) printed it
        cli.START_PROBLEMS.clear()
        if runtime is not None:
            runtime.close()
        if reads is not None:
            reads.close()


@contextlib.contextmanager
def _logging_kept() -> Iterator[None]:
    """Logging as it was before the run: ``gateward run`` configures the process's logging
    (``gateward.logs.configure``: handlers, levels, loggers disabled by ``dictConfig``), which a
    process keeps and a test process must not."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger(), *(lg for lg in list(manager.loggerDict.values()) if isinstance(lg, logging.Logger))]
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    known = set(manager.loggerDict)
    try:
        yield
    finally:
        for lg, level, handlers, propagate, disabled in saved:
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate, lg.disabled = propagate, disabled
        for name in set(manager.loggerDict) - known:  # loggers the run made: back to inheriting
            made = manager.loggerDict[name]
            if isinstance(made, logging.Logger):
                made.handlers[:] = []
                made.setLevel(logging.NOTSET)
                made.propagate, made.disabled = True, False


@contextlib.contextmanager
def _consoles(width: int) -> Iterator[None]:
    """The command modules' module-level rich consoles, for the run: ``width`` columns (as the
    ``COLUMNS`` a process would read when it made them), writing to whatever ``sys.stdout`` and
    ``sys.stderr`` are when they print (the run's buffers)."""
    from rich.console import Console

    saved: list[tuple[Any, str, Any]] = []
    for name, module in list(sys.modules.items()):
        if not (name == "gateward" or name.startswith("gateward.")) or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, Console):
                saved.append((module, attr, value))
                setattr(module, attr, Console(width=width, stderr=value.stderr, color_system=None))
    try:
        yield
    finally:
        for module, attr, value in saved:
            setattr(module, attr, value)


def _import_commands() -> None:
    """Import every command module once, so their consoles exist before :func:`_consoles` looks."""
    import importlib
    import pkgutil

    import gateward

    for info in pkgutil.iter_modules(gateward.__path__):
        if info.name.startswith("cli"):
            importlib.import_module(f"gateward.{info.name}")


def run_cli(*args: str, env: Mapping[str, str] | None = None, unset: tuple[str, ...] = (),
            cwd: Path | str | None = None, columns: int = 200) -> CliResult:
    """``gateward *args`` in this process. ``env`` is laid over this process's environment (and
    ``unset`` removed from it) for the run only; ``cwd`` is the working directory for the run."""
    from gateward import cli

    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)  # what Python's last-resort handler prints in a process
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    with _lock:
        _import_commands()
        argv = sys.argv
        code: int
        try:
            with _environment({**(env or {}), "COLUMNS": str(columns)}, unset), _cwd(cwd), \
                    contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _consoles(columns), \
                    _logging_kept(), _fresh_process():
                sys.argv = ["gateward", *args]
                root.addHandler(handler)
                try:
                    cli.main()
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                    if isinstance(exc.code, str):
                        err.write(exc.code + "\n")
                except Exception:
                    err.write(traceback.format_exc())
                    code = 1
                finally:
                    root.removeHandler(handler)
        finally:
            sys.argv = argv
    return CliResult(args=["gateward", *args], returncode=code, stdout=out.getvalue(), stderr=err.getvalue())
