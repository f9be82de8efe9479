"""One setting picks the warehouse and the dbt target: OUTFLOW_TARGET (duckdb | postgres) + OUTFLOW_POSTGRES_URL."""

from __future__ import annotations

import os
import socket

import pytest

from outflow import settings
from outflow.build import PG_ENV, dbt_env, postgres_profile_env, run_dbt
from outflow.errors import OutflowError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OUTFLOW_TARGET", "OUTFLOW_POSTGRES_URL", "PGPASSWORD", "PGUSER", *PG_ENV.values()):
        monkeypatch.delenv(var, raising=False)


def test_target_defaults_to_duckdb_and_refuses_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.target() == "duckdb"
    monkeypatch.setenv("OUTFLOW_TARGET", " Postgres ")
    assert settings.target() == "postgres"
    monkeypatch.setenv("OUTFLOW_TARGET", "snowflake")
    with pytest.raises(OutflowError) as err:
        settings.target()
    assert "OUTFLOW_TARGET" in str(err.value) and "duckdb, postgres" in str(err.value)


def test_postgres_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTFLOW_TARGET", "postgres")
    with pytest.raises(OutflowError, match="OUTFLOW_POSTGRES_URL"):
        dbt_env()


def test_profile_variables_come_from_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    env = postgres_profile_env("postgresql://ann:p%40ss@db.internal:6543/analytics?sslmode=require")
    assert env == {
        PG_ENV["host"]: "db.internal",
        PG_ENV["port"]: "6543",
        PG_ENV["user"]: "ann",
        PG_ENV["password"]: "p@ss",
        PG_ENV["dbname"]: "analytics",
        PG_ENV["sslmode"]: "require",
    }
    assert PG_ENV["password"].startswith("DBT_ENV_SECRET_")  # dbt scrubs it from its logs
    monkeypatch.setenv("PGPASSWORD", "from-env")
    assert postgres_profile_env("postgresql://ann@db/analytics")[PG_ENV["password"]] == "from-env"
    assert postgres_profile_env("postgresql://ann@db/analytics")[PG_ENV["port"]] == "5432"


@pytest.mark.parametrize(
    "url",
    [
        "mysql://ann:hunter2@db/x",
        "postgresql://ann:hunter2@/x",
        "postgresql://ann:hunter2@db",
        "postgresql://ann:hunter2@db:port/x",
    ],
)
def test_a_bad_url_is_one_line_without_the_password(url: str) -> None:
    with pytest.raises(OutflowError) as err:
        postgres_profile_env(url)
    message = str(err.value)
    assert "OUTFLOW_POSTGRES_URL" in message and "\n" not in message and "hunter2" not in message


def test_dbt_runs_against_the_postgres_target_and_never_prints_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real dbt run with OUTFLOW_TARGET=postgres goes to the URL's server (here: a closed port) and fails in one
    line that names the connection, without the password."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    monkeypatch.setenv("OUTFLOW_TARGET", "postgres")
    monkeypatch.setenv("OUTFLOW_POSTGRES_URL", f"postgresql://ann:hunter2@127.0.0.1:{port}/analytics")
    with pytest.raises(OutflowError) as err:
        run_dbt(["run", "--select", "stg_email__events"])
    message = str(err.value)
    assert "\n" not in message and "hunter2" not in message
    assert str(port) in message or "connect" in message.lower(), message
    assert os.environ["OUTFLOW_TARGET"] == "postgres" and os.environ[PG_ENV["port"]] == str(port)
