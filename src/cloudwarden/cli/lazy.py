"""A command group that imports a command's module only when that command is looked up.

Why by hand: Typer builds every registered command when the program starts, so ``cloudwarden scan`` would
first import detection, IAM analysis, response and the lab (a fifth of a second of imports) and only then
scan. Click documents this pattern ("lazily loading subcommands"); Typer has no switch for it, but takes a
group class (``typer.Typer(cls=...)``). ``--help`` still lists every command (it looks each one up).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any, ClassVar

import typer
import typer.main
from typer import _click
from typer.core import TyperGroup


def load_command(name: str, target: str) -> _click.Command:
    """The click command for ``target`` (``"package.module:attribute"``: a Typer app or a command function)."""
    module_name, _, attribute = target.partition(":")
    obj = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(obj, typer.Typer):
        single = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
        single.command(name)(obj)
        obj = single
    command = typer.main.get_command(obj)
    command.name = name
    return command


class _LazyCommands(MutableMapping[str, _click.Command]):
    """Commands by name, in order; a lazy one is built the first time it is looked up."""

    def __init__(self, lazy: dict[str, str], loaded: MutableMapping[str, _click.Command]) -> None:
        self._lazy = dict(lazy)
        self._loaded: dict[str, _click.Command] = dict(loaded)
        self._order = [*self._loaded, *(name for name in self._lazy if name not in self._loaded)]

    def __getitem__(self, name: str) -> _click.Command:
        if name not in self._loaded:
            self._loaded[name] = load_command(name, self._lazy[name])  # KeyError: no such command
        return self._loaded[name]

    def __setitem__(self, name: str, command: _click.Command) -> None:
        if name not in self._lazy and name not in self._loaded:
            self._order.append(name)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._order:
            raise KeyError(name)
        self._order.remove(name)
        self._lazy.pop(name, None)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)


class LazyGroup(TyperGroup):
    """A Typer group whose subclass names its lazy commands in ``LAZY`` (name -> ``"module:attribute"``)."""

    LAZY: ClassVar[dict[str, str]] = {}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _LazyCommands(self.LAZY, self.commands)

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(self.commands)  # names only: nothing is imported to list them
