"""Words shoppers and catalogs use for the same kind of product.

"earbuds" and "earphones", "fridge" and "refrigerator", "tee" and "t-shirt": a question's
kind is met by a name using any word of its group. Groups are of kinds only (not features
or uses), each word singular; a kind outside every group is matched as written.
"""

from __future__ import annotations

_GROUPS = (
    "earphone earbud earpod in-ear neckband airdope",
    "headphone headset",
    "tv television",
    "phone smartphone mobile cellphone",
    "laptop notebook",
    "fridge refrigerator",
    "ac air-conditioner",
    "speaker soundbar",
    "cable cord wire",
    "charger adapter",
    "powerbank power-bank",
    "watch smartwatch",
    "t-shirt tshirt tee",
    "trouser pant",
    "sneaker shoe",
    "sandal slipper flip-flop chappal",
    "sofa couch",
    "suitcase trolley luggage",
    "bag backpack rucksack",
    "diaper nappy",
    "perfume fragrance",
    "sunglass shade goggle",
    "spectacle eyeglass",
    "handbag purse",
    "wallet purse",
    "mouse mice",
    "camera cam",
    "bottle flask",
    "pram stroller",
)
_GROUP_OF: dict[str, frozenset[str]] = {}
for _line in _GROUPS:
    _group = frozenset(_line.split())
    for _word in _group:  # a word in two groups ("purse") stands for both
        _GROUP_OF[_word] = _GROUP_OF.get(_word, frozenset()) | _group


def singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def kind_forms(word: str) -> frozenset[str]:
    """The words a name may use for the kind `word` names (singular forms)."""
    base = singular(word)
    return _GROUP_OF.get(base, frozenset({base}))
