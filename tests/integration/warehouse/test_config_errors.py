"""Bad warehouse configuration is one clear line naming the setting to fix: never a traceback, never a secret.

Each case runs through the real ``outflow`` command (a subprocess, as a user would type it) and, where useful,
through the interface itself."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from outflow.warehouse import WarehouseError, connect
from tests.warehouse_fixtures import fresh_database, with_database

SECRET = "hunter2-do-not-print"
OUTFLOW = str(Path(sys.executable).with_name("outflow"))
HOLD_LOCK = """
import sys, time
from outflow.warehouse import connect
con = connect(sys.argv[1])
print("ok", flush=True)
time.sleep(60)
"""


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def outflow(*args: str, env: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OUTFLOW_", "PG"))}
    base |= {"OUTFLOW_WAREHOUSE": str(tmp_path / "wh.duckdb"), "COLUMNS": "400"}
    proc = subprocess.run([OUTFLOW, *args], env=base | env, capture_output=True, text=True, timeout=120)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def assert_one_line(code: int, out: str, *needles: str) -> None:
    assert code == 1, out
    assert "Traceback" not in out and SECRET not in out, out
    assert len(out.splitlines()) == 1, out
    for n in needles:
        assert n in out, out


def test_unknown_target(tmp_path: Path) -> None:
    code, out = outflow("check", env={"OUTFLOW_TARGET": "snowflake"}, tmp_path=tmp_path)
    assert_one_line(code, out, "OUTFLOW_TARGET", "snowflake", "duckdb, postgres")


@pytest.mark.parametrize("command", [["check"], ["build"]])
def test_a_duckdb_memory_limit_that_is_not_a_size(command: list[str], tmp_path: Path) -> None:
    connect(tmp_path / "wh.duckdb").close()  # the warehouse exists: the setting is what stops the command
    code, out = outflow(*command, env={"OUTFLOW_DUCKDB_MEMORY_LIMIT": "lots"}, tmp_path=tmp_path)
    assert_one_line(code, out, "OUTFLOW_DUCKDB_MEMORY_LIMIT='lots' is not a memory size", "4GB")


@pytest.mark.parametrize(("setting", "shown"), [("1GB", "953.6 MiB"), (None, "2.0 GiB")])
def test_the_duckdb_memory_limit_reaches_every_connection_and_dbt(
    setting: str | None, shown: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dbt.cli.main import dbtRunner

    from outflow import settings
    from outflow.build import dbt_env
    from outflow.warehouse import duckdb

    monkeypatch.setenv("OUTFLOW_TARGET", "duckdb")
    if setting is None:  # the default: a quarter of an 8 GiB machine
        monkeypatch.delenv("OUTFLOW_DUCKDB_MEMORY_LIMIT", raising=False)
        monkeypatch.setattr(duckdb, "machine_memory", lambda: 8 * 2**30)
    else:
        monkeypatch.setenv("OUTFLOW_DUCKDB_MEMORY_LIMIT", setting)
    path = tmp_path / "limited.duckdb"
    with connect(path) as wh:
        assert wh.execute("select current_setting('memory_limit')").fetchone()[0] == shown
    target = dbt_env(path)
    project = str(settings.DBT_PROJECT_DIR)
    sql = "select current_setting('memory_limit') as m"
    result = dbtRunner().invoke(
        ["--quiet", "show", "--inline", sql, "--project-dir", project, "--profiles-dir", project, "--target", target]
    )
    assert result.success, result.exception
    assert result.result.results[0].agate_table.rows[0][0] == shown


#: A query DuckDB cannot spill to disk: one list of 30M integers needs ~240 MB, far over a 50MB limit.
TOO_BIG = "select list(range) as l from range(30000000)"


def test_duckdb_out_of_memory_names_the_setting_in_the_interface_and_in_dbt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outflow.build import dbt_env, run_dbt
    from outflow.errors import OutflowError
    from outflow.warehouse import QueryError

    monkeypatch.setenv("OUTFLOW_TARGET", "duckdb")
    monkeypatch.setenv("OUTFLOW_DUCKDB_MEMORY_LIMIT", "50MB")
    path = tmp_path / "small.duckdb"
    with connect(path) as wh:
        for run in (wh.fetch_arrow, wh.execute):
            with pytest.raises(WarehouseError) as err:
                run(TOO_BIG)
            assert isinstance(err.value, QueryError)  # still a refused statement for code that catches those
            message = str(err.value)
            assert "ran out of memory at its limit of 50MB" in message and "OUTFLOW_DUCKDB_MEMORY_LIMIT" in message
            assert "MiB used)" in message and len(message.splitlines()) == 1, message
        assert wh.execute("select 1").fetchone() == (1,)  # the connection is still usable
    dbt_env(path)
    with pytest.raises(OutflowError) as err:
        run_dbt(["show", "--inline", TOO_BIG])
    message = str(err.value)
    assert "ran out of memory at its limit of 50MB" in message and "OUTFLOW_DUCKDB_MEMORY_LIMIT" in message
    assert "Possible solutions" not in message and len(message.splitlines()) == 1, message


def test_a_dbt_model_out_of_memory_names_the_setting() -> None:
    """dbt's failure of a model starts "Runtime Error in model ..."; DuckDB's own line follows, in any of its error
    classes (this one is a commit's, as DuckDB writes it)."""
    from outflow import build

    message = (
        "Runtime Error in model fct_events (models/marts/fct_events.sql)\n"
        "  TransactionContext Error: Failed to commit: failed to pin block of size 256.0 KiB (57.0 MiB/57.2 MiB used)"
        "\n  \n  Possible solutions:\n  * Increasing the memory limit (SET memory_limit='...GB')"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OUTFLOW_TARGET", "duckdb")
        assert build._failure_line(message).startswith("TransactionContext Error: Failed to commit")
        mp.setenv("OUTFLOW_TARGET", "postgres")  # no out-of-memory line on PostgreSQL: dbt's heading and the next
        assert build._failure_line(message) == (  # dbt's heading, then the database's own line
            "Runtime Error in model fct_events (models/marts/fct_events.sql): TransactionContext Error: Failed to "
            "commit: failed to pin block of size 256.0 KiB (57.0 MiB/57.2 MiB used)"
        )


def test_a_build_out_of_memory_is_one_line(tmp_path: Path) -> None:
    """A build past the memory limit, wherever it stops (the phone step or a dbt model), says which setting to raise
    in one line: no traceback."""
    code, out = outflow("generate", "--people", "2000", "--out", str(tmp_path / "raw"), env={}, tmp_path=tmp_path)
    assert code == 0, out
    code, out = outflow("build", env={"OUTFLOW_DUCKDB_MEMORY_LIMIT": "30MB"}, tmp_path=tmp_path)
    errors = [line for line in out.splitlines() if line.startswith("error:")]  # after dbt's progress lines
    assert code == 1 and "Traceback" not in out and len(errors) == 1, out
    assert "ran out of memory at its limit of 30MB" in errors[0] and "OUTFLOW_DUCKDB_MEMORY_LIMIT" in errors[0], out


def test_postgres_without_a_url(tmp_path: Path) -> None:
    code, out = outflow("segment", "preview", "engaged_leads", env={"OUTFLOW_TARGET": "postgres"}, tmp_path=tmp_path)
    assert_one_line(code, out, "OUTFLOW_POSTGRES_URL", "is not set")


def test_unreachable_postgres(tmp_path: Path) -> None:
    port = _closed_port()
    env = {"OUTFLOW_TARGET": "postgres", "OUTFLOW_POSTGRES_URL": f"postgresql://outflow:{SECRET}@127.0.0.1:{port}/x"}
    for args in (["check"], ["segment", "preview", "engaged_leads"], ["score", "train"]):
        code, out = outflow(*args, env=env, tmp_path=tmp_path)
        assert_one_line(code, out, "OUTFLOW_POSTGRES_URL", f"127.0.0.1:{port}", "Connection refused")
    with pytest.raises(WarehouseError) as err:
        connect(url=env["OUTFLOW_POSTGRES_URL"])
    assert SECRET not in str(err.value) and "cannot reach PostgreSQL" in str(err.value)


@pytest.fixture(scope="module")
def password_role(postgres_url: str) -> Iterator[str]:
    """A role that must give a password (scram-sha-256 for it in pg_hba.conf, trust for the others)."""
    with connect(url=postgres_url) as admin:
        admin.execute(f"create role pwuser login password '{SECRET}'")
        (hba,) = admin.execute("show hba_file").fetchone()
        original = [r[0] for r in admin.execute("select unnest(string_to_array(pg_read_file(?), E'\\n'))", [hba])]
        rules = [
            "host all pwuser 127.0.0.1/32 scram-sha-256",
            "host all all 127.0.0.1/32 trust",
            "local all all trust",
        ]
        lines = ", ".join(f"'{r}'" for r in rules)
        admin.execute(f"copy (select unnest(array[{lines}])) to '{hba}'")
        admin.execute("select pg_reload_conf()")
        for _ in range(100):  # the server rereads pg_hba.conf on SIGHUP
            try:
                connect(url=postgres_url.replace("outflow@", "pwuser@", 1)).close()
            except WarehouseError:
                break
            time.sleep(0.05)
        yield postgres_url.replace("outflow@", "pwuser@", 1)
        text = ", ".join("'" + ln.replace("'", "''") + "'" for ln in original if "\t" not in ln and "\\" not in ln)
        admin.execute(f"copy (select unnest(array[{text}])) to '{hba}'")
        admin.execute("select pg_reload_conf()")


def test_missing_password(password_role: str, tmp_path: Path) -> None:
    env = {"OUTFLOW_TARGET": "postgres", "OUTFLOW_POSTGRES_URL": password_role}
    code, out = outflow("check", env=env, tmp_path=tmp_path)
    assert_one_line(code, out, "asks for a password", "pwuser", "PGPASSWORD", "OUTFLOW_POSTGRES_URL")


def test_wrong_password(password_role: str, tmp_path: Path) -> None:
    wrong = password_role.replace("pwuser@", "pwuser:not-the-password@", 1)
    env = {"OUTFLOW_TARGET": "postgres", "OUTFLOW_POSTGRES_URL": wrong}
    code, out = outflow("check", env=env, tmp_path=tmp_path)
    assert_one_line(code, out, "authentication failed", "pwuser", "OUTFLOW_POSTGRES_URL")
    assert "not-the-password" not in out
    # the right password from PGPASSWORD works, and is not printed either
    with connect(url=password_role.replace("pwuser@", f"pwuser:{SECRET}@", 1)) as wh:
        assert wh.execute("select current_user").fetchone() == ("pwuser",)
        assert SECRET not in wh.location and SECRET not in repr(wh)


def test_schema_the_user_cannot_write(postgres_url: str, tmp_path: Path) -> None:
    url = fresh_database(postgres_url)
    with connect(url=url) as admin:
        admin.execute("create schema outflow_quality")
        admin.execute("create role reader login")
        admin.execute("grant usage on schema outflow_quality to reader")
    reader = with_database(url.replace("outflow@", "reader@", 1), url.rsplit("/", 1)[1])
    with connect(url=reader) as wh:
        with pytest.raises(WarehouseError) as err:
            wh.write_arrow("outflow_quality.results", pl.DataFrame({"a": [1]}))
    msg = str(err.value)
    assert "permission denied for schema outflow_quality" in msg and "OUTFLOW_POSTGRES_URL" in msg
    assert "GRANT USAGE, CREATE ON SCHEMA outflow_quality TO reader" in msg
    # the sync engine keeps its state in its own schema, which this user cannot create: one line, what to grant
    code, out = outflow(
        "sync", "runs", env={"OUTFLOW_TARGET": "postgres", "OUTFLOW_POSTGRES_URL": reader}, tmp_path=tmp_path
    )
    assert_one_line(code, out, "reader", "permission denied", "GRANT", "OUTFLOW_POSTGRES_URL")
    # named with --warehouse, the line names --warehouse, not a setting the user never used
    code, out = outflow("sync", "runs", "--warehouse", reader, env={}, tmp_path=tmp_path)
    assert_one_line(code, out, "reader", "permission denied", "GRANT", "--warehouse")
    assert "OUTFLOW_POSTGRES_URL" not in out


def test_duckdb_file_locked_by_another_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTFLOW_LOCK_TIMEOUT", "0")  # refused at once (tests/integration/test_warehouse_lock.py waits)
    path = tmp_path / "wh.duckdb"
    connect(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(WarehouseError) as err:
            connect(path)
        assert str(path) in str(err.value) and f"PID {holder.pid}" in str(err.value)
        assert "OUTFLOW_WAREHOUSE" in str(err.value)
        code, out = outflow("check", "--warehouse", str(path), env={"OUTFLOW_LOCK_TIMEOUT": "0"}, tmp_path=tmp_path)
        assert_one_line(code, out, str(path), f"PID {holder.pid}")
        no_wait = {"OUTFLOW_WAREHOUSE": str(path), "OUTFLOW_LOCK_TIMEOUT": "0"}
        code, out = outflow("score", "train", env=no_wait, tmp_path=tmp_path)
        assert_one_line(code, out, str(path), f"PID {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
