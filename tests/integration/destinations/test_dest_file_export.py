"""File export destination: CSV and Parquet files in a directory, one per acknowledged batch."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from activations.engine import run_sync
from activations.sandboxes.testing import vendor_sync_dict, write_sync
from outflow.errors import OutflowError


def _cfg(tmp_path: Path, fmt: str, **kw):
    fields = {"email": "email", "score": "score"}
    d = vendor_sync_dict(
        "file", f"file://{tmp_path / 'out'}", name=f"export_{fmt}", primary_key="person_id", fields=fields,
        options={"format": fmt}, **kw,
    )  # fmt: skip
    del d["destination"]["secret_env"]
    return write_sync(tmp_path / "syncs", d)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_full_incremental_and_mirror_export(tmp_path: Path, con, fmt: str) -> None:
    cfg = _cfg(tmp_path, fmt)
    res = run_sync(cfg, con=con)
    assert (res.status, res.acked) == ("success", 200)
    read = pl.read_csv if fmt == "csv" else pl.read_parquet
    files = sorted((tmp_path / "out").glob(f"*.{fmt}"))
    assert len(files) == 2 and not list((tmp_path / "out").glob("*.tmp"))
    df = pl.concat([read(f) for f in files])
    assert df.height == 200 and set(df["_op"]) == {"upsert"}
    row = df.filter(pl.col("_key").cast(pl.Utf8) == "3")
    assert row["email"].to_list() == ["user3@example.com"] and row["score"].to_list() == [21]
    con.execute("DELETE FROM main.sync_contacts WHERE person_id < 5")
    con.execute("UPDATE main.sync_contacts SET score = -1 WHERE person_id = 9")
    run_sync(cfg, con=con)
    new = sorted(set((tmp_path / "out").glob(f"*.{fmt}")) - set(files))
    last = read(new[-1])
    assert sorted(zip(last["_key"].cast(pl.Utf8), last["_op"], strict=True)) == sorted(
        [(str(i), "delete") for i in range(5)] + [("9", "upsert")]
    )


def test_no_secret_needed_but_http_types_still_need_one(tmp_path: Path) -> None:
    d = vendor_sync_dict("sendgrid", "http://127.0.0.1:1", options={"list_id": "x"})
    del d["destination"]["secret_env"]
    with pytest.raises(OutflowError, match="secret_env: required for this destination type"):
        write_sync(tmp_path / "syncs", d)
    with pytest.raises(OutflowError, match="options.format: must be csv or parquet"):
        run_sync(_cfg(tmp_path, "xlsx"), warehouse=tmp_path / "never.duckdb")
