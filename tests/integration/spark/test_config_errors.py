"""Bad Spark configuration is one clear line naming what to install or set, through the real `outflow` command.
None of these start a JVM, so they run everywhere (no `spark` mark)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.warehouse.test_config_errors import _closed_port, assert_one_line, outflow


def test_no_java(tmp_path: Path) -> None:
    env = {"OUTFLOW_TARGET": "spark", "OUTFLOW_SPARK_WAREHOUSE": str(tmp_path), "JAVA_HOME": str(tmp_path / "nojava")}
    code, out = outflow("identity", env=env, tmp_path=tmp_path)
    assert_one_line(code, out, "Java 17", "openjdk-17-jre-headless", "JAVA_HOME")


def test_spark_master_unreachable(tmp_path: Path) -> None:
    url = f"spark://127.0.0.1:{_closed_port()}"
    env = {"OUTFLOW_TARGET": "spark", "OUTFLOW_SPARK_WAREHOUSE": str(tmp_path), "OUTFLOW_SPARK_MASTER": url}
    code, out = outflow("identity", env=env, tmp_path=tmp_path)
    assert_one_line(code, out, "cannot reach the Spark master", url, "OUTFLOW_SPARK_MASTER")


def test_not_a_spark_master(tmp_path: Path) -> None:
    env = {"OUTFLOW_TARGET": "spark", "OUTFLOW_SPARK_MASTER": "http://127.0.0.1:7077"}
    code, out = outflow("identity", env=env, tmp_path=tmp_path)
    assert_one_line(code, out, "OUTFLOW_SPARK_MASTER", "is not a Spark master")


def test_pyspark_missing(tmp_path: Path) -> None:
    """Without pyspark installed (hidden from the import system here), the line says what to install."""
    script = (
        "import sys; sys.modules['pyspark'] = None; sys.argv = ['outflow', 'identity']; "
        "from outflow.cli import run; run()"
    )
    env = {
        "OUTFLOW_TARGET": "spark",
        "OUTFLOW_SPARK_WAREHOUSE": str(tmp_path),
        "COLUMNS": "400",
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert_one_line(proc.returncode, (proc.stdout + proc.stderr).strip(), "pyspark is not installed", "make setup")
