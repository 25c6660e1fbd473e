"""Reading a CSV file as rows that know the physical line they start on.

Merchants' files come from spreadsheets and from Shopify's export, where a quoted cell
(Body HTML) may span several lines; an error message must name the line a person sees
in an editor, so each row carries the line it starts on (the header is line 1). The
file must be UTF-8 (a BOM is fine); otherwise the error names the line of the first bad
byte, which is usually where an accented name was saved in another encoding.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass


class CsvFileError(Exception):
    """The file as a whole cannot be read (encoding, emptiness, syntax, columns)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class Row:
    """One record: the line it starts on and its cells by (normalised) column name.

    ``error`` is set when the record itself is malformed (more cells than columns).
    """

    line: int
    cells: dict[str, str]
    error: str | None = None

    def get(self, column: str) -> str:
        """The cell's text, stripped; ``""`` when the column is absent or empty."""
        return self.cells.get(column.lower(), "").strip()


def decode(data: bytes) -> str:
    """UTF-8 text of ``data`` (BOM dropped), or :class:`CsvFileError` naming the line."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CsvFileError(
            line,
            f"the file is not UTF-8 (byte 0x{data[exc.start]:02X} at byte {column} of the "
            "line); save it as 'CSV UTF-8' and try again.",
        ) from None


@dataclass
class Table:
    """The header (normalised names, as written) and an iterator over the rows."""

    columns: list[str]
    names: dict[str, str]  # lower-cased name → name as written
    rows: Iterator[Row]


def read(data: bytes) -> Table:
    """Parse ``data``: the first record is the header; blank records are skipped."""
    text = decode(data)
    if not text.strip():
        raise CsvFileError(1, "the file is empty: expected a header row and product rows.")
    # strict: a stray quote is an error here rather than cells silently merged
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise CsvFileError(1, f"the header cannot be read as CSV ({exc}).") from None
    columns = [name.strip().lower() for name in header]
    names = {name.strip().lower(): name.strip() for name in header}

    def rows() -> Iterator[Row]:
        previous_end = reader.line_num
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise CsvFileError(previous_end + 1, f"this is not valid CSV ({exc}).") from None
            start, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            error = None
            if len(record) > len(columns) and any(c.strip() for c in record[len(columns) :]):
                error = (
                    f"{len(record)} cells but the header has {len(columns)} columns "
                    "(an unquoted comma?)."
                )
            yield Row(start, dict(zip(columns, record, strict=False)), error)

    return Table(columns=columns, names=names, rows=rows())
