"""Listings that are one product to a shopper (colour, size, pack) and ones that are not."""

from __future__ import annotations

from core.catalog.variants import variant_groups, variant_label

STONE = "boAt Stone 620 Bluetooth Speaker with 12W RMS Stereo Sound, Multi-Compatibility Mode"


def test_colour_size_and_pack_variants_are_one_product_and_say_what_sets_them_apart():
    names = [
        f"{STONE}(Blue)", f"{STONE}(Red)", f"{STONE}s(G...",  # a cut-off name, a plural
        "Samsung Galaxy M13 (Aqua Green, 4GB, 64GB Storage) | 6000mAh Battery",
        "Samsung Galaxy M13 (Midnight Blue, 4GB, 64GB Storage) | 6000mAh Battery",
        "Duracell AA Batteries (Pack of 4)", "Duracell AA Batteries (Pack of 6)",
        "Men's Cotton T-Shirt (XL)", "Men's Cotton T-Shirt (M)",
    ]  # fmt: skip
    prices = [1999, 1999, 2099, 10999, 10999, 199, 249, 499, 499]
    groups = variant_groups(names, prices)
    assert len(set(groups[:3])) == len(set(groups[3:5])) == len(set(groups[5:7])) == 1
    assert len(set(groups[7:])) == 1 and len(set(groups)) == 4
    assert [variant_label(n) for n in names[:3]] == ["Blue", "Red", "G…"]
    assert variant_label(names[4]) == "Midnight Blue, 4GB, 64GB Storage"


def test_other_models_and_other_price_points_stay_apart():
    names = [
        # a long bracket holds the model name, not a colour
        "Infinity (JBL Fuze Pint, Wireless Ultra Portable Mini Speaker with Mic, Black)",
        "Infinity (JBL Glide 120, in Ear Wireless Earphones with Mic, Deep Bass, Black)",
        "SanDisk Cruzer Blade 32GB USB Flash Drive",  # a capacity is another product
        "SanDisk Cruzer Blade 64GB USB Flash Drive",
        "Duracell AA Batteries (Pack of 4)",  # same words, twice the price: another product
        "Duracell AA Batteries (Pack of 8)",
    ]
    groups = variant_groups(names, [899, 999, 299, 549, 199, 399])
    assert len(set(groups)) == 6


def test_facts_find_products_by_id_in_any_table_order_and_list_only_shared_groups():
    import numpy as np

    from core.catalog.facts import CatalogFacts

    ids = np.array([30, 10, 20, 40], dtype=np.int64)  # a scan may return batches unordered
    unknown = np.full(4, np.nan)
    facts = CatalogFacts(
        ids=ids, names=["a", "b", "c", "d"], compact_names=["a", "b", "c", "d"],
        brands=np.array(["", "", "", ""], dtype=object), price=unknown, rating=unknown,
        rating_count=unknown, discount=unknown, group=np.array([7, 7, 8, 9]), currency="",
        images_ok=0, vocabulary=frozenset(), variant=np.array([7, 7, 7, 9]),
    )  # fmt: skip
    found = [facts.position(i) for i in (30, 10, 20, 40, 25, 5, 99)]
    assert found == [0, 1, 2, 3, None, None, None]
    assert facts.copies(10) == [30, 10] and facts.copies(20) == [20] and facts.copies(99) == [99]
    assert facts.variants(20) == [30, 10] and facts.variants(40) == []
    assert set(facts._members) == {7}  # groups of one are not stored
