"""Question → constraints → products on a real store (LanceDB, packaged MiniLM)."""

from __future__ import annotations

import pytest
from PIL import Image

from core.lens import Lens
from core.retrieval.answer import answer
from core.retrieval.query import understand
from core.retrieval.search import search
from core.retrieval.shopping import retrieve
from core.store.filters import QueryError


@pytest.fixture(scope="module")
def lens(shop_catalog):
    return Lens(shop_catalog)


def ask(lens, question, previous=None):
    understood = understand(question, lens.facts("shop"), previous)
    result = retrieve(lens.searcher("shop"), understood, k=5)
    return result, answer(question, result, None)


def test_every_recommended_product_meets_the_stated_constraints(lens):
    result, reply = ask(lens, "which boAt earphones under 1000 rupees have the best rating?")
    assert result.hits and all(h.price <= 1000 for h in result.hits)
    assert all(h.name.startswith("boAt") and not h.unmet for h in result.hits)
    # best rated first among the earphones that match the words about equally well
    assert result.text_hits[0].name.startswith("boAt Bassheads 225")
    shown = {h.product_id for h in result.hits}
    assert reply.recommended_ids and set(reply.recommended_ids) <= shown
    assert "₹1,399" not in reply.text and "₹1,999" not in reply.text


def test_identical_listings_appear_once_with_their_ids(lens):
    result, _ = ask(lens, "sony wireless headphones")
    names = [h.name for h in result.text_hits]
    assert len(names) == len(set(names))
    wi_c100 = next(h for h in result.text_hits if "WI-C100" in h.name)
    assert len(wi_c100.duplicate_ids) == 2 and wi_c100.product_id not in wi_c100.duplicate_ids


def test_nothing_matching_is_said_and_alternatives_are_marked(lens):
    result, reply = ask(lens, "WH-1000XM4")
    assert result.alternatives and all(h.alternative and h.unmet for h in result.hits)
    assert reply.text.startswith(
        'Nothing in the catalog that matches "WH-1000XM4" meets all of: name has “WH-1000XM4”'
    )
    assert reply.recommended_ids == []
    # The brand is the last constraint dropped: Sony under ₹500 does not exist, so the
    # alternatives are Sony headphones that break only the price.
    result, reply = ask(lens, "sony headphones under ₹500")
    assert result.alternatives and all(h.name.startswith("Sony") for h in result.hits)
    assert all(u.startswith("≤ ₹500") for h in result.hits for u in h.unmet)


def test_a_catalog_without_images_says_so_and_refuses_image_queries(lens):
    result, reply = ask(lens, "red headphones")
    assert not result.image_hits and not result.catalog_has_images
    assert any("no product images" in note for note in result.notes)
    assert "judged mainly by how it looks" not in reply.text
    assert "no product images" in reply.text
    with pytest.raises(QueryError, match="no product images"):
        search(lens.searcher("shop"), image=Image.new("RGB", (32, 32), "red"))


def test_each_hit_says_why_it_matched(lens):
    result, _ = ask(lens, "logitech wireless keyboard")
    top = result.text_hits[0]
    assert top.name.startswith("Logitech") and 0 < top.text_similarity <= 1
    assert top.image_similarity is None  # no image index: not measured, not zero
    assert set(top.keywords_matched) >= {"logitech", "keyboard"}


def test_a_follow_up_keeps_the_subject_and_adds_constraints(lens):
    first, _ = ask(lens, "sony headphones")
    result, reply = ask(lens, "under ₹1000?", first.understanding)
    assert result.understanding.follow_up_of == "sony headphones"
    assert [h.name[:18] for h in result.hits] == ["Sony MDR-ZX110A Wi"]
    assert reply.text.startswith('Continuing "sony headphones"')


def test_constrained_hits_that_do_not_match_the_words_give_way_to_alternatives():
    from core.retrieval.search import SearchResult
    from core.retrieval.shopping import WEAK_MATCH, _matches_words

    def result(similarity, has_image=False):
        hit = _hit_like(similarity)
        return SearchResult(query="q", has_image=has_image, text_hits=[hit] if hit else [])

    assert not _matches_words(result(WEAK_MATCH - 0.03))  # "sony headphones ≤ $50" → a DVD
    assert _matches_words(result(WEAK_MATCH + 0.1))
    assert not _matches_words(result(None))  # no hits at all
    assert _matches_words(SearchResult(query="", has_image=True, image_hits=[_hit_like(0.2)]))


def _hit_like(similarity):
    from core.retrieval.search import Hit

    if similarity is None:
        return None
    return Hit(source="text", rank=1, product_id=1, score=similarity,
               text_similarity=similarity)  # fmt: skip


@pytest.mark.parametrize(
    "question",
    ["headphones not sony", "headphones without Sony", "non-sony headphones",
     "headphones other than sony under ₹2000", "wired earphones except boAt"],
)  # fmt: skip
def test_a_brand_the_shopper_excludes_is_never_shown(lens, question):
    result, reply = ask(lens, question)
    excluded = result.understanding.excluded_brands
    assert excluded and not result.understanding.brands  # "not sony" is no wish for Sony
    assert any(c.label == f"not: {excluded[0]}" for c in result.understanding.constraints())
    assert result.hits and not any(excluded[0] in h.name.lower() for h in result.hits)
    assert all(not h.unmet for h in result.hits if not h.alternative)
    assert set(reply.recommended_ids) <= {h.product_id for h in result.hits}


def test_an_excluded_colour_or_kind_is_obeyed_and_never_relaxed(lens):
    result, _ = ask(lens, "earphones not wireless")
    assert result.understanding.excluded_words == ("wireless",)
    assert result.hits and not any("wireless" in h.name.lower() for h in result.hits)
    # even when nothing meets the other constraints, an exclusion stays
    result, _ = ask(lens, "sony headphones under ₹100 except black")
    assert result.alternatives and result.hits
    assert not any("black" in h.name.lower() for h in result.hits)


def test_a_maker_is_not_an_accessory_for_it(lens):
    facts = lens.facts("shop")
    remote = next(i for i, n in zip(facts.ids, facts.names, strict=True) if "Remote" in n)
    assert facts.brands[facts.position(remote)] != "lg"  # made by TA, for LG
    result, _ = ask(lens, "LG split AC under 40000 rupees")
    assert result.hits and all(h.name.startswith("LG") for h in result.hits)
    # naming an accessory beside the brand asks for one that fits it
    result, _ = ask(lens, "LG AC remote")
    assert result.understanding.fits == ("lg",) and not result.understanding.brands
    assert "Remote" in result.hits[0].name


def test_a_quantity_asked_for_is_checked_against_the_name_never_claimed(lens):
    result, reply = ask(lens, "usb flash drive 32gb")
    drives = [h for h in result.hits if "Flash Drive" in h.name]
    assert drives[0].name.startswith("SanDisk Cruzer Blade 32GB") and not drives[0].unmet
    other = next(h for h in drives if "64GB" in h.name)
    assert other.unmet == ["spec: 32gb (not in its name)"]
    assert other.product_id not in reply.recommended_ids
    # a quantity no product states: nothing is recommended, and the answer says why
    result, reply = ask(lens, "usb flash drive 48gb")
    assert result.hits and all("spec: 48gb (not in its name)" in h.unmet for h in result.hits)
    assert reply.recommended_ids == [] and "spec: 48gb (not in its name)" in reply.text


def test_cheapest_of_a_selection_is_strictly_the_cheapest(lens):
    from core.store.filters import Filters

    facts = lens.facts("shop")
    chosen = [int(i) for i, n in zip(facts.ids, facts.names, strict=True)
              if n.startswith(("Sony", "LG", "Logitech", "Ambrane", "Redmi", "TA"))]  # fmt: skip
    question = "which of these is the cheapest?"
    understood = understand(question, facts)
    result = retrieve(
        lens.searcher("shop"), understood, k=5, base=Filters(product_ids=tuple(chosen))
    )
    prices = [h.price for h in result.text_hits]
    cheapest = min(facts.price[facts.position(i)] for i in chosen)
    assert prices[0] == cheapest and prices == sorted(prices)


def test_variants_show_once_and_the_one_asked_for_leads(lens):
    result, reply = ask(lens, "sony bluetooth headphones")
    ch510 = [h for h in result.hits if "WH-CH510" in h.name]
    assert len(ch510) == 1  # three colours, one product
    shown = ch510[0].name.rsplit("(", 1)[1].rstrip(")")
    assert {v["label"] for v in ch510[0].variants} | {shown} == {"Red", "Black", "Blue"}
    if ch510[0].product_id in reply.recommended_ids:  # the answer names the other colours
        assert f"also in {ch510[0].also_in()}" in reply.text
    result, _ = ask(lens, "sony bluetooth headphones in blue")
    lead = next(h for h in result.hits if "WH-CH510" in h.name)
    assert lead.name.endswith("(Blue)") and {v["label"] for v in lead.variants} == {"Red", "Black"}


def test_the_kind_of_product_asked_for_is_what_the_results_are(lens):
    # Logitech makes no mouse under ₹1000 here, only a keyboard: that keyboard is no answer
    result, reply = ask(lens, "logitech mouse under ₹1000")
    assert result.alternatives and "Mouse" in result.hits[0].name
    assert result.hits[0].unmet == ["≤ ₹1,000 (₹1,295)"] and reply.recommended_ids == []
    # names that name the whole kind asked for come before closer-sounding others
    result, _ = ask(lens, "wired earphones")
    named = ["earphone" in h.name.lower() and "wired" in h.name.lower() for h in result.text_hits]
    assert named[0] and named == sorted(named, reverse=True)
