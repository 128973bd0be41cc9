"""The ``xnb`` command: one root, a sub-command group per area."""

from __future__ import annotations

import typer

from backend.cli import register as register_backend

app = typer.Typer(
    name="xnb",
    help="xnb 城乡居民养老保险与社保卡平台",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
register_backend(app)


def main() -> None:
    """Console entry point."""
    app()
