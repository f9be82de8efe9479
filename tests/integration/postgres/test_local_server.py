"""The test run's own PostgreSQL server is real: it answers SQL over TCP on 127.0.0.1."""

from __future__ import annotations

import psycopg


def test_server_answers_sql(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        (version,) = conn.execute("show server_version_num").fetchone()
        assert int(version) >= 150000
        conn.execute("create table t (a int primary key)")
        conn.execute("insert into t values (1), (2)")
        assert conn.execute("select sum(a) from t").fetchone() == (3,)
