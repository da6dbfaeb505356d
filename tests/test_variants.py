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
