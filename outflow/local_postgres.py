"""A throwaway PostgreSQL server on 127.0.0.1, for the Postgres demo and the tests.

It uses the machine's own PostgreSQL binaries (Debian's ``postgresql-15`` package: ``/usr/lib/postgresql/*/bin``,
or the folder named by ``OUTFLOW_PG_BINDIR``). The cluster lives in a fresh temporary folder, listens on a free
port of 127.0.0.1 only, trusts local connections (no password exists to leak) and is removed by ``stop()``.
PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` system user.

    with LocalPostgres() as pg:
        url = pg.url   # postgresql://outflow@127.0.0.1:PORT/outflow
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from outflow.errors import OutflowError

USER = "outflow"
DATABASE = "outflow"

#: Settings for an analytics build, as a server that runs Outflow's dbt project should have them (see
#: docs/warehouses.md, "What a PostgreSQL server for Outflow should set"). jit off and the larger work_mem
#: together took a fifth off the 20,000-people demo build's CPU: the models' cost estimates are far off, so LLVM
#: compiled nearly every query, and hash joins, sorts and hashed IN-lists beyond the default 4 MB spill or fall
#: back to plans that rescan. With wal_level=minimal a table created and filled in one transaction (every dbt
#: model) writes no WAL, which only a server without replicas or point-in-time recovery may use (a throwaway one).
ANALYTICS = {"jit": "off", "work_mem": "64MB", "wal_level": "minimal", "max_wal_senders": "0"}


def find_bindir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``; a clear error naming OUTFLOW_PG_BINDIR if there is none."""
    env = os.environ.get("OUTFLOW_PG_BINDIR")
    candidates = [Path(env)] if env else sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if not env and (found := shutil.which("initdb")):
        candidates.append(Path(found).parent)
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    raise OutflowError(
        "no PostgreSQL server binaries found (initdb, pg_ctl): install Debian's postgresql-15 package, "
        "or set OUTFLOW_PG_BINDIR to the folder that holds them"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalPostgres:
    """Start with ``start()`` (or ``with``), read ``url``, end with ``stop()``."""

    def __init__(self, port: int | None = None, settings: dict[str, str] | None = None) -> None:
        self.bindir = find_bindir()
        self.settings = settings or {}  # more server settings (``-c name=value``), e.g. for profiling
        self.port = port or _free_port()
        self.root: Path | None = None
        self._as: list[str] = []

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str) -> None:
        cmd = [*self._as, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise OutflowError(f"local PostgreSQL: {Path(args[0]).name} failed: {detail[-1] if detail else ''}")

    def start(self, attempts: int = 3) -> LocalPostgres:
        """Start the server; a port taken between choosing and binding it is retried on another free port."""
        for attempt in range(attempts):
            try:
                return self._start()
            except OutflowError:
                self.stop()  # never leave a half-started cluster or its folder behind
                if attempt == attempts - 1:
                    raise
                self.port = _free_port()
        raise AssertionError("unreachable")

    def _start(self) -> LocalPostgres:
        self.root = Path(tempfile.mkdtemp(prefix="outflow-pg-"))
        data = self.root / "data"
        if os.geteuid() == 0:  # postgres will not run as root: hand the folder to the postgres user
            shutil.chown(self.root, user="postgres", group="postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        bin_ = self.bindir
        self._run(str(bin_ / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--locale=C")
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        ) + "".join(f" -c {k}={v}" for k, v in {**ANALYTICS, **self.settings}.items())
        log = self.root / "server.log"
        self._run(str(bin_ / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(log), "-w", "-t", "60", "start")
        self._run(str(bin_ / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, DATABASE)
        return self

    def stop(self) -> None:
        if self.root is None:
            return
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*self._as, str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
            )
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
