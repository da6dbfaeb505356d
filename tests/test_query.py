"""Question understanding: constraints, brands, follow-ups, and an LLM's proposals."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from core.catalog.facts import brand_vocabulary, build_facts, listing_key, product_brand
from core.llm import LLMConfig
from core.retrieval.query import Understanding, understand
from core.retrieval.shopping import propose_with_llm
from core.store.filters import Filters, QueryError
from tests.fake_llm import FakeLLM

NAMES = [
    "boAt Rockerz 255 Earphones", "boAt Bassheads 100 Earphones", "boAt Airdopes 141",
    "Sony WI-C100 Wireless Headphones", "Sony WH-CH510 Headphones", "Sony MDR-ZX110 (Red)",
    "Redmi 10 Power", "Redmi Note 12", "Case for Redmi Note 10", "Cover for Redmi 9",
    "HDMI Cable 2m", "Cable HDMI 5m", "Wireless HDMI Extender", "Noise ColorFit Pro 4",
    "Noise ColorFit Icon", "Noise Cancelling Earbuds by Zeb", "Battery for Sony NP-BG1",
    "Kastar Replacement Sony NP-F550 Battery", "Camera Bag for Nikon Canon Sony DSLR",
    "Flash Speedlite for Sony Nikon Cameras", "Lens Cap for Nikon Sony Lenses...",
    "Phone Case for Sony Xperia Galaxy", "Strap for Sony Better...",
]  # fmt: skip


def facts_for(names=NAMES, currency="INR", images="missing"):
    frame = pd.DataFrame(
        {
            "product_id": range(len(names)),
            "name": names,
            "price": [999.0] * len(names),
            "discount_price": [999.0] * len(names),
            "actual_price": [1999.0] * len(names),
            "rating": [4.0] * len(names),
            "rating_count": [100] * len(names),
            "currency": [currency] * len(names),
            "image_status": [images] * len(names),
        }
    )
    return build_facts(frame)


FACTS = facts_for()


def test_a_brand_the_catalog_only_sells_accessories_for_is_still_a_brand():
    # Nikon stands beside known brands in "for …" clauses and makes nothing here; "Better"
    # ends a cut-off name; "Galaxy" stands beside Sony only once; "DSLR" is an acronym.
    assert FACTS.fitted == frozenset({"nikon"})
    understood = understand("Nikon camera under ₹10,000", FACTS)
    assert understood.brands == ("nikon",) and understood.search_text == "Nikon camera"
    assert Filters(brands=("nikon",)).resolve(FACTS) is None  # nothing here is by Nikon


def test_brands_are_learned_even_when_accessories_name_them_too():
    vocabulary = brand_vocabulary(NAMES)
    # Redmi leads 2 names and is named "for Redmi" in 2 more: still a brand.
    assert {"boat", "sony", "redmi", "noise"} <= vocabulary
    assert not {"hdmi", "cable", "wireless", "case"} & vocabulary
    assert product_brand("Case for Redmi Note 10", vocabulary) == ""
    assert product_brand("Kastar Replacement Sony NP-F550 Battery", vocabulary) == ""
    assert product_brand("Sony MDR-ZX110 (Red)", vocabulary) == "sony"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("boAt earphones under 1000 rupees", {"brands": ("boat",), "max_price": 1000}),
        ("boat earphones below Rs. 1k", {"brands": ("boat",), "max_price": 1000}),
        ("earphones under ₹1,500", {"max_price": 1500}),
        ("tv between ₹20,000 and ₹30,000", {"min_price": 20000, "max_price": 30000}),
        ("laptop around 50k", {"min_price": 40000, "max_price": 60000}),
        ("speaker over 2000 rupees", {"min_price": 2000}),
        ("4 stars and up bluetooth speaker", {"min_rating": 4.0}),
        ("keyboard rated 4.5 or more", {"min_rating": 4.5}),
        ("well rated mouse", {"min_rating": 4.0}),
        ("best rated earbuds", {"order_by": "rating", "min_rating": None}),
        ("smartwatch at least 40% off", {"min_discount": 0.4}),
        ("sony headphones with a big discount", {"min_discount": 0.4, "order_by": "discount"}),
        ("cheapest hdmi cable", {"order_by": "price"}),
        ("most popular mouse", {"order_by": "popularity", "min_rating_count": 100}),
        ("phone with 1000+ reviews", {"min_rating_count": 1000}),
        ("red sony headphones", {"brands": ("sony",), "colours": ("red",)}),
        ("noise cancelling headphones", {"brands": ()}),
        ("Noise smartwatch", {"brands": ("noise",)}),
        ("case for redmi note", {"brands": ()}),  # names what it fits, not its maker
        ("WH-1000XM4", {"keywords": ("WH-1000XM4",)}),
        ("blue power bank 50000 mAh", {"keywords": (), "colours": ("blue",)}),
        ("usb c charger 20W 4K 8GB", {"keywords": (), "specs": ("20w", "4k", "8gb")}),
        ("tv over 50 inch", {"min_price": None, "specs": ("50inch",)}),
        ("power bank under 20000 mAh", {"max_price": None}),
        ("earbuds under 2k with over 1000 reviews", {"max_price": 2000, "min_rating_count": 1000}),
    ],
)
def test_constraints_are_read_from_the_question(question, expected):
    understood = understand(question, FACTS)
    for name, value in expected.items():
        assert getattr(understood, name) == value, (question, name, understood)


def test_what_remains_is_searched_and_every_constraint_is_a_chip():
    understood = understand("which boAt earphones under 1000 rupees have the best rating?", FACTS)
    assert understood.search_text == "boAt earphones"
    assert [c.label for c in understood.constraints()] == [
        "brand: boat", "≤ ₹1,000", "best rated first",
    ]  # fmt: skip
    assert understood.hard and not understand("usb c cable", FACTS).hard


def test_a_price_in_another_currency_is_reported_not_applied():
    understood = understand("headphones under $50", FACTS)
    assert understood.max_price is None
    assert understood.notes == ("“under $50” is not applied: prices in this catalog are in ₹",)
    usd = understand("headphones under $50", facts_for(currency="USD"))
    assert usd.max_price == 50 and usd.constraints()[0].label == "≤ $50"


def test_removed_chips_are_dropped_and_the_rest_kept():
    understood = understand("red sony headphones under ₹2000 with a big discount", FACTS)
    keys = {c.key for c in understood.constraints()}
    assert keys == {"brand:sony", "price", "min_discount", "colour:red", "order"}
    fewer = understood.without({"price", "brand:sony"})
    assert fewer.max_price is None and fewer.brands == () and fewer.min_discount == 0.4
    assert {c.key for c in fewer.constraints()} == {"min_discount", "colour:red", "order"}


def test_question_constraints_tighten_the_ui_filters():
    understood = understand("sony headphones under ₹2000 rated 4 stars", FACTS)
    merged = understood.filters(Filters(max_price=1500.0, min_rating=4.5, categories=("Audio",)))
    assert (merged.max_price, merged.min_rating, merged.brands) == (1500.0, 4.5, ("sony",))
    assert merged.categories == ("Audio",)


def test_brand_discount_and_keyword_filters_resolve_to_products():
    ids = Filters(brands=("sony",)).resolve(FACTS).product_ids
    assert [FACTS.names[i] for i in ids] == [
        "Sony WI-C100 Wireless Headphones", "Sony WH-CH510 Headphones", "Sony MDR-ZX110 (Red)",
    ]  # fmt: skip
    assert Filters(keywords=("wi c100",)).resolve(FACTS).product_ids == (3,)
    assert Filters(keywords=("WH-1000XM4",)).resolve(FACTS) is None  # nothing can pass
    assert Filters(min_discount=0.6).resolve(FACTS) is None  # every product is 50% off
    with pytest.raises(QueryError):
        Filters(min_discount=40).resolve(FACTS)  # a share, not a percentage
    with pytest.raises(QueryError):
        Filters(brands=("sony",)).where()  # never silently ignored


def test_identical_listings_share_a_group():
    facts = facts_for(["Sony WI-C100 Headphones", "Sony WI-C100  headphones", "Sony WI-C100 X"])
    assert facts.copies(0) == [0, 1] and facts.copies(2) == [2]
    assert listing_key("A-b", 5.0) == listing_key("a b", 5.0) != listing_key("a b", 6.0)


def test_a_follow_up_without_a_subject_continues_the_previous_question_visibly():
    first = understand("sony headphones", FACTS)
    follow = understand("under ₹2000 in red?", FACTS, previous=first)
    assert follow.follow_up_of == "sony headphones"
    assert follow.search_text == "sony headphones red"
    assert follow.brands == ("sony",) and follow.max_price == 2000
    # A question with its own subject starts afresh: no silent glueing.
    fresh = understand("keyboard", FACTS, previous=first)
    assert fresh.follow_up_of == "" and fresh.search_text == "keyboard" and fresh.brands == ()
    assert understand("and a keyboard?", FACTS, previous=first).search_text == "keyboard"


def test_an_llm_proposal_fills_gaps_and_is_validated():
    understood = understand("a nice pair of earphones, ideally a bargain", FACTS)
    assert not understood.hard
    with FakeLLM() as llm:
        config = LLMConfig("openai/test-model", llm.base_url, "sk-x", 10)
        llm.script.reply = json.dumps(
            {"max_price": 800, "brands": ["boAt", "Apple"], "order_by": "price", "colours": []}
        )
        proposed = propose_with_llm(understood.question, understood, config, FACTS)
        sent = llm.script.requests[0]
        assert sent["response_format"] == {"type": "json_object"}
        # Apple is not a brand of this catalog: dropped; the rest is applied and marked.
        assert proposed.max_price == 800 and proposed.brands == ("boat",)
        assert {c.key: c.source for c in proposed.constraints()} == {
            "brand:boat": "llm", "price": "llm", "order": "llm",
        }  # fmt: skip
        llm.script.reply = json.dumps({"min_rating": 9, "max_price": -5})  # out of range
        assert propose_with_llm(understood.question, understood, config, FACTS) == understood
        llm.script.reply = "I think you want cheap earphones"  # not JSON
        assert propose_with_llm(understood.question, understood, config, FACTS) == understood
        # The parser's reading is never overridden.
        parsed = understand("boAt earphones under ₹500", FACTS)
        llm.script.reply = json.dumps({"max_price": 5000, "brands": ["sony"]})
        kept = propose_with_llm(parsed.question, parsed, config, FACTS)
        assert kept.max_price == 500 and kept.brands == ("boat",)


def test_an_llm_proposes_exclusions_validated_like_the_parser():
    understood = understand("earphones, anything but the usual brand", FACTS)
    with FakeLLM() as llm:
        config = LLMConfig("openai/test-model", llm.base_url, "sk-x", 10)
        llm.script.reply = json.dumps(
            {
                "brands": ["sony"],
                "excluded_brands": ["Sony", "Apple"],
                "excluded_colours": ["red", "sparkly"],
            }
        )
        proposed = propose_with_llm(understood.question, understood, config, FACTS)
    # only the catalog's brands and known colours; a brand excluded is never also wanted
    assert proposed.excluded_brands == ("sony",) and proposed.excluded_words == ("red",)
    assert proposed.brands == ()
    assert {c.key: c.source for c in proposed.constraints()} == {
        "not:sony": "llm",
        "not:red": "llm",
    }


@pytest.mark.parametrize(
    ("question", "brands", "excluded_brands", "excluded_words", "text"),
    [
        ("headphones not sony", (), ("sony",), (), "headphones"),
        ("bluetooth earphones without boAt under 2000", (), ("boat",), (), "bluetooth earphones"),
        ("non-sony headphones", (), ("sony",), (), "headphones"),
        ("headphones except red or black", (), (), ("red", "black"), "headphones"),
        ("earphones not wireless", (), (), ("wireless",), "earphones"),
        ("boAt earphones with no mic", ("boat",), (), ("mic",), "boAt earphones"),
        ("non-stick pan", (), (), (), "non-stick pan"),  # "non-" negates brands and colours only
        ("earphones no more than ₹500", (), (), (), "earphones"),  # a price, not an exclusion
        ("sony headphones not boat or redmi", ("sony",), ("boat", "redmi"), (), "sony headphones"),
        # an accessory that comes with the product leaves its brand the maker
        ("boAt earbuds with charging case", ("boat",), (), (), "boAt earbuds charging case"),
    ],
)
def test_negations_exclude_instead_of_asking(
    question, brands, excluded_brands, excluded_words, text
):
    understood = understand(question, FACTS)
    assert understood.brands == brands
    assert understood.excluded_brands == excluded_brands
    assert understood.excluded_words == excluded_words
    assert understood.search_text == text
    dropped = understood.without({f"not:{x}" for x in excluded_brands + excluded_words})
    assert not dropped.excluded_brands and not dropped.excluded_words


def test_understanding_is_json_ready():
    data = understand("boAt earphones under 1k", FACTS).as_dict()
    assert json.loads(json.dumps(data))["constraints"][0] == {
        "key": "brand:boat", "label": "brand: boat", "source": "parser",
    }  # fmt: skip
    assert isinstance(understand("x"), Understanding)


def test_the_shipped_samples_brands_include_sony_though_half_its_sony_names_are_accessories():
    from core.catalog.parse import read_catalog
    from tests.conftest import SAMPLE

    names = [p.name for p in read_catalog(SAMPLE).products]
    vocabulary = brand_vocabulary(names)
    assert {"sony", "logitech", "netgear", "canon"} <= vocabulary
    assert product_brand("Neewer TT560 Flash Speedlite for Canon Sony Nikon", vocabulary) == ""


def test_misspelt_words_are_corrected_from_the_catalog_and_can_be_searched_as_typed():
    understood = understand("wirless headphnes not sony", FACTS)
    assert understood.corrected == "wireless headphones not sony"
    assert understood.corrections == (("wirless", "wireless"), ("headphnes", "headphones"))
    assert understood.excluded_brands == ("sony",) and understood.question.startswith("wirless")
    # English words the catalog never uses, brands and short words stay as typed
    for question in ("earphones for travel", "boAt earphones", "mic earphones"):
        assert understand(question, FACTS).corrected == ""
    assert understand("wirless headphnes", FACTS, correct=False).search_text == "wirless headphnes"
