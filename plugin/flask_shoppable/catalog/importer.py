"""Bulk import of products from CSV: ``flask shoppable import-products FILE.csv``.

The columns are those of Shopify's product export, so a merchant moving from Shopify
imports their export as it is. Rows are grouped by ``Handle``: the first row of a handle
carries the product (Title, Body (HTML), Vendor, Type, Tags, Published, Status, option
names) and usually its first variant; later rows add variants and/or images (a row with
only ``Image Src`` adds an image). The Shopify convention for a product without options
(``Option1 Name`` "Title", value "Default Title") is understood.

- Prices are decimal text in major units, in ``--currency`` (default
  ``SHOPPABLE_DEFAULT_CURRENCY``) unless a ``Variant Currency`` column says otherwise.
- Stock: ``Variant Inventory Tracker`` blank means not tracked (unlimited), otherwise
  ``Variant Inventory Qty`` is the stock. A file without a tracker column at all tracks
  every variant whose quantity is given.
- ``Status`` (active/draft/archived) and ``Published`` (true/false): a product is active
  unless either says otherwise.
- ``Type`` is the product type; when it is blank, the last level of ``Product Category``
  ("Apparel > Shirts" gives "Shirts"). Columns the plugin has no use for are ignored.

Every row is checked first, through the API's own :class:`~.schemas.ProductSchema`; every
problem is reported with its line (the header is line 1); then everything is written
in one transaction, or nothing. The import only creates: a handle that already exists
is an error (there is no ``--update``: deciding which fields and variants an update
replaces is better done through the API, where each change is explicit).
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from .. import db
from ..money import MoneyError, normalize_currency, parse_decimal
from . import service
from .csvfile import CsvFileError, Row, read
from .models import MAX_OPTIONS
from .schemas import ProductSchema

REQUIRED_COLUMNS = ("Handle", "Title", "Variant Price")
#: Below this many products the progress bar would only flicker.
PROGRESS_MIN = 100

_VARIANT_COLUMNS = (
    "Option1 Value",
    "Option2 Value",
    "Option3 Value",
    "Variant SKU",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Inventory Qty",
    "Variant Inventory Tracker",
    "Variant Requires Shipping",
)
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}
_STATUS = {"active": True, "draft": False, "archived": False}
_INTEGER = re.compile(r"^[+-]?\d+$")

#: Schema field → the CSV column a merchant would fix.
_PRODUCT_COLUMNS = {
    "handle": "Handle",
    "title": "Title",
    "description": "Body (HTML)",
    "vendor": "Vendor",
    "product_type": "Type",
    "tags": "Tags",
    "options": "Option names",
    "active": "Status",
}
_VARIANT_FIELD_COLUMNS = {
    "sku": "Variant SKU",
    "price": "Variant Price",
    "compare_at_price": "Variant Compare At Price",
    "stock": "Variant Inventory Qty",
    "options": "Option values",
    "requires_shipping": "Variant Requires Shipping",
}
_IMAGE_COLUMNS = {"url": "Image Src", "alt": "Image Alt Text"}


@dataclass(frozen=True, order=True)
class Problem:
    """What is wrong, where: the line, the column to fix (may be empty), the reason."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.column}: " if self.column else ""
        return f"line {self.line}: {where}{self.message}"


@dataclass
class Draft:
    """A product assembled from its rows, with the line of each part for messages."""

    handle: str
    line: int
    data: dict[str, Any]
    variant_lines: list[int] = field(default_factory=list)
    image_lines: list[int] = field(default_factory=list)


@dataclass
class Plan:
    """What an import would write, or why it cannot."""

    products: list[dict[str, Any]] = field(default_factory=list)
    drafts: list[Draft] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def variant_count(self) -> int:
        return sum(len(p["variants"]) for p in self.products)


# --- cells -----------------------------------------------------------------------------


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{text!r} is not true or false")


def _money(text: str, currency: str) -> dict[str, Any]:
    return {"amount": parse_decimal(text, currency), "currency": currency}


class RowReader:
    """Turns rows into the dicts :class:`ProductSchema` loads, collecting problems."""

    def __init__(self, columns: list[str], currency: str) -> None:
        self.currency = currency
        self.tracks_by_column = "variant inventory tracker" in columns
        self.problems: list[Problem] = []
        #: (line, schema field) of cells already reported: the schema's own message
        #: about the field left out ("Missing data") would only repeat it.
        self.reported: set[tuple[int, str]] = set()

    def problem(self, row: Row, column: str, message: str, schema_field: str = "") -> None:
        self.problems.append(Problem(row.line, column, message))
        if schema_field:
            self.reported.add((row.line, schema_field))

    def product(self, row: Row) -> tuple[dict[str, Any], list[str] | None]:
        """The product's own fields (first row of its handle) and its option names
        (None when they are unusable: already reported, values go unchecked)."""
        data: dict[str, Any] = {
            "handle": row.get("Handle"),
            "title": row.get("Title"),
            "description": row.get("Body (HTML)"),
            "vendor": row.get("Vendor"),
            "product_type": row.get("Type") or row.get("Product Type"),
            "tags": [t.strip() for t in row.get("Tags").split(",") if t.strip()],
        }
        if not data["product_type"] and row.get("Product Category"):
            data["product_type"] = row.get("Product Category").split(">")[-1].strip()
        data["active"] = self._active(row)
        names = self._option_names(row)
        data["options"] = names or []
        return data, names

    def _active(self, row: Row) -> bool:
        active = True
        status = row.get("Status").lower()
        if status:
            if status not in _STATUS:
                self.problem(row, "Status", f"{status!r} is not active, draft or archived.")
            active = active and _STATUS.get(status, True)
        published = row.get("Published")
        if published:
            try:
                active = active and _flag(published)
            except ValueError as exc:
                self.problem(row, "Published", f"{exc}.")
        return active

    def _option_names(self, row: Row) -> list[str] | None:
        names = [row.get(f"Option{i} Name") for i in range(1, MAX_OPTIONS + 1)]
        while names and not names[-1]:
            names.pop()
        if "" in names:
            gap = names.index("") + 1
            self.problem(row, f"Option{gap} Name", "empty, but a later option is named.")
            return None
        if names == ["Title"] and row.get("Option1 Value") in ("Default Title", ""):
            return []  # Shopify's way of writing "no options"
        return names

    @staticmethod
    def has_variant(row: Row) -> bool:
        return any(row.get(column) for column in _VARIANT_COLUMNS)

    def variant(self, row: Row, names: list[str] | None) -> dict[str, Any]:
        """The variant on ``row``; cells that cannot be converted are reported here,
        the rest is left to the schema."""
        variant: dict[str, Any] = {}
        sku = row.get("Variant SKU")
        if sku:
            variant["sku"] = sku
        variant["options"] = self._option_values(row, names)

        currency = self.currency
        if row.get("Variant Currency"):
            try:
                currency = normalize_currency(row.get("Variant Currency"))
            except MoneyError as exc:
                self.problem(row, "Variant Currency", f"{exc}.", "price")
                currency = ""
        price_text = row.get("Variant Price")
        if not price_text:
            self.problem(row, "Variant Price", "empty: every variant needs a price.", "price")
        elif currency:
            try:
                variant["price"] = _money(price_text, currency)
            except MoneyError as exc:
                self.problem(row, "Variant Price", f"{exc}.", "price")
        compare_text = row.get("Variant Compare At Price")
        if compare_text and currency:
            try:
                variant["compare_at_price"] = _money(compare_text, currency)
            except MoneyError as exc:
                self.problem(row, "Variant Compare At Price", f"{exc}.")

        tracked = bool(row.get("Variant Inventory Tracker"))
        quantity = row.get("Variant Inventory Qty")
        if not self.tracks_by_column:
            tracked = bool(quantity)
        if tracked:
            if not quantity:
                variant["stock"] = 0
            elif _INTEGER.match(quantity):
                variant["stock"] = int(quantity)
            else:
                self.problem(row, "Variant Inventory Qty", f"{quantity!r} is not a whole number.")
        else:
            variant["stock"] = None

        shipping = row.get("Variant Requires Shipping")
        if shipping:
            try:
                variant["requires_shipping"] = _flag(shipping)
            except ValueError as exc:
                self.problem(row, "Variant Requires Shipping", f"{exc}.")
        return variant

    def _option_values(self, row: Row, names: list[str] | None) -> dict[str, str]:
        values: dict[str, str] = {}
        if names is None:
            return values
        for i in range(1, MAX_OPTIONS + 1):
            value = row.get(f"Option{i} Value")
            if i <= len(names):
                values[names[i - 1]] = value
            elif value and not (i == 1 and value == "Default Title"):
                self.problem(
                    row,
                    f"Option{i} Value",
                    f"{value!r} given, but the product has no Option{i} Name.",
                )
        return values


# --- assembling and checking -------------------------------------------------------------


def _drafts(rows: Iterator[Row], reader: RowReader) -> list[Draft]:
    """Group rows by handle into drafts, in the order handles first appear."""
    drafts: dict[str, Draft] = {}
    names_of: dict[str, list[str] | None] = {}
    for row in rows:
        if row.error:
            reader.problem(row, "", row.error)
            continue
        handle = row.get("Handle")
        if not handle:
            reader.problem(row, "Handle", "empty: every row names its product's handle.")
            continue
        draft = drafts.get(handle)
        if draft is None:
            data, names = reader.product(row)
            data.update(images=[], variants=[])
            draft = drafts[handle] = Draft(handle, row.line, data)
            names_of[handle] = names
        if reader.has_variant(row):
            draft.data["variants"].append(reader.variant(row, names_of[handle]))
            draft.variant_lines.append(row.line)
        if row.get("Image Src"):
            draft.data["images"].append(
                {"url": row.get("Image Src"), "alt": row.get("Image Alt Text")}
            )
            draft.image_lines.append(row.line)
    return list(drafts.values())


def _flatten(messages: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flatten(value, (*path, str(key)))
    elif isinstance(messages, list):
        for message in messages:
            yield from _flatten(message, path)
    else:
        yield path, str(messages)


def _variant_column(rest: tuple[str, ...]) -> str:
    if not rest:
        return "Variant"
    if rest[0] == "price" and rest[1:2] == ("currency",):
        return "Variant Currency"
    if rest[0] == "options" and len(rest) > 1:
        return f"Option value for {rest[1]!r}"
    return _VARIANT_FIELD_COLUMNS.get(rest[0], rest[0])


def located(
    draft: Draft,
    messages: Any,
    reported: set[tuple[int, str]] | frozenset[tuple[int, str]] = frozenset(),
) -> list[Problem]:
    """Schema or service messages of one product, put on the lines they come from.

    Messages about a field the row reader already reported on that line are dropped.
    """

    def by_line(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index < len(draft.variant_lines):
            return f"the variant on line {draft.variant_lines[index]}"
        return match.group(0)

    problems = []
    for path, message in _flatten(messages):
        text = re.sub(r"\bvariant (\d+)\b", by_line, message)
        head = path[0] if path else ""
        index = int(path[1]) if len(path) > 1 and path[1].isdigit() else None
        if head == "variants" and index is not None and index < len(draft.variant_lines):
            line, column = draft.variant_lines[index], _variant_column(path[2:])
            if len(path) > 2 and (line, path[2]) in reported:
                continue
        elif head == "images" and index is not None and index < len(draft.image_lines):
            rest = path[2] if len(path) > 2 else "url"
            line, column = draft.image_lines[index], _IMAGE_COLUMNS.get(rest, rest)
        elif head == "variants" and not draft.variant_lines:
            line, column = draft.line, "Variant Price"
            text = f"product {draft.handle!r} has no variant: no row of it has a price."
        else:
            line = draft.line
            column = _PRODUCT_COLUMNS.get(head, head.replace("_", " ").capitalize())
        problems.append(Problem(line, column, text))
    return problems


def _check_against_file_and_database(session: Session, drafts: list[Draft]) -> list[Problem]:
    """SKUs used twice in the file (across products) or already in the database, and
    handles already in the database."""
    problems: list[Problem] = []
    first_seen: dict[str, tuple[int, str]] = {}
    for draft in drafts:
        for variant, line in zip(draft.data["variants"], draft.variant_lines, strict=True):
            sku = variant.get("sku")
            if not sku or "\x00" in sku:  # NUL: refused by the schema, unfit for a query
                continue
            seen = first_seen.setdefault(sku, (line, draft.handle))
            if seen[1] != draft.handle:
                problems.append(Problem(line, "Variant SKU", f"{sku!r} is also on line {seen[0]}."))
    by_handle = {d.handle: d for d in drafts if "\x00" not in d.handle}
    for handle in sorted(service.taken_handles(session, by_handle)):
        problems.append(
            Problem(
                by_handle[handle].line,
                "Handle",
                f"{handle!r} already exists in the database (the import only creates "
                "products; change existing ones through the API).",
            )
        )
    taken = service.taken_skus(session, first_seen)
    for draft in drafts:
        for variant, line in zip(draft.data["variants"], draft.variant_lines, strict=True):
            sku = variant.get("sku")
            if sku in taken:
                message = service.sku_taken_message(sku, *taken[sku])
                problems.append(Problem(line, "Variant SKU", message))
    return problems


def plan_import(session: Session, data: bytes, currency: str) -> Plan:
    """Read and check the whole file; nothing is written."""
    plan = Plan()
    try:
        table = read(data)
        missing = [c for c in REQUIRED_COLUMNS if c.lower() not in table.names]
        if missing:
            hint = ""
            if len(table.columns) == 1 and ";" in table.columns[0]:
                hint = " The header seems to use ';' between columns: use ','."
            raise CsvFileError(1, f"missing required column(s): {', '.join(missing)}.{hint}")
        reader = RowReader(table.columns, currency)
        drafts = _drafts(table.rows, reader)
    except CsvFileError as exc:
        plan.problems.append(Problem(exc.line, "", exc.message))
        return plan
    plan.problems.extend(reader.problems)
    if not drafts and not plan.problems:
        plan.problems.append(Problem(1, "", "the file has a header but no product rows."))
    schema = ProductSchema()
    for draft in drafts:
        try:
            plan.products.append(schema.load(draft.data))
            plan.drafts.append(draft)
        except ValidationError as exc:
            plan.problems.extend(located(draft, exc.messages, reader.reported))
    plan.problems.extend(_check_against_file_and_database(session, drafts))
    plan.problems = sorted(set(plan.problems))
    return plan


# --- writing -----------------------------------------------------------------------------


def write_plan(session: Session, plan: Plan) -> None:
    """Create every planned product in one transaction; on any failure, none.

    A conflict the checks could not see (a concurrent writer) replaces the plan's
    problems with the service's, located on the product's lines.
    """
    progress: Any = contextlib.nullcontext()
    if len(plan.products) >= PROGRESS_MIN:
        progress = click.progressbar(
            length=len(plan.products),
            label="Importing products",
            file=sys.stderr,  # looked up now: CliRunner and pipes swap it
        )
    try:
        with progress as bar:
            for data, draft in zip(plan.products, plan.drafts, strict=True):
                try:
                    service.create_product(session, data, commit=False)
                except service.CatalogError as exc:
                    session.rollback()
                    found = located(draft, exc.errors) if exc.errors else []
                    plan.problems = found or [Problem(draft.line, "", exc.message)]
                    return
                if bar is not None:
                    bar.update(1)
        session.commit()
    except BaseException:
        session.rollback()
        raise


@click.command("import-products")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--currency",
    default=None,
    help="ISO 4217 currency of the prices (default: SHOPPABLE_DEFAULT_CURRENCY); "
    "a 'Variant Currency' column overrides it per row.",
)
@click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
@with_appcontext
def import_products_command(file: Path, currency: str | None, dry_run: bool) -> None:
    """Import products from FILE.csv (Shopify's product export columns): all rows or none.

    Every problem is listed with its line number before anything is written.
    """
    try:
        chosen = normalize_currency(currency or current_app.config["SHOPPABLE_DEFAULT_CURRENCY"])
    except MoneyError as exc:
        raise click.BadParameter(str(exc), param_hint="--currency") from None
    session = db.session()
    plan = plan_import(session, file.read_bytes(), chosen)
    if not plan.problems and not dry_run:
        write_plan(session, plan)
    if plan.problems:
        for problem in plan.problems:
            click.echo(f"{file.name}: {problem}", err=True)
        count = len(plan.problems)
        raise click.ClickException(
            f"{count} problem{'s' if count != 1 else ''} in {file.name}; nothing was imported."
        )
    products, variants = len(plan.products), plan.variant_count
    if dry_run:
        click.echo(
            f"{file.name} is valid: {products} products with {variants} variants would be "
            "imported (dry run: nothing was written)."
        )
    else:
        click.echo(f"Imported {products} products with {variants} variants from {file.name}.")
