"""File export: each acknowledged batch becomes one CSV or Parquet file in a directory.

``base_url: file:///abs/path/to/dir`` (no secret: omit ``secret_env``), ``options.format``: ``csv`` (default)
or ``parquet``. Files are named ``{sync}-{run stamp}-{seq:05d}.{ext}`` and hold ``_key``, ``_op`` (upsert,
update, insert or delete) and the mapped fields (empty for deletes). A file is written under a temporary name
and renamed, so a reader never sees half a file and a crash leaves no partial file behind.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import polars as pl

from activations.destinations.base import Call, Destination, PreparedRequest, Record, RowResult
from outflow.errors import OutflowError


class FileExportDestination(Destination):
    erasure = "erasure file"
    type = "file"
    max_batch_size = 100_000

    def check_config(self) -> None:
        where = self.cfg.path or self.cfg.name
        url = urlsplit(self.cfg.destination.base_url)
        if url.scheme != "file":
            raise OutflowError(f"{where}: destination.base_url: use file:///absolute/directory for type file")
        self.directory = Path(unquote(url.path))
        self.format = str(self.option("format", "csv"))
        if self.format not in ("csv", "parquet"):
            raise OutflowError(f"{where}: destination.options.format: must be csv or parquet")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutflowError(f"{where}: destination.base_url: cannot create {self.directory}: {exc}") from exc
        self._stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._seq = itertools.count(1)

    def build_request(self, records: list[Record]) -> PreparedRequest:  # pragma: no cover - no HTTP
        raise NotImplementedError("the file destination writes files; see exchange")

    def parse_response(self, response: httpx.Response, records: list[Record]) -> list[RowResult]:  # pragma: no cover
        raise NotImplementedError

    def frame(self, records: list[Record]) -> pl.DataFrame:
        names = list(self.cfg.fields.values())
        data: dict[str, list] = {"_key": [r.key for r in records], "_op": [r.op for r in records]}
        for n in names:
            data[n] = [r.fields.get(n) for r in records]
        return pl.DataFrame(data, strict=False, infer_schema_length=None)

    async def exchange(self, call: Call, records: list[Record]) -> httpx.Response | list[RowResult]:
        seq = next(self._seq)
        final = self.directory / f"{self.cfg.name}-{self._stamp}-{seq:05d}.{self.format}"
        tmp = final.with_suffix(final.suffix + ".tmp")
        df = self.frame(records)
        try:
            if self.format == "csv":
                df.write_csv(tmp)
            else:
                df.write_parquet(tmp)
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            return [RowResult(r.key, False, f"cannot write {final}: {exc}") for r in records]
        return [RowResult(r.key, True) for r in records]

    async def erase(self, call: Call, records: list[Record]) -> list[RowResult]:
        """A file of erasure rows (``_op`` = ``erase``) beside the exports, for whoever reads them."""
        return self.settle(await self.exchange(call, [replace(r, op="erase") for r in records]), records)
