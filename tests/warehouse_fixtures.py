"""Helpers for tests that run on both warehouse targets: a fresh PostgreSQL database per test on the session's
server (``postgres_url`` in tests/conftest.py), and roles with fewer rights than the test-run owner."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from outflow.warehouse import Warehouse, connect

_n = itertools.count()


def with_database(url: str, dbname: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + dbname


def fresh_database(admin_url: str, template: str | None = None) -> str:
    """Create an empty database (or a copy of ``template``) on the server; return its URL."""
    name = f"t{os.getpid()}_{next(_n)}"
    with connect(url=admin_url) as admin:
        admin.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    return with_database(admin_url, name)


def open_target(target: str, tmp_path: Path, postgres_url: str | None = None) -> Warehouse:
    """A new empty warehouse of the given target."""
    if target == "duckdb":
        return connect(tmp_path / "wh.duckdb")
    assert postgres_url is not None
    return connect(url=fresh_database(postgres_url))
