"""Bulk import of products from CSV (Shopify's product export columns)."""

from __future__ import annotations

import click


@click.command("import-products")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_products_command(file: str) -> None:
    """Import products from FILE.csv: all rows or none."""
    raise click.ClickException("not implemented yet")
