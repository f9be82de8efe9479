"""``outflow sandbox``: every destination sandbox on 127.0.0.1, their URLs and the environment the declared
syncs need. Apart from ``activations.cli`` and importing only the sandboxes, so the URLs show at once (the
sync engine, sqlglot and polars are never loaded here)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from outflow.console import console, err_console
from outflow.errors import OutflowError

sandbox_app = typer.Typer(help="Local sandboxes for every destination.", invoke_without_command=True)


@sandbox_app.callback()
def sandbox(
    port_base: Annotated[int, typer.Option("--port-base", help="first port (0: free ports)")] = 8790,
    real_rate_limits: Annotated[
        bool, typer.Option("--real-rate-limits", help="enforce each vendor's published rate limit")
    ] = False,
    token_env: Annotated[str, typer.Option(help="env var holding the token the vendor sandboxes accept")] = (
        "OUTFLOW_SANDBOX_TOKEN"
    ),
    secret_env: Annotated[str, typer.Option(help="env var holding the webhook sandbox's whsec_ secret")] = (
        "OUTFLOW_SANDBOX_SECRET"
    ),
) -> None:
    """Start every sandbox on 127.0.0.1, print their base URLs and the environment each declared sync needs
    (names and values: the documented sandbox credentials), and serve until Ctrl-C."""
    import os
    import threading

    from activations.sandboxes import SANDBOX_TOKEN, SANDBOX_WEBHOOK_SECRET, start_all, sync_environment

    token = os.environ.get(token_env) or SANDBOX_TOKEN
    secret = os.environ.get(secret_env) or SANDBOX_WEBHOOK_SECRET
    try:
        running = start_all(token=token, webhook_secret=secret, port_base=port_base, real_rate_limits=real_rate_limits)
    except OSError as exc:
        line = f"cannot start the sandboxes from port {port_base}: {exc}; try --port-base 0"
        err_console.print(f"[red]{escape(line)}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    table = Table("destination type", "base URL", "inspect")
    for col in table.columns:
        col.no_wrap, col.overflow = True, "ignore"  # URLs are copied: never cut or folded
    for kind, sb in running.items():
        table.add_row(kind, sb.url, f"{sb.url}/_sandbox/" + ("stats" if kind == "webhook" else "store"))
    console.print(table)
    from activations.config import load_syncs

    try:
        syncs = load_syncs()
    except OutflowError:
        syncs = []
    env = sync_environment(running, syncs)
    console.print(
        f"# the environment the declared syncs need (vendor token from {token_env}, webhook secret from "
        f"{secret_env}; unset: the documented sandbox defaults):",
        highlight=False,
        soft_wrap=True,
    )
    for name, value in env.items():
        console.print(f"export {name}={value}", highlight=False, soft_wrap=True, markup=False)
    if port_base not in (8790,):
        console.print(
            "# the sync YAMLs point at ports 8790-8801: with another --port-base, set each base_url to a URL above",
            highlight=False,
            soft_wrap=True,
        )
    console.file.flush()
    console.print("serving; Ctrl-C to stop")
    console.file.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        for sb in running.values():
            sb.stop()
        console.print("sandboxes stopped")
