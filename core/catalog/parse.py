"""Reading and cleaning catalog files into typed product records.

Two input shapes are understood:

* the Kaggle "Amazon Products 2023" CSV (name, main_category, sub_category, image, link,
  ratings, no_of_ratings, discount_price, actual_price), prices like "₹18,999";
* a folder catalog: ``manifest.csv`` (file, product_name, category, price_usd, ...) beside
  the image files it names, such as the shipped ``data/sample``.

A bad row never stops a read: it becomes a :class:`RowError` with its physical line and
the reason, and every other row still comes through.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.catalog.decoding import DecodedLines, decode_lines

KAGGLE_COLUMNS = (
    "name",
    "main_category",
    "sub_category",
    "image",
    "link",
    "ratings",
    "no_of_ratings",
    "discount_price",
    "actual_price",
)
MANIFEST_REQUIRED = ("file", "product_name")
# Optional manifest columns, each with the other names it may go by.
MANIFEST_OPTIONAL = (
    ("category",), ("sub_category",), ("price_usd", "price"),
    ("list_price_usd", "list_price"), ("stars", "rating"), ("reviews", "no_of_ratings"),
    ("asin",),
)  # fmt: skip
MANIFEST_NAME = "manifest.csv"

# A quoted field may legitimately span a few lines; more than this means an unclosed quote.
MAX_LINES_PER_RECORD = 20
MAX_NAME_CHARS = 2000

_CURRENCY_SYMBOLS = {"₹": "INR", "$": "USD", "€": "EUR", "£": "GBP"}
CURRENCY_SIGNS = {code: sign for sign, code in _CURRENCY_SYMBOLS.items()}
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_ASIN = re.compile(r"/(?:dp|gp/product)/([A-Z0-9]{10})(?:[/?]|$)")


class CatalogFormatError(ValueError):
    """The file as a whole cannot be read as a catalog (not a per-row problem)."""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"

    @property
    def kind(self) -> str:
        """The reason without this row's details, for counting rows per reason."""
        if self.reason.startswith("byte 0x"):
            return "not valid text"
        if re.match(r"expected \d+ columns", self.reason):
            return "wrong number of columns"
        return self.reason.split(" (")[0]


@dataclass(frozen=True)
class ValueProblem:
    """A value that could not be read: the product is kept, that field left empty."""

    line: int
    column: str
    raw: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.column} = {self.raw[:60]!r}: {self.reason}"


@dataclass
class Product:
    product_id: int
    name: str
    main_category: str = ""
    sub_category: str = ""
    image_url: str = ""
    image_path: str = ""
    link: str = ""
    asin: str = ""
    rating: float | None = None
    rating_count: int | None = None
    discount_price: float | None = None
    actual_price: float | None = None
    currency: str = ""
    source_line: int = 0
    image_status: str = "pending"
    image_error: str = ""

    @property
    def price(self) -> float | None:
        """What the buyer pays: the discounted price when there is one."""
        return self.discount_price if self.discount_price is not None else self.actual_price

    @property
    def discount_percent(self) -> float | None:
        """Whole percent off the list price; None when there is no real discount to state."""
        sale, full = self.discount_price, self.actual_price
        if sale is None or not full or full <= 0 or sale > full:
            return None
        return float(math.floor(100 * (1 - sale / full) + 0.5))  # half up, as SQL rounds

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class CatalogRead:
    products: list[Product] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0
    source: str = ""
    kind: str = ""
    encoding: str = "utf-8"
    missing_columns: list[str] = field(default_factory=list)  # optional ones: left empty
    ignored_columns: list[str] = field(default_factory=list)  # not ours: not read
    value_problems: list[ValueProblem] = field(default_factory=list)

    def rejected_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for error in self.errors:
            counts[error.kind] = counts.get(error.kind, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: -item[1]))


# --- value parsing -------------------------------------------------------------------


def parse_price(raw: str | None) -> tuple[float | None, str]:
    """'₹18,999' → (18999.0, 'INR'); '$14.79' → (14.79, 'USD'); junk → (None, '')."""
    if raw is None:
        return None, ""
    text = raw.strip()
    currency = ""
    for sign, code in _CURRENCY_SYMBOLS.items():
        if sign in text:
            currency = code
            text = text.replace(sign, "")
    text = text.replace(",", "").replace("\u00a0", "").strip()
    if not _NUMBER.match(text):
        return None, currency
    value = float(text)
    return value, currency


def parse_count(raw: str | None) -> int | None:
    """'113,956' → 113956; anything that is not a whole non-negative number → None."""
    if raw is None:
        return None
    text = raw.strip().replace(",", "")
    return int(text) if text.isdigit() else None


def parse_rating(raw: str | None) -> float | None:
    """A number in 0–5, else None (the Kaggle file holds values like 'Get' and '₹68.99')."""
    if raw is None:
        return None
    text = raw.strip()
    if not _NUMBER.match(text):
        return None
    value = float(text)
    return value if 0.0 <= value <= 5.0 else None


def parse_asin(link: str) -> str:
    match = _ASIN.search(link or "")
    return match.group(1) if match else ""


def format_price(value: float | None, currency: str = "") -> str:
    """18999.0, 'INR' → '₹18,999'; 14.79, 'USD' → '$14.79'; None → ''."""
    if value is None or value != value:  # None or NaN (pandas' missing value)
        return ""
    sign = CURRENCY_SIGNS.get(currency, "")
    digits = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return f"{sign}{digits}" if sign else f"{digits} {currency}".strip()


def text_document(product: Product) -> str:
    """The text index's document: name + rating + discount + price, as in the seed."""
    parts = [product.name.strip()]
    if product.rating is not None:
        parts.append(f"Rating: {product.rating:g} out of 5")
    if product.discount_price is not None:
        parts.append(f"Discount price: {format_price(product.discount_price, product.currency)}")
    if product.actual_price is not None:
        parts.append(f"Price: {format_price(product.actual_price, product.currency)}")
    return ". ".join(parts)


# --- low-level record reading --------------------------------------------------------


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def iter_records(lines: DecodedLines) -> Iterator[tuple[int, list[str] | None, str]]:
    """CSV records as (first line number, fields or None, reason when None).

    Records are assembled line by line so that an unterminated quote costs one row,
    not the rest of the file: a record whose quotes never balance within
    MAX_LINES_PER_RECORD lines is rejected and reading resumes on the next line.
    """
    lines = lines.lines
    delimiter = ","
    i = 0
    first = True
    while i < len(lines):
        start, text, reason = lines[i]
        if text is None:
            yield start, None, reason
            i += 1
            continue
        if first:
            delimiter = _sniff_delimiter(text)
            first = False
        buffer = text
        j = i
        while buffer.count('"') % 2 == 1 and j + 1 < len(lines) and j - i < MAX_LINES_PER_RECORD:
            j += 1
            extra = lines[j][1]
            if extra is None:
                break
            buffer += extra
        if buffer.count('"') % 2 == 1:
            yield start, None, "unterminated quote"
            i += 1
            continue
        i = j + 1
        if not buffer.strip():
            continue
        try:
            rows = list(csv.reader(io.StringIO(buffer), delimiter=delimiter, strict=True))
        except csv.Error as exc:
            yield start, None, f"bad quoting ({exc})"
            continue
        if len(rows) != 1:
            yield start, None, "bad quoting (record splits into several rows)"
            continue
        yield start, rows[0], ""


def _header_map(header: list[str]) -> dict[str, int]:
    return {name.strip().lower(): index for index, name in enumerate(header)}


# --- catalog readers -----------------------------------------------------------------


def detect_kind(path: Path) -> str:
    """'manifest' for a folder catalog (or its manifest file), else 'kaggle'."""
    if path.is_dir() or path.name == MANIFEST_NAME:
        return "manifest"
    return "kaggle"


def read_catalog(path: str | Path) -> CatalogRead:
    source = Path(path)
    if not source.exists():
        raise CatalogFormatError(f"{source}: no such file or folder")
    if detect_kind(source) == "manifest":
        manifest = source / MANIFEST_NAME if source.is_dir() else source
        if not manifest.exists():
            raise CatalogFormatError(f"{source}: a folder catalog needs a {MANIFEST_NAME}")
        return _read_manifest(manifest)
    return _read_kaggle(source)


Getter = Callable[[str], str]


def _rows(
    source: Path,
    required: tuple[str, ...],
    optional: tuple[tuple[str, ...], ...],
    result: CatalogRead,
) -> Iterator[tuple[int, int, Getter]]:
    """Well-formed data rows as (line, product_id, column getter); the rest go to errors.

    product_id is the 0-based data row index, counted over rejected rows too, so ids stay
    stable when a bad row is fixed later (and match the seed's ids for the Kaggle file).
    """
    data = source.read_bytes()
    if not data.strip():
        raise CatalogFormatError(f"{source}: the file is empty")
    decoded = decode_lines(data)
    result.encoding = decoded.encoding
    records = iter_records(decoded)
    _header_line, header, reason = next(records)
    if header is None:
        raise CatalogFormatError(f"{source}: cannot read the header line ({reason})")
    columns = _header_map(header)
    missing = [c for c in required if c not in columns]
    if missing:
        found = ", ".join(columns) or "nothing"
        hint = ""
        if len(header) == 1:
            hint = " The header has a single column: is the delimiter one of , ; tab |?"
        raise CatalogFormatError(
            f"{source}: missing column(s) {', '.join(missing)}; found {found}.{hint}"
        )
    result.missing_columns = [
        names[0] for names in optional if not any(name in columns for name in names)
    ]
    known = set(required) | {name for names in optional for name in names}
    result.ignored_columns = [c for c in columns if c and c not in known]
    width = len(header)
    product_id = -1
    for line, fields, reason in records:
        product_id += 1
        result.rows_read += 1
        if fields is None:
            result.errors.append(RowError(line, reason))
            continue
        if len(fields) != width:
            result.errors.append(RowError(line, f"expected {width} columns, found {len(fields)}"))
            continue

        def get(column: str, fields: list[str] = fields) -> str:
            index = columns.get(column)
            return fields[index].strip() if index is not None else ""

        yield line, product_id, get


def _read_kaggle(source: Path) -> CatalogRead:
    result = CatalogRead(source=str(source), kind="kaggle")
    optional = tuple((c,) for c in KAGGLE_COLUMNS if c != "name")
    for line, product_id, get in _rows(source, ("name",), optional, result):
        name = get("name")
        problem = _name_problem(name)
        if problem:
            result.errors.append(RowError(line, problem))
            continue
        value = _ValueReader(line, get, result.value_problems)
        discount, currency_d = value.price("discount_price")
        actual, currency_a = value.price("actual_price")
        link = get("link")
        result.products.append(
            Product(
                product_id=product_id,
                name=name,
                main_category=get("main_category"),
                sub_category=get("sub_category"),
                image_url=get("image"),
                link=link,
                asin=parse_asin(link),
                rating=value.rating("ratings"),
                rating_count=value.count("no_of_ratings"),
                discount_price=discount,
                actual_price=actual,
                currency=currency_a or currency_d,
                source_line=line,
            )
        )
    return result


def _read_manifest(manifest: Path) -> CatalogRead:
    folder = manifest.parent.resolve()
    result = CatalogRead(source=str(manifest), kind="manifest")
    for line, product_id, get in _rows(manifest, MANIFEST_REQUIRED, MANIFEST_OPTIONAL, result):
        name = get("product_name")
        problem = _name_problem(name) or ("" if get("file") else "missing file")
        if problem:
            result.errors.append(RowError(line, problem))
            continue
        file_field = get("file")
        image_path = (folder / file_field).resolve()
        if folder not in image_path.parents:
            result.errors.append(RowError(line, f"file {file_field!r} is outside the catalog"))
            continue
        value = _ValueReader(line, get, result.value_problems)
        price, currency = value.price("price_usd", "price")
        list_price, _ = value.price("list_price_usd", "list_price")
        # The manifest writes 0.0 where a price is unknown.
        price = price or None
        list_price = list_price or None
        if not currency and (get("price_usd") or get("list_price_usd")):
            currency = "USD"
        # A list price above the selling price means the selling price is a discount.
        discounted = list_price is not None and price is not None and list_price > price
        asin = get("asin")
        result.products.append(
            Product(
                product_id=product_id,
                name=name,
                main_category=get("category"),
                sub_category=get("sub_category") or get("category"),
                image_url=file_field,
                image_path=str(image_path),
                link=f"https://www.amazon.com/dp/{asin}" if asin else "",
                asin=asin,
                rating=value.rating("stars", "rating"),
                rating_count=value.count("reviews", "no_of_ratings"),
                discount_price=price if discounted else None,
                actual_price=list_price if discounted else price,
                currency=currency,
                source_line=line,
            )
        )
    return result


class _ValueReader:
    """Reads one row's numbers; a value that is there but cannot be read is reported
    (line, column, raw value), never silently left empty."""

    def __init__(self, line: int, get: Getter, problems: list[ValueProblem]) -> None:
        self.line, self.get, self.problems = line, get, problems

    def _raw(self, columns: tuple[str, ...]) -> tuple[str, str]:
        for column in columns:
            if raw := self.get(column):
                return column, raw
        return columns[0], ""

    def _report(self, column: str, raw: str, reason: str) -> None:
        self.problems.append(ValueProblem(self.line, column, raw, reason))

    def price(self, *columns: str) -> tuple[float | None, str]:
        column, raw = self._raw(columns)
        value, currency = parse_price(raw)
        if raw and value is None:
            self._report(column, raw, "not a price")
        return value, currency

    def rating(self, *columns: str) -> float | None:
        column, raw = self._raw(columns)
        value = parse_rating(raw)
        if raw and value is None:
            self._report(column, raw, "not a rating from 0 to 5")
        return value

    def count(self, *columns: str) -> int | None:
        column, raw = self._raw(columns)
        value = parse_count(raw)
        if raw and value is None:
            self._report(column, raw, "not a whole number")
        return value


def _name_problem(name: str) -> str:
    if not name:
        return "missing name"
    if len(name) > MAX_NAME_CHARS:
        return f"name longer than {MAX_NAME_CHARS} characters"
    return ""


def folder_subset(source: Path, target: Path, rows: int) -> Path:
    """The first `rows` products of a folder catalog, copied as a folder catalog."""
    import shutil

    (Path(target) / "images").mkdir(parents=True, exist_ok=True)
    with open(Path(source) / MANIFEST_NAME, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        kept = [row for _, row in zip(range(rows), reader, strict=False)]
    for row in kept:
        (Path(target) / row[0]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(source) / row[0], Path(target) / row[0])
    with open(Path(target) / MANIFEST_NAME, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(kept)
    return Path(target)
