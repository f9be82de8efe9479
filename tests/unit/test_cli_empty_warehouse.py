"""Every CLI command, run against a missing or an empty warehouse, fails in one line that says what to run first
(or succeeds cleanly): never a traceback, never a new empty warehouse file. Commands are found by walking the
typer app, so a command added later is covered too."""

import re
import sys

import pytest
import typer

from outflow import cli
from outflow.warehouse import connect

# long-running servers, and the commands that fill a warehouse from scratch (slow; they may create it)
SKIP = {("ui",), ("sandbox",), ("demo",), ("generate",)}


#: a one-line error names what to run (`outflow build` ...), or the names to choose from
_NAMES_A_WAY_OUT = re.compile(r"`outflow [a-z]|did you mean|choose from|known: |--[a-z]", re.I)


def _commands(command, path=()):
    if hasattr(command, "list_commands"):  # a group: its subcommands as the CLI resolves them (lazy ones imported here)
        ctx = typer.Context(command)
        if path and command.invoke_without_command:  # a group that runs alone too (`outflow report`)
            yield path, command
        for name in sorted(command.list_commands(ctx)):
            yield from _commands(command.get_command(ctx, name), (*path, name))
    else:
        yield path, command


COMMANDS = [(path, cmd) for path, cmd in _commands(typer.main.get_command(cli.app)) if path and path not in SKIP]


def _argv(path, command, tmp_path) -> list[str]:
    """The command with a placeholder for each required argument (a folder that exists for a folder) and
    required option (a date for a time)."""
    args = []
    for param in command.params:
        if param.required and param.param_type_name == "argument":
            args.append(str(tmp_path) if param.name in ("directory", "folder", "path") else "nobody")
        elif param.required and param.param_type_name == "option":
            args += [param.opts[0], "2026-11-01" if param.name in ("from_", "to", "at", "as_of") else "nobody"]
    return [*path, *args]


def _run(argv, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["outflow", *argv])
    code = 0
    try:
        cli.run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.delenv("OUTFLOW_TARGET", raising=False)
    monkeypatch.setenv("OUTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OUTFLOW_COLUMNS", "200")
    return tmp_path


def test_the_walk_finds_the_commands():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"identity", "check", "sync runs", "sync run", "segment preview", "build", "report", "sync rejected",
            "sync log", "audience export", "person explain"} <= names  # fmt: skip


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_every_command_on_a_missing_or_empty_warehouse(state, env, monkeypatch, capsys):
    warehouse = env / "wh" / "outflow.duckdb"
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(warehouse))
    failures = []
    warehouse.parent.mkdir()
    (env / "in").mkdir()
    for path, command in COMMANDS:
        argv = _argv(path, command, env / "in")
        warehouse.unlink(missing_ok=True)  # each command starts from the same state
        if state == "empty":
            with connect(warehouse):
                pass
        try:
            code, out = _run(argv, monkeypatch, capsys)
        except Exception as exc:  # anything but SystemExit escaping run() is a traceback for the user
            failures.append(f"{' '.join(argv)}: raised {type(exc).__name__}: {exc}")
            continue
        if "Traceback" in out:
            failures.append(f"{' '.join(argv)}: printed a traceback")
        if code != 0 and not out.strip():
            failures.append(f"{' '.join(argv)}: failed silently")
        elif code != 0 and not _NAMES_A_WAY_OUT.search(out.strip().splitlines()[-1]):
            # the error is its last line, whole (lines before it say what was done, e.g. the as-of date)
            failures.append(f"{' '.join(argv)}: its last line says neither what to run first nor the name: {out}")
        if state == "missing" and warehouse.exists() and path != ("load",):  # loading fills a new warehouse
            failures.append(f"{' '.join(argv)}: created {warehouse}")
    assert not failures, "\n".join(failures)


def test_missing_warehouse_names_the_command_to_run_first(env, monkeypatch, capsys):
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(env / "none.duckdb"))
    code, out = _run(["sync", "runs"], monkeypatch, capsys)
    assert code == 1
    assert out.strip().count("\n") == 0 and "run `outflow load DIR`" in out and "`outflow build`" in out
    assert not (env / "none.duckdb").exists()


def test_empty_warehouse_names_the_command_to_run_first(env, monkeypatch, capsys):
    warehouse = env / "empty.duckdb"
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(warehouse))
    with connect(warehouse):
        pass
    code, out = _run(["identity"], monkeypatch, capsys)
    assert code == 1 and out.strip().count("\n") == 0
    assert "int_identity__identifiers" in out and "run `outflow build` first" in out
    code, out = _run(["build"], monkeypatch, capsys)
    assert code == 1 and "run `outflow load DIR`" in out and "\n" not in out.strip()


def test_a_mistyped_sync_name_gets_the_nearest_name(env, monkeypatch, capsys):
    code, out = _run(["sync", "reconcile", "customer_mailchimp"], monkeypatch, capsys)
    assert code == 1 and "did you mean 'customers_mailchimp'?" in out


def test_generate_a_small_population(env, monkeypatch, capsys):
    """30 people may have no role address: the generator's shared-identifier list is still typed."""
    monkeypatch.setenv("OUTFLOW_WAREHOUSE", str(env / "small.duckdb"))
    code, out = _run(["generate", "--people", "30"], monkeypatch, capsys)
    assert code == 0, out
    assert "Traceback" not in out and (env / "small.duckdb").exists()
