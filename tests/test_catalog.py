from __future__ import annotations

import pytest

from core.catalog.parse import (
    CatalogFormatError,
    format_price,
    parse_asin,
    parse_count,
    parse_price,
    parse_rating,
    read_catalog,
    text_document,
)
from tests.conftest import KAGGLE_CSV, SAMPLE, needs_kaggle

HEADER = (
    "name,main_category,sub_category,image,link,ratings,no_of_ratings,discount_price,actual_price\n"
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("₹18,999", (18999.0, "INR")),
        ("$14.79", (14.79, "USD")),
        ("1,23,456", (123456.0, "")),
        ("₹", (None, "INR")),
        ("FREE", (None, "")),
        ("", (None, "")),
        ("-5", (None, "")),
    ],
)
def test_parse_price(raw, expected):
    assert parse_price(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4.0", 4.0),
        ("5", 5.0),
        ("0", 0.0),
        ("Get", None),
        ("₹68.99", None),
        ("-1", None),
        ("5.5", None),
        ("", None),
    ],
)
def test_parse_rating(raw, expected):
    assert parse_rating(raw) == expected


def test_parse_count_and_asin():
    assert parse_count("113,956") == 113956
    assert parse_count("FREE") is None
    link = "https://www.amazon.in/Redmi-Power/dp/B09Y64H8VS/ref=sr_1_4?qid=1"
    assert parse_asin(link) == "B09Y64H8VS"
    assert parse_asin("https://example.com/x") == ""


def test_format_price_keeps_cents_only_when_present():
    assert format_price(18999.0, "INR") == "₹18,999"
    assert format_price(14.79, "USD") == "$14.79"
    assert format_price(None, "USD") == ""
    assert format_price(float("nan"), "USD") == ""


@needs_kaggle
def test_real_kaggle_file_reads_every_row():
    result = read_catalog(KAGGLE_CSV)
    assert result.rows_read == 9600
    assert len(result.products) == 9600
    assert result.errors == []
    first = result.products[0]
    assert (first.product_id, first.discount_price, first.actual_price) == (0, 10999.0, 18999.0)
    assert (first.rating, first.rating_count, first.currency) == (4.0, 965, "INR")
    assert first.asin == "B09Y64H8VS"
    # ids are row indices in the file, as in the seed
    assert result.products[8903].product_id == 8903
    assert "Rating: 4 out of 5" in text_document(first)
    assert "Discount price: ₹10,999" in text_document(first)


def test_shipped_sample_folder_catalog():
    result = read_catalog(SAMPLE)
    assert result.kind == "manifest"
    assert len(result.products) == 294 and not result.errors
    product = result.products[0]
    assert product.currency == "USD" and product.actual_price == 16.44
    assert product.image_path.endswith("718x1vTL4EL._AC_UL320_.jpg")


def _write(tmp_path, text: str | bytes, name: str = "c.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_malformed_rows_are_reported_with_line_and_reason_and_rest_ingests(tmp_path):
    rows = [
        '"Good one",a,b,,,4.1,"1,000","₹100","₹200"\n',  # line 2
        ',a,b,,,4.1,10,"₹100","₹200"\n',  # line 3: missing name
        '"Too few",a,b\n',  # line 4: wrong column count
        '"Unclosed quote,a,b,,,4,1,1,1\n',  # line 5: quote never closes
        '"Good two",a,b,,,Get,,,"₹999"\n',  # line 6
        '"Bad "quote" inside",a,b,,,1,1,1,1\n',  # line 7: stray quote
        '"Good three",a,b,,,5,2,"₹1","₹2"\n',  # line 8
    ]
    result = read_catalog(_write(tmp_path, HEADER + "".join(rows)))
    assert [p.name for p in result.products] == ["Good one", "Good two", "Good three"]
    assert [p.product_id for p in result.products] == [0, 4, 6]
    reasons = {e.line: e.reason for e in result.errors}
    assert reasons[3] == "missing name"
    assert reasons[4] == "expected 9 columns, found 3"
    assert reasons[5] == "unterminated quote"
    assert 7 in reasons and "quot" in reasons[7]
    assert result.rows_read == 7
    assert result.products[1].rating is None  # "Get" is not a rating


def test_quoted_newline_inside_a_name_is_one_record(tmp_path):
    text = HEADER + '"Two\nline name",a,b,,,4,1,"₹1","₹2"\n"Next",a,b,,,4,1,"₹1","₹2"\n'
    result = read_catalog(_write(tmp_path, text))
    assert [p.name for p in result.products] == ["Two\nline name", "Next"]
    assert result.products[1].source_line == 4


def test_bom_semicolons_and_bad_bytes(tmp_path):
    text = HEADER.replace(",", ";") + "Alpha;a;b;;;4;1;₹1;₹2\n"
    data = b"\xef\xbb\xbf" + text.encode() + b"Bad \xff byte;a;b;;;4;1;1;1\nBeta;a;b;;;4;1;1;1\n"
    result = read_catalog(_write(tmp_path, data))
    assert [p.name for p in result.products] == ["Alpha", "Beta"]
    assert result.errors[0].line == 3 and "is not UTF-8" in result.errors[0].reason


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), ("title,price\nx,1\n", r"missing column\(s\) name"), ("   \n", "empty")],
)
def test_whole_file_problems_raise_a_clear_error(tmp_path, content, message):
    with pytest.raises(CatalogFormatError, match=message):
        read_catalog(_write(tmp_path, content))


def test_header_only_gives_an_empty_catalog(tmp_path):
    result = read_catalog(_write(tmp_path, HEADER))
    assert result.products == [] and result.rows_read == 0


def test_manifest_rejects_paths_outside_the_folder(tmp_path):
    folder = tmp_path / "cat"
    folder.mkdir()
    (folder / "manifest.csv").write_text(
        "file,product_name,category,price_usd\n../secret.jpg,Sneaky,x,1\nimg.jpg,Fine,x,2\n"
    )
    result = read_catalog(folder)
    assert [p.name for p in result.products] == ["Fine"]
    assert "outside the catalog" in result.errors[0].reason
