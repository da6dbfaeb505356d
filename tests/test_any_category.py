"""Search beyond electronics, on a real store: who a product is for, sizes and units,
the kind asked for, "cheaper ones", makers by the catalog's evidence, and the spelling
and quantity parts underneath."""

from __future__ import annotations

import pytest

from core.catalog.quantities import Size, asked_quantities, spec_stated, stated_quantities
from core.catalog.variants import variant_key
from core.lens import Lens
from core.retrieval.answer import answer
from core.retrieval.query import understand
from core.retrieval.shopping import retrieve
from core.retrieval.spelling import Speller
from tests.conftest import write_shop_csv

# (name, rating, rating count, discount price, actual price), prices in ₹
WARDROBE = [
    ("Campus Women's Alexa Running Shoes", "4.2", "1,200", "₹883", "₹1,499"),
    ("Sparx Womens Running Shoes", "4.3", "900", "₹940", "₹1,299"),
    ("Unistar Men Running Shoes", "3.7", "400", "₹499", "₹999"),
    ("ASIAN Men's Wonder-13 Sports Running Shoes", "4.0", "2,000", "₹524", "₹999"),
    ("Bourge Running Shoes", "3.9", "300", "₹599", "₹1,199"),
    ("Levi's Men's 511 Slim Fit Jeans", "4.2", "5,000", "₹1,449", "₹2,999"),
    ("Ben Martin Men's Relaxed Fit Jeans", "3.6", "800", "₹599", "₹1,499"),
    ("Drools Chicken and Egg Puppy Dry Dog Food, 3kg", "4.0", "3,000", "₹594", "₹750"),
    ("Pedigree Adult Dry Dog Food, 3000 g Pack", "4.3", "9,000", "₹699", "₹800"),
    ("Pedigree Puppy Dry Dog Food, 1.2kg", "4.4", "7,000", "₹299", "₹350"),
    ("Safari Pentagon Trolley Bag, 55 cm Cabin Suitcase", "4.3", "600", "₹1,999", "₹5,000"),
    ("Safari Medium Trolley Bag, 65 cm Suitcase", "4.1", "300", "₹2,599", "₹6,000"),
    ("NIVIA Duffle Gym Bag for Men", "4.0", "900", "₹238", "₹500"),
    ("Bennett Briefcase Messenger Bag", "4.1", "200", "₹512", "₹1,500"),
    ("Yamaha F280 Acoustic Guitar, Tobacco Brown Sunburst", "4.3", "4,000", "₹7,999", "₹9,000"),
    ("D'Addario EZ920 Medium Light Acoustic Guitar Strings", "4.4", "3,000", "₹499", "₹650"),
    ("Artist Wooden Acoustic Guitar Stand", "4.1", "200", "₹749", "₹999"),
    ("Lenovo Casual Laptop Backpack B210 15.6-inch", "4.2", "10,000", "₹599", "₹1,500"),
    ("Lenovo 300 Wireless Compact Mouse", "4.1", "8,000", "₹449", "₹999"),
    ("Wesley Laptop Bag 15.6 inch Water Resistant", "4.3", "3,000", "₹565", "₹1,999"),
    ("LOHAYA Remote Compatible with Lenovo Smart TV", "3.9", "100", "₹284", "₹599"),
    ("STANLEY 3 Meter Plastic Measuring Tape", "4.3", "5,000", "₹85", "₹120"),
    ("STANLEY 5 Meter Plastic Measuring Tape (5m)", "4.5", "4,000", "₹109", "₹150"),
    ("FREEMANS Measuring Tape 30M", "4.6", "300", "₹500", "₹700"),
    ("Rushwak Body Measuring Tape Retractable", "4.3", "900", "₹299", "₹400"),
]


@pytest.fixture(scope="module")
def lens(tiny_clip_dir, tmp_path_factory):
    from core.embed import embed_texts
    from core.ingest import ingest
    from core.models.text import load_text_model
    from core.settings import Settings
    from core.store import Store

    base = tmp_path_factory.mktemp("wardrobe")
    settings = Settings(data_dir=base, clip_model=str(tiny_clip_dir))
    store = Store(settings.db_path)
    ingest(store, write_shop_csv(base / "wardrobe.csv", rows=WARDROBE), catalog="wardrobe")
    embed_texts(store, "wardrobe", load_text_model(settings))
    return Lens(settings)


def ask(lens, question, previous=None, shown=()):
    understood = understand(question, lens.facts("wardrobe"), previous, shown_prices=shown)
    result = retrieve(lens.searcher("wardrobe"), understood, k=5)
    return result, answer(question, result, None)


def test_who_a_product_is_for_is_obeyed(lens):
    result, _ = ask(lens, "running shoes for women")
    assert result.understanding.audience == ("women",)
    assert any(c.label == "for: women" for c in result.understanding.constraints())
    names = [h.name for h in result.text_hits]
    assert names and not any("Men" in n.replace("Women", "") for n in names)
    # a name that names no one may suit anyone, after those that say "women"
    assert "Bourge Running Shoes" in names and names.index("Bourge Running Shoes") >= 2
    result, _ = ask(lens, "men's running shoes")
    assert result.hits and not any("Women" in h.name for h in result.hits)


def test_units_are_compared_as_quantities_and_sizes_never_claimed(lens):
    result, reply = ask(lens, "3 kg dog food")
    assert result.understanding.specs == ("3kg",)
    top = [h.name for h in result.text_hits[:2]]
    assert {"Drools Chicken and Egg Puppy Dry Dog Food, 3kg",
            "Pedigree Adult Dry Dog Food, 3000 g Pack"} == set(top)  # fmt: skip
    small = next(h for h in result.hits if "1.2kg" in h.name)
    assert small.unmet == ["spec: 3kg (not in its name)"]
    assert small.product_id not in reply.recommended_ids
    result, reply = ask(lens, "levi's jeans for men size 32")
    assert "spec: size 32 (not in its name)" in result.hits[0].unmet
    assert reply.recommended_ids == [] and "size 32" in reply.text


def test_the_kind_asked_for_is_the_product_not_what_it_is_an_accessory_of(lens):
    result, reply = ask(lens, "acoustic guitar under 1000 rupees")
    # strings and a stand "for acoustic guitars" are no acoustic guitar under ₹1000
    assert reply.recommended_ids == []
    assert result.alternatives and result.hits[0].name.startswith("Yamaha F280")
    result, _ = ask(lens, "trolley bag rated 4 stars and up")
    assert {h.name.split(",")[0] for h in result.text_hits[:2]} == {
        "Safari Pentagon Trolley Bag", "Safari Medium Trolley Bag"}  # fmt: skip


def test_cheaper_ones_are_cheaper_than_everything_shown(lens):
    first, _ = ask(lens, "measuring tape")
    shown = tuple(h.price for h in first.hits)
    result, _ = ask(lens, "cheaper ones", first.understanding, shown)
    understood = result.understanding
    assert understood.follow_up_of and understood.cheaper_than == min(shown)
    assert any(c.key == "cheaper" for c in understood.constraints())
    assert all(h.price < min(shown) for h in result.hits if not h.alternative)
    # removing the chip removes the ceiling
    assert understood.without({"cheaper"}).price_ceiling is None


def test_a_maker_of_the_accessory_asked_for_is_its_maker(lens):
    # Lenovo makes a laptop backpack here: "Lenovo laptop bag" asks for one made by Lenovo
    result, _ = ask(lens, "Lenovo laptop bag")
    assert result.understanding.brands == ("lenovo",) and not result.understanding.fits
    assert result.hits[0].name.startswith("Lenovo Casual Laptop Backpack")
    # but no Lenovo remote is made by Lenovo: a remote for Lenovo
    result, _ = ask(lens, "Lenovo TV remote")
    assert result.understanding.fits == ("lenovo",)


def test_spelling_mistakes_in_words_in_swaps_and_in_context():
    names = [["wireless", "mouse"]] * 60 + [["wireles", "mouse"]] * 3 + [["smart", "phone"]] * 30
    names += [["measuring", "tape"]] * 6 + [["water", "tap"]] * 2
    speller = Speller.from_names(names)
    assert speller.correct("phnoe") == "phone"  # a swap is one edit
    assert speller.correct("wireles") == "wireless"  # a typo a few names share too
    assert speller.correct("wireless") is None
    text, fixes = speller.correct_text("measuring tap")
    assert text == "measuring tape" and fixes == (("tap", "tape"),)
    assert speller.correct_text("water tap")[0] == "water tap"


@pytest.mark.parametrize(
    ("question", "labels"),
    [("3 kg dog food", ["3kg"]), ("253 L fridge", ["253l"]), ("1.5 ton split ac", ["1.5ton"]),
     ("Redmi 8GB RAM", ["8gb"]), ("1TB ssd", ["1tb"]), ("55 inch tv", ["55inch"]),
     ("5m measuring tape", ["5m"]), ("64 pcs diapers", ["64pcs"]), ("jeans size 32", ["size 32"]),
     ("shoes uk 7", ["size 7"]), ("t-shirt xl", ["size xl"]), ("2 in 1 laptop", [])],
)  # fmt: skip
def test_quantities_asked_for(question, labels):
    assert [q.label for q in asked_quantities(question)] == labels


def test_quantities_stated_in_names_in_any_unit():
    assert spec_stated("LG 253 Litres Frost Free Refrigerator", "253l")
    assert spec_stated("Pedigree Dog Food 3000 g", "3kg")
    assert spec_stated("Pampers Pants (L) 64 Count", "64pcs")
    assert spec_stated("Diapers, Pack of 64", "64pcs")
    assert spec_stated("Voltas 1.5 Ton 3 Star Split AC", "1.5ton")
    assert not spec_stated("Pedigree Dog Food 1.2kg", "3kg")
    assert spec_stated("Huggies Pants Extra Large (XL)", "size xl")
    assert stated_quantities("no numbers here") == frozenset()
    assert isinstance(asked_quantities("size 8")[0], Size)


def test_cut_off_names_agreeing_on_a_long_head_are_one_product():
    head = "boAt Wave Call Smart Watch, Smart Talk with Advanced Dedicated Bluetooth Calling Chip"
    assert variant_key(f"{head}, 1.69 HD Display with 550 NITS & 70%...") == variant_key(
        f"{head}, 1.69” HD Display with 550 NITS & 7..."
    )
    assert variant_key("JBL Go 2 Speaker") != variant_key("JBL Go 3 Speaker")
