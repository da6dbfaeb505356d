"""Who a product is for: "for women", "men's", "for kids", "boys", as product names say it.

A shopper asking for women's running shoes is not served by "Unistar Men Running Shoes".
A name that names some audience but none the shopper accepts breaks the request; a name
that names none ("Campus Running Shoes") may suit anyone and passes, after those that
name the audience asked for.
"""

from __future__ import annotations

import re

# word → the audience it names
_WORDS = {
    **dict.fromkeys(("men", "man", "mens", "male", "gents", "gent", "gentlemen"), "men"),
    **dict.fromkeys(("women", "woman", "womens", "ladies", "lady", "female", "womans"), "women"),
    **dict.fromkeys(("boys", "boy"), "boys"),
    **dict.fromkeys(("girls", "girl"), "girls"),
    **dict.fromkeys(
        ("kids", "kid", "children", "child", "childrens", "baby", "babies", "infant", "infants",
         "toddler", "toddlers", "junior", "juniors"),
        "kids",
    ),
    "unisex": "unisex",
}  # fmt: skip
# An audience asked for → the audiences a name may name and still suit it.
ACCEPTS = {
    "men": frozenset({"men", "unisex"}),
    "women": frozenset({"women", "unisex"}),
    "boys": frozenset({"boys", "kids"}),
    "girls": frozenset({"girls", "kids"}),
    "kids": frozenset({"kids", "boys", "girls"}),
}
_LETTERS = re.compile(r"[a-z]+")


def audiences_named(text: str) -> frozenset[str]:
    """The audiences a text names ("Men's", "for Women & Girls")."""
    return frozenset(_WORDS[w] for w in _LETTERS.findall((text or "").lower()) if w in _WORDS)


def audience_words() -> frozenset[str]:
    return frozenset(_WORDS)


def asked_audiences(text: str) -> tuple[str, ...]:
    """Who a question is shopping for, in the order named ("unisex" asks for no one)."""
    found = [_WORDS[w] for w in _LETTERS.findall((text or "").lower()) if w in _WORDS]
    return tuple(dict.fromkeys(a for a in found if a in ACCEPTS))


def suits(name: str, asked: tuple[str, ...]) -> bool:
    """Whether a product name may suit one of the audiences asked for: it names one they
    accept, or it names no audience at all."""
    if not asked:
        return True
    named = audiences_named(name)
    return not named or any(named & ACCEPTS[a] for a in asked)


def names_audience(name: str, asked: tuple[str, ...]) -> bool:
    """Whether a name says it is for one of the audiences asked for."""
    named = audiences_named(name)
    return any(named & ACCEPTS[a] for a in asked)
