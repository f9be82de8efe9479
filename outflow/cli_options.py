"""Command-line options shared by every ``outflow`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from outflow.warehouse import location

#: ``--warehouse``: a DuckDB file or a ``postgresql://`` URL (a Path or the URL string); None: the settings.
#: A value that is neither is one line naming ``--warehouse`` (``outflow.warehouse.location``).
WarehouseOpt = Annotated[
    Path | None,
    typer.Option(
        "--warehouse",
        parser=location,
        help="DuckDB file or postgresql://user@host:port/db URL (default: OUTFLOW_TARGET and its setting)",
    ),
]
