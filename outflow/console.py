"""The one console every `outflow` command prints through, so that its output suits people and scripts alike.

- On a terminal, tables are rich tables.
- When stdout is not a terminal (piped, redirected), a table is plain tab-separated rows under a header line (its
  title goes to stderr), and text is never wrapped: a script can `cut -f2` it and a URL stays whole.
- With `--output json` (or OUTFLOW_OUTPUT=json), the tables a command prints become one JSON document on stdout
  when it ends: a list of ``{"title", "columns", "rows": [{column: value}]}``; anything else it says goes to
  stderr, so stdout parses.

Commands only ever call ``console.print(table)``; how the table comes out is decided here, once.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

FORMATS = ("text", "json")
_NUMBER = re.compile(r"-?\d{1,3}(,\d{3})*(\.\d+)?|-?\d+(\.\d+)?")


def _plain(cell: Any) -> str:
    """A cell as plain text: markup dropped, one line, no tabs."""
    if isinstance(cell, Text):
        text = cell.plain
    elif isinstance(cell, str):
        text = Text.from_markup(cell).plain
    else:
        text = str(cell)
    return " ".join(text.split())


def _value(text: str) -> Any:
    """A cell's value in JSON: numbers as numbers ("1,071" is 1071), the rest as text."""
    if _NUMBER.fullmatch(text):
        number = text.replace(",", "")
        return float(number) if "." in number else int(number)
    return text


def table_rows(table: Table) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of a rich table, as plain text."""
    columns = [_plain(c.header) for c in table.columns]
    cells = [list(c.cells) for c in table.columns]
    rows = [[_plain(col[i]) if i < len(col) else "" for col in cells] for i in range(table.row_count)]
    return columns, rows


class OutflowConsole(Console):
    """A rich console that prints tables as TSV when not on a terminal, and collects them in JSON mode."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.output = "text"
        self.collected: list[dict[str, Any]] = []

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self.output == "json":
            for obj in objects:
                if isinstance(obj, Table):
                    columns, rows = table_rows(obj)
                    title = _plain(obj.title) if obj.title else None
                    values = [{c: _value(v) for c, v in zip(columns, row, strict=True)} for row in rows]
                    self.collected.append({"title": title, "columns": columns, "rows": values})
                else:
                    err_console.print(obj, **kwargs)
            return
        if self.is_terminal or self.stderr:
            super().print(*objects, **kwargs)
            return
        kwargs.setdefault("soft_wrap", True)  # piped: whole lines, never wrapped mid-word
        for obj in objects:
            if isinstance(obj, Table):
                columns, rows = table_rows(obj)
                if obj.title:
                    err_console.print(_plain(obj.title), highlight=False, soft_wrap=True)
                lines = ["\t".join(columns), *("\t".join(row) for row in rows)]
                self.file.write("\n".join(lines) + "\n")
                self.file.flush()
            else:
                super().print(obj, **kwargs)

    def start(self, output: str) -> None:
        """Begin a command: ``output`` is ``text`` or ``json``."""
        self.output = output
        self.collected = []

    def finish(self) -> None:
        """End a command: in JSON mode, write the tables it printed as one JSON document."""
        if self.output == "json":
            self.file.write(json.dumps(self.collected, default=str, ensure_ascii=False) + "\n")
            self.file.flush()
        self.output = "text"
        self.collected = []


def hoist_output_option(argv: list[str]) -> list[str]:
    """Move ``--output json|text`` from after a subcommand to the front, where the root command reads it, so
    ``outflow sync runs --output json`` works for every command without each declaring the option."""
    out: list[str] = []
    hoisted: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out += argv[i:]
            break
        if arg == "--output" and i + 1 < len(argv) and argv[i + 1] in FORMATS:
            hoisted += argv[i : i + 2]
            i += 2
            continue
        if arg.startswith("--output=") and arg.split("=", 1)[1] in FORMATS:
            hoisted.append(arg)
        else:
            out.append(arg)
        i += 1
    return hoisted + out


def line_buffered() -> None:
    """Flush stdout and stderr at every line, also when they go to a file or a pipe (long-running servers)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(line_buffering=True)
            except (ValueError, OSError):  # a stream that cannot be reconfigured (a test's capture)
                pass


console = OutflowConsole()
err_console = Console(stderr=True)
