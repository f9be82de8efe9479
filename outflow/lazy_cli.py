"""Subcommands imported only when they run, so `outflow --help` and each command load only what they use.

`outflow` has commands whose modules import scikit-learn, Great Expectations, the sync engine and so on. A
:class:`LazyGroup` lists them by name and one line of help, and imports a command's module only when the command
is invoked (or its own help is asked for).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Lazy:
    """A subcommand: ``target`` is "module:attribute" (a Typer app, a command function, or a function returning
    one of those); ``help`` is what `outflow --help` lists for it (tests/unit/test_lazy_cli.py keeps it true)."""

    target: str
    help: str

    def load(self) -> Any:
        module, _, attr = self.target.partition(":")
        obj = getattr(import_module(module), attr)
        if not isinstance(obj, typer.Typer) and getattr(obj, "__lazy_factory__", False):
            obj = obj()
        return obj


def factory(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Mark a function that builds the Typer app (or command) of a lazy subcommand when it is first used."""
    fn.__lazy_factory__ = True  # type: ignore[attr-defined]
    return fn


def to_click(name: str, obj: Any) -> Any:
    """The click command of a Typer app (always a group) or of a command function."""
    if isinstance(obj, typer.Typer):
        cmd = typer.main.get_group(obj)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name=name)(obj)
        cmd = typer.main.get_command(single)
    cmd.name = name
    return cmd


class LazyGroup(TyperGroup):
    """A Typer group whose subcommands in :attr:`lazy` are imported on first use. ``order`` is the order of
    `--help` (names it does not list follow)."""

    lazy: dict[str, Lazy] = {}
    order: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        names = list(dict.fromkeys([*super().list_commands(ctx), *self.lazy]))
        rank = {n: i for i, n in enumerate(self.order)}
        return sorted(names, key=lambda n: rank.get(n, len(rank)))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in self.lazy:
            return found
        entry = self.lazy[cmd_name]
        if self._listing:  # `outflow --help`: a name and a line of help, nothing imported
            return TyperCommand(name=cmd_name, help=entry.help)
        cmd = to_click(cmd_name, entry.load())
        self.add_command(cmd, cmd_name)
        return cmd

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def lazy_group(lazy: dict[str, Lazy], order: tuple[str, ...]) -> type[LazyGroup]:
    """A :class:`LazyGroup` class for ``typer.Typer(cls=...)``."""
    return type("OutflowGroup", (LazyGroup,), {"lazy": lazy, "order": order})
