"""Start-up of the ``gateward`` command: build only the commands this invocation uses.

Why: typer turns the whole command tree (90 commands, each signature evaluated four times) into
click commands before it parses ``argv`` — ~70 ms before ``gateward devices`` reads a row — and
typer ≥ 0.2x coerces every non-flag parameter through a pydantic ``TypeAdapter``, so a command
taking a plain string imported pydantic (~90 ms) to hand back the very string it was given. Here:

- the click tree is built by typer's own functions (``get_group_from_info``,
  ``get_command_from_info``), one group or command at a time, the first time click looks it up:
  ``gateward device ID`` builds the root group and ``device``; ``--help`` builds the root's
  commands for their one-line help and no sub-command's;
- a command module (``gateward/cli_*.py``) is imported only when one of its commands is looked up
  (:class:`PluginTyper`): where no bytecode is written, every module imported is compiled again;
- a parameter's pydantic coercion is built on the first value it cannot pass through unchanged:
  a ``str`` given a ``str`` (or nothing), an unconstrained ``int`` given an ``int`` (its default)
  or plain decimal digits. Those are exactly the values pydantic returns unchanged (or as
  ``int(text)``); anything else goes through typer's coercion as before.

``tests/unit/test_cli_lazy.py`` checks that the lazy tree is the eager one (names, order,
parameters and help text of every command, errors, in a fresh process too) and that each shortcut
agrees with typer's coercion; ``tests/unit/test_cli_speed.py`` what a read command imports.
If typer changes its internals so that these names are missing, :func:`run` falls back to
``app()``: slower, never different.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Callable, Iterator, MutableMapping
from functools import partial
from typing import Any

import typer
from typer import main as typer_main

_DIGITS = re.compile(r"-?(0|[1-9][0-9]{0,17})")  # fits an int64; what pydantic parses to int(text)


class LazyCommands(MutableMapping[str, Any]):
    """A group's commands by name, in registration order, each built on first lookup."""

    def __init__(self, builders: dict[str, Callable[[], Any]]) -> None:
        self._builders = builders
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = self._builders[name]()  # KeyError: no such command
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._builders.setdefault(name, lambda: command)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._builders[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


def passes_unchanged(annotation: Any, info: Any, value: Any) -> tuple[bool, Any]:
    """``(True, coerced)`` when typer's pydantic coercion of ``value`` is known without building it:
    a ``str`` for a ``str``, an ``int`` (or plain decimal digits) for an unconstrained ``int``."""
    if info.parser is None:
        if annotation is str and type(value) is str:
            return True, value
        if annotation is int and info.min is None and info.max is None and not info.clamp:
            if type(value) is int:
                return True, value
            if type(value) is str and _DIGITS.fullmatch(value):
                return True, int(value)
    return False, None


_DEFERRED: Any = None


def _deferred_class() -> Any:
    global _DEFERRED
    if _DEFERRED is None:
        from typer._coercion import RuntimeParam, build_runtime_param

        class Deferred(RuntimeParam):
            """Typer's runtime coercion, built on the first value :func:`passes_unchanged` refuses."""

            def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
                known, coerced = passes_unchanged(self.annotation, self.parameter_info, value)
                if known:
                    return coerced
                real = build_runtime_param(param.type_descriptor)
                param._runtime_param = real
                return real._coerce_value(value, param=param, ctx=ctx)

        _DEFERRED = Deferred
    return _DEFERRED


def _defer(param: Any) -> Any:
    if getattr(param, "_runtime_param", False) is None and hasattr(param, "type_descriptor"):
        d = param.type_descriptor
        if d.file_annotation is None:
            param._runtime_param = _deferred_class()(parameter_info=d.parameter_info, annotation=d.annotation)
    return param


def _defer_coercion(command: Any) -> Any:
    """Give each typer parameter of ``command`` — and the ``--help`` option click adds when it
    parses — a coercion that builds the pydantic one lazily."""
    for param in command.params:
        _defer(param)
    help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = help_option(ctx)
        return None if option is None else _defer(option)

    command.get_help_option = get_help_option
    return command


PluginNames = tuple[tuple[str, ...], tuple[str, ...]]  # the top-level commands, then groups, a module adds


class PluginTyper(typer.Typer):
    """The root app: besides its own commands, modules that each add theirs with ``register(app)``.

    Each module is named with the top-level commands and groups it adds, so that an invocation
    imports only the module it runs (:func:`lazy_group`): the command modules are most of the
    CLI's source, compiled on every run where no bytecode is written. Anything that looks at the
    command lists (``typer.main.get_command``, typer's test runner) gets them all: the modules are
    registered, in the order given, on the first look after :meth:`plugins_ready`.
    """

    def __init__(self, *args: Any, plugins: dict[str, PluginNames], **kwargs: Any) -> None:
        self.plugins = plugins
        self._plugin_state = "defining"  # → "ready" (plugins_ready) → "loading" → "loaded"
        super().__init__(*args, **kwargs)

    def plugins_ready(self) -> None:
        """The app's own commands are all defined: the plugin modules may register theirs after them."""
        self._plugin_state = "ready"

    def _load_plugins(self) -> None:
        if self._plugin_state != "ready":
            return
        self._plugin_state = "loading"
        for name in self.plugins:
            module = plugin_module(name)
            if module is not None:
                module.register(self)
        self._plugin_state = "loaded"

    @property
    def registered_commands(self) -> list[Any]:
        self._load_plugins()
        return self._own_commands

    @registered_commands.setter
    def registered_commands(self, value: list[Any]) -> None:
        self._own_commands = value

    @property
    def registered_groups(self) -> list[Any]:
        self._load_plugins()
        return self._own_groups

    @registered_groups.setter
    def registered_groups(self, value: list[Any]) -> None:
        self._own_groups = value


def plugin_module(name: str) -> Any:
    """The command module ``name``, or ``None`` in a build without it (as the CLI always allowed)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


def _plugin_entry(module_name: str, name: str, **opts: Any) -> Any:
    """Build the top-level command or group ``name`` that module ``module_name`` adds, importing
    that module alone."""
    module = plugin_module(module_name)
    scratch: Any = typer.Typer()
    module.register(scratch)
    for info in scratch.registered_commands:
        if (info.name or typer_main.get_command_name(info.callback.__name__)) == name:
            return _command(info, **opts)
    for sub in scratch.registered_groups:
        if typer_main.solve_typer_info_defaults(sub).name == name:
            return lazy_group(sub, **opts)
    raise KeyError(f"{module_name} does not add {name!r}; correct gateward.cli.PLUGINS")


def _plugin_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _command(info: Any, **opts: Any) -> Any:
    return _defer_coercion(typer_main.get_command_from_info(info, pretty_exceptions_short=opts[
        "pretty_exceptions_short"], rich_markup_mode=opts["rich_markup_mode"]))


def lazy_group(group_info: Any, **opts: Any) -> Any:
    """``typer.main.get_group_from_info`` with the sub-commands and sub-groups built on lookup."""
    instance = group_info.typer_instance
    plugins: dict[str, PluginNames] = {}
    if isinstance(instance, PluginTyper) and instance._plugin_state == "ready":
        plugins = {m: names for m, names in instance.plugins.items() if _plugin_available(m)}
        own_commands, own_groups = instance._own_commands, instance._own_groups
    else:
        own_commands, own_groups = instance.registered_commands, instance.registered_groups
    shell = copy.copy(instance)
    if isinstance(shell, PluginTyper):
        shell._plugin_state = "loaded"
    shell.registered_commands, shell.registered_groups = [], []
    shell_info = copy.copy(group_info)
    shell_info.typer_instance = shell
    group = _defer_coercion(typer_main.get_group_from_info(shell_info, **opts))
    builders: dict[str, Callable[[], Any]] = {}
    for info in own_commands:
        name = info.name or typer_main.get_command_name(info.callback.__name__)
        builders[name] = partial(_command, info, **opts)
    for module_name, (commands, _) in plugins.items():  # typer's order: every command, then every group
        for name in commands:
            builders[name] = partial(_plugin_entry, module_name, name, **opts)
    for sub in own_groups:
        name = typer_main.solve_typer_info_defaults(sub).name
        if not name:  # a group added without a name lends its commands: built as typer builds it
            for sub_name, command in typer_main.get_group_from_info(sub, **opts).commands.items():
                builders[sub_name] = partial(_defer_coercion, command)
            continue
        builders[name] = partial(lazy_group, sub, **opts)
    for module_name, (_, groups) in plugins.items():
        for name in groups:
            builders[name] = partial(_plugin_entry, module_name, name, **opts)
    group.commands = LazyCommands(builders)
    return group


def lazy_command(app: typer.Typer) -> Any:
    """The click command of ``app`` as ``typer.main.get_command`` builds it, lazily."""
    own = (app._own_commands, app._own_groups) if isinstance(app, PluginTyper) else (app.registered_commands,
                                                                                     app.registered_groups)
    if app._add_completion or not (app.registered_callback or app.info.callback or own[1] or len(own[0]) > 1):
        return typer_main.get_command(app)
    return lazy_group(typer.models.TyperInfo(app), pretty_exceptions_short=app.pretty_exceptions_short,
                      rich_markup_mode=app.rich_markup_mode, suggest_commands=app.suggest_commands)


def run(app: typer.Typer, *args: Any, **kwargs: Any) -> Any:
    """``app(*args, **kwargs)`` (``typer.Typer.__call__``) on the lazily built tree."""
    try:
        hook = typer_main.except_hook
        attr = typer_main._typer_developer_exception_attr_name
        config = typer.models.DeveloperExceptionConfig
        command = lazy_command(app)
    except (AttributeError, ImportError):  # a typer without these internals: the ordinary path
        return app(*args, **kwargs)
    if sys.excepthook != hook:
        sys.excepthook = hook
    try:
        return command(*args, **kwargs)
    except Exception as e:  # as Typer.__call__: tell the hook to show a developer traceback
        setattr(e, attr, config(pretty_exceptions_enable=app.pretty_exceptions_enable,
                                pretty_exceptions_show_locals=app.pretty_exceptions_show_locals,
                                pretty_exceptions_short=app.pretty_exceptions_short))
        raise e
