"""Demo data for the storefront example: ``flask shoppable seed-demo``."""

from __future__ import annotations

import click


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Fill the database with a demo shop."""
    raise click.ClickException("not implemented yet")
