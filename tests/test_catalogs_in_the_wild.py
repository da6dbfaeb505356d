"""Catalog files ProductLens was not written against: other encodings, delimiters and
quoting, missing and extra columns, garbage values and huge fields. Each file ingests
with exact counts, and every row or value it could not use is reported with its line."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.catalog.parse import CatalogFormatError, read_catalog
from core.ingest import ingest
from core.store import Store
from tests.conftest import KAGGLE_CSV, SHOP_ROWS, needs_kaggle

HEADER = ["name", "main_category", "sub_category", "image", "link", "ratings",
          "no_of_ratings", "discount_price", "actual_price"]  # fmt: skip
N = len(SHOP_ROWS)


def rows() -> list[list[str]]:
    """The shop catalog as Kaggle-shaped rows (line 1 is the header, row i is line i+2)."""
    return [
        [name, "tv, audio & cameras", "All Electronics", f"https://example.invalid/{i}.jpg",
         f"https://www.amazon.in/dp/B0000000{i:02d}", str(rating), count, sale, full]
        for i, (name, rating, count, sale, full) in enumerate(SHOP_ROWS)
    ]  # fmt: skip


def as_csv(table: list[list[str]], delimiter: str = ",", header: list[str] = HEADER) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(table)
    return out.getvalue()


def with_name(index: int, name: str) -> list[list[str]]:
    table = rows()
    table[index][0] = name
    return table


def with_value(changes: dict[tuple[int, int], str]) -> list[list[str]]:
    table = rows()
    for (row, column), value in changes.items():
        table[row][column] = value
    return table


@dataclass
class Case:
    make: Callable[[], bytes]
    ingested: int
    rejected: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # line, column, raw
    encoding: str = "utf-8"  # what the report must say (a prefix)
    name_at: tuple[int, str] | None = None  # a product id and the exact name it must have


def _drop_column(column: str) -> bytes:
    keep = [i for i, h in enumerate(HEADER) if h != column]
    table = [[row[i] for i in keep] for row in rows()]
    return as_csv(table, header=[HEADER[i] for i in keep]).encode()


def _mixed_encodings() -> bytes:
    lines = as_csv(with_name(13, "Rédmi 10 Power (Black)")).encode().splitlines(keepends=True)
    # one line saved by another program (which could not keep the rupee sign)
    lines[14] = lines[14].decode().replace("₹", "").encode("cp1252")
    return b"".join(lines)


def _unterminated_quote() -> bytes:
    text = as_csv(rows()).splitlines(keepends=True)
    text[5] = '"Sony WI-C100 with a quote that never closes,' + text[5]
    return "".join(text).encode()


def _extra_field() -> bytes:
    text = as_csv(rows()).splitlines(keepends=True)
    text[3] = text[3].rstrip("\n") + ",surplus\n"
    return "".join(text).encode()


CASES = {
    "cp1252 export of the seed file": Case(
        lambda: (
            as_csv(with_name(13, "Rédmi 10 Power (Power Black, 8GB RAM)"))
            .replace("₹", "Rs. ")
            .encode("cp1252")
        ),
        ingested=N,
        encoding="cp1252",
        name_at=(13, "Rédmi 10 Power (Power Black, 8GB RAM)"),
        # "Rs. 10,999" is not a price we read: each one is reported, not dropped silently
        problems=[
            (i + 2, column, f"Rs. {row[col]}".replace("₹", ""))
            for i, row in enumerate(SHOP_ROWS)
            for column, col in (("discount_price", 3), ("actual_price", 4))
        ],
    ),
    "latin-1 with accents": Case(
        lambda: (
            as_csv(with_name(2, "Écouteurs boAt Airdopes 141 (Noir, Édition spéciale)"))
            .replace("₹", "")
            .encode("latin-1")
        ),
        ingested=N,
        encoding="",  # detected as latin-1 or cp1252, which agree on these bytes
        name_at=(2, "Écouteurs boAt Airdopes 141 (Noir, Édition spéciale)"),
    ),
    "utf-8 with a byte-order mark and CRLF line ends": Case(
        lambda: b"\xef\xbb\xbf" + as_csv(rows()).replace("\n", "\r\n").encode(),
        ingested=N,
        encoding="utf-8 (with byte-order mark)",
    ),
    "utf-16 from a spreadsheet": Case(
        lambda: as_csv(rows(), delimiter="\t").encode("utf-16"), ingested=N, encoding="utf-16"
    ),
    "utf-8 with one line in cp1252": Case(
        _mixed_encodings,
        ingested=N,
        encoding="utf-8, with 1 line(s) in",
        name_at=(13, "Rédmi 10 Power (Black)"),
    ),
    "semicolons, with semicolons inside prices": Case(
        lambda: as_csv(
            with_value({(13, 7): "₹10;999", (13, 8): "₹18;999"}), delimiter=";"
        ).encode(),
        ingested=N,
        problems=[(15, "discount_price", "₹10;999"), (15, "actual_price", "₹18;999")],
    ),
    "tab separated": Case(lambda: as_csv(rows(), delimiter="\t").encode(), ingested=N),
    "no link column": Case(lambda: _drop_column("link"), ingested=N, missing=["link"]),
    "extra columns": Case(
        lambda: as_csv(
            [[*row, "note", str(i)] for i, row in enumerate(rows())],
            header=[*HEADER, "Notes", "uuid"],
        ).encode(),
        ingested=N,
        ignored=["notes", "uuid"],
    ),
    "quoted commas, quotes and line breaks in names": Case(
        lambda: as_csv(with_name(0, 'boAt "Bassheads" 100, Wired\nEarphones (Black)')).encode(),
        ingested=N,
        name_at=(0, 'boAt "Bassheads" 100, Wired\nEarphones (Black)'),
    ),
    "an unterminated quote costs one row": Case(
        _unterminated_quote, ingested=N - 1, rejected={"unterminated quote": 1}
    ),
    "a row with a field too many": Case(
        _extra_field, ingested=N - 1, rejected={"wrong number of columns": 1}
    ),
    "garbage values": Case(
        lambda: as_csv(
            with_value(
                {
                    (0, 5): "Get",
                    (0, 6): "FREE Delivery by Amazon",
                    (4, 7): "N/A",
                    (5, 8): "₹abc",
                    (6, 5): "7.5",
                }
            )
        ).encode(),
        ingested=N,
        problems=[
            (2, "ratings", "Get"),
            (2, "no_of_ratings", "FREE Delivery by Amazon"),
            (6, "discount_price", "N/A"),
            (7, "actual_price", "₹abc"),
            (8, "ratings", "7.5"),
        ],
    ),
    "huge fields": Case(
        lambda: as_csv(
            with_value({(3, 0): "Sony " * 500, (4, 3): "https://example.invalid/" + "x" * 60_000})
        ).encode(),
        ingested=N - 1,
        rejected={"name longer than 2000 characters": 1},
    ),
    "blank lines between rows": Case(
        lambda: as_csv(rows()).replace("\n", "\n\n", 5).encode(), ingested=N
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_a_messy_catalog_ingests_exactly_and_says_what_it_could_not_use(tmp_path, case):
    path = tmp_path / "catalog.csv"
    path.write_bytes(case.make())
    report = ingest(Store(tmp_path / "db"), path, catalog="wild")
    assert report.ingested == case.ingested
    assert report.rows_read == N
    assert report.rejected_by_reason == case.rejected
    assert report.missing_columns == case.missing
    assert report.ignored_columns == case.ignored
    got = sorted((p.line, p.column, p.raw) for p in report.value_problems)
    assert got == sorted(case.problems)
    assert report.encoding.startswith(case.encoding)
    if not case.encoding:
        assert report.encoding in ("cp1252", "iso8859-1")
    if case.name_at:
        product_id, name = case.name_at
        assert Store(tmp_path / "db").products.get("wild", product_id)["name"] == name
    # the same facts are what `--json` prints and what the Catalog page reads back
    stored = Store(tmp_path / "db").catalogs.get("wild").report
    assert stored["encoding"] == report.encoding
    assert stored["unreadable_values"] == len(case.problems)
    assert stored["rejected_by_reason"] == case.rejected


def test_an_empty_file_is_refused_with_a_reason_and_a_header_alone_is_an_empty_catalog(
    tmp_path,
):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(CatalogFormatError, match="the file is empty"):
        read_catalog(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(HEADER) + "\n")
    read = read_catalog(header_only)
    assert read.products == [] and read.errors == [] and read.rows_read == 0


def test_the_catalog_page_shows_how_a_file_was_read(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    path = tmp_path / "catalog.csv"
    path.write_bytes(CASES["garbage values"].make())
    ingest(Store(tmp_path / "db"), path, catalog="wild")
    monkeypatch.setenv("PRODUCTLENS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PRODUCTLENS_DB", str(tmp_path / "db"))
    page = Path(__file__).parent.parent / "pages" / "catalog.py"
    at = AppTest.from_file(str(page), default_timeout=60).run()
    assert not at.exception
    [expander] = [e for e in at.expander if e.label.startswith("How the file was read")]
    assert "0 row(s) rejected, 5 value(s) unreadable" in expander.label
    examples = expander.dataframe[0].value
    assert ("Get" in examples["raw"].tolist()) and (2 in examples["line"].tolist())


@needs_kaggle
def test_a_cp1252_copy_of_the_seed_file_ingests_every_row(tmp_path):
    """A spreadsheet's "Save as" of the 9,600-row file (cp1252 has no rupee sign): the
    row with "Rédmi" is read, not rejected as "not valid UTF-8", and the only values
    reported unreadable are the seed's own junk (24 ratings "Get" and their counts)."""
    text = KAGGLE_CSV.read_text(encoding="utf-8").replace("₹", "")
    text = text.replace("Redmi 10 Power (Power Black", "Rédmi 10 Power (Power Black", 1)
    path = tmp_path / "seed-cp1252.csv"
    path.write_bytes(text.encode("cp1252", errors="replace"))
    report = ingest(Store(tmp_path / "db"), path, catalog="seed")
    assert (report.ingested, len(report.rejected), report.encoding) == (9600, 0, "cp1252")
    assert Store(tmp_path / "db").products.get("seed", 0)["name"].startswith("Rédmi 10 Power")
    by_column = report.reading()["unreadable_values_by_column"]
    assert by_column == {"ratings": 24, "no_of_ratings": 24}
