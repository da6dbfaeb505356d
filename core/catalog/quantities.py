"""Quantities a shopper asks for and a product name states, compared as numbers.

"3 kg dog food" asks for 3 kg; "Drools … Dry Dog Food, 3kg" states it, and so does
"3000 g". Units are read in any spelling a catalog uses ("253 Litres", "1.5 Ton", "55
inches", "64 Count", "Pack of 64") and reduced to one canonical unit with a factor, so a
question and a name compare however each writes it. Clothing and shoe sizes ("size 32",
"UK 7", "XL") are quantities too: a name rarely states one (sizes are usually chosen on
the listing), and then the answer says so rather than claiming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# spelling → (canonical unit, factor to it)
_UNITS: dict[str, tuple[str, float]] = {
    **dict.fromkeys(("mah",), ("mah", 1.0)),
    **dict.fromkeys(("gb",), ("gb", 1.0)),
    **dict.fromkeys(("tb",), ("gb", 1000.0)),
    **dict.fromkeys(("w", "watt", "watts"), ("w", 1.0)),
    **dict.fromkeys(("hz",), ("hz", 1.0)),
    **dict.fromkeys(("inch", "inches", "in", '"', "″"), ("inch", 1.0)),
    **dict.fromkeys(("mp",), ("mp", 1.0)),
    **dict.fromkeys(("k",), ("k", 1.0)),  # 4K
    **dict.fromkeys(("l", "ltr", "ltrs", "litre", "litres", "liter", "liters", "lit"),
                    ("ml", 1000.0)),
    **dict.fromkeys(("ml", "millilitre", "millilitres", "milliliter", "milliliters"), ("ml", 1.0)),
    **dict.fromkeys(("kg", "kgs", "kilo", "kilos", "kilogram", "kilograms"), ("g", 1000.0)),
    **dict.fromkeys(("g", "gm", "gms", "gram", "grams", "gr"), ("g", 1.0)),
    **dict.fromkeys(("ton", "tons", "tonne", "tonnes"), ("ton", 1.0)),
    **dict.fromkeys(("cm", "cms"), ("mm", 10.0)),
    **dict.fromkeys(("mm",), ("mm", 1.0)),
    **dict.fromkeys(("m", "meter", "meters", "metre", "metres", "mtr", "mtrs"), ("mm", 1000.0)),
    **dict.fromkeys(("pcs", "pc", "pieces", "piece", "count", "ct", "pack", "packs"),
                    ("count", 1.0)),
}  # fmt: skip
# Units a question never means bare ("2 in 1"); a name's are read all the same.
_LOOSE = frozenset({"in", "ct", "gr", "lit"})
_NUMBER = r"(\d+(?:[.,]\d+)?)"


def _unit_pattern(strict: bool) -> str:
    names = sorted((u for u in _UNITS if not (strict and u in _LOOSE)), key=len, reverse=True)
    return "|".join(re.escape(u) for u in names)


# "8GB RAM", "128 GB storage": the memory word goes with the quantity, not the kind.
_IN_QUESTION = re.compile(
    rf"(?<![\w.]){_NUMBER}\s?({_unit_pattern(True)})(?![\w])(?:\s(?:ram|rom|storage|memory))?",
    re.I,
)
_IN_NAME = re.compile(rf"(?<![\w.]){_NUMBER}\s?-?\s?({_unit_pattern(False)})(?![a-z])", re.I)
_PACK_OF = re.compile(r"\b(?:pack|set|box)\s+of\s+(\d+)\b", re.I)

_LETTER_SIZES = {
    "xs": "xs", "s": "s", "m": "m", "l": "l", "xl": "xl", "xxl": "xxl", "2xl": "xxl",
    "xxxl": "xxxl", "3xl": "xxxl", "small": "s", "medium": "m", "large": "l",
    "extra small": "xs", "extra large": "xl",
}  # fmt: skip
_SIZE_ASKED = re.compile(
    r"\b(?:size\s*(?:uk\s*|us\s*|eu\s*)?(\d+(?:\.5)?|x{0,3}[sml]|[23]xl|small|medium|large)"
    r"|(?:uk|us|eu)\s*(\d+(?:\.5)?)"
    r"|(?:in\s+)?(extra small|extra large|x{1,3}l|[23]xl|xs))\b",
    re.I,
)


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str  # canonical: "g", "ml", "gb", "inch", "count", "size", …

    @property
    def label(self) -> str:
        """How a chip shows it: "3kg", "253l", "size 32"."""
        for spelling, unit, factor in _LABELS:
            if unit == self.unit and self.value >= factor and (self.value / factor) % 1 < 1e-9:
                return f"{_number(self.value / factor)}{spelling}"
        return f"{_number(self.value)}{self.unit}"


# Preferred spellings for labels, largest factor first.
_LABELS = [("kg", "g", 1000.0), ("g", "g", 1.0), ("l", "ml", 1000.0), ("ml", "ml", 1.0),
           ("tb", "gb", 1000.0), ("gb", "gb", 1.0), ("m", "mm", 1000.0), ("cm", "mm", 10.0),
           ("mm", "mm", 1.0),
           ("pcs", "count", 1.0)]  # fmt: skip


@dataclass(frozen=True)
class Size:
    """A clothing or shoe size: "32", "7", "xl"."""

    value: str

    @property
    def label(self) -> str:
        return f"size {self.value}"


def _number(value: float) -> str:
    return f"{value:g}"


def _float(text: str) -> float:
    return float(text.replace(",", "."))


def _quantity(number: str, unit: str) -> Quantity | None:
    canonical = _UNITS.get(unit.lower().strip())
    if canonical is None:
        return None
    name, factor = canonical
    return Quantity(round(_float(number) * factor, 6), name)


def asked_quantities(text: str) -> tuple[Quantity | Size, ...]:
    """The quantities and sizes a question asks for, in order, each once."""
    found: list[Quantity | Size] = []
    sizes = list(_SIZE_ASKED.finditer(text))
    for match in sizes:
        raw = next(g for g in match.groups() if g)
        found.append(Size(_LETTER_SIZES.get(raw.lower(), raw.lower())))
    sized = [m.span() for m in sizes]
    for match in _IN_QUESTION.finditer(text):
        if any(a <= match.start() < b for a, b in sized):
            continue
        quantity = _quantity(match.group(1), match.group(2))
        if quantity is not None:
            found.append(quantity)
    return tuple(dict.fromkeys(found))


def asked_spans(text: str) -> list[tuple[int, int]]:
    """Where `asked_quantities` found each quantity or size in `text`."""
    spans = [m.span() for m in _SIZE_ASKED.finditer(text)]
    spans += [m.span() for m in _IN_QUESTION.finditer(text) if _quantity(m.group(1), m.group(2))]
    return sorted(spans)


def spec_stated(name: str, spec: str) -> bool:
    """Whether a name states a spec label of `asked_quantities` ("3kg", "size 32")."""
    asked = asked_quantities(spec)
    return bool(asked) and states(name, asked[0])


def stated_quantities(name: str) -> frozenset[Quantity]:
    """Every quantity a product name states ("3kg" and "Pack of 2" alike)."""
    found = {_quantity(n, u) for n, u in _IN_NAME.findall(name or "")}
    found |= {Quantity(float(n), "count") for n in _PACK_OF.findall(name or "")}
    return frozenset(q for q in found if q is not None)


def stated_sizes(name: str) -> frozenset[str]:
    """The sizes a name states: "Size 8", "UK 7", "(XL)", "Small (S)"."""
    text = name or ""
    found = {
        g.lower() for g in re.findall(r"\b(?:size|uk|us|eu)\s*[-:]?\s*(\d+(?:\.5)?)\b", text, re.I)
    }
    found |= {
        _LETTER_SIZES[g.lower()]
        for g in re.findall(
            r"\b(?:size\s*[-:]?\s*)(x{0,3}[sml]|[23]xl|small|medium|large)\b", text, re.I
        )
    }
    found |= {_LETTER_SIZES[g.lower()] for g in re.findall(r"\((x{0,3}[sml]|[23]xl)\)", text, re.I)}
    found |= {_LETTER_SIZES[g.lower()] for g in re.findall(r"\b(x{1,3}l|[23]xl|xs)\b", text, re.I)}
    return frozenset(found)  # fmt: skip


def states(name: str, asked: Quantity | Size) -> bool:
    """Whether a product name states the quantity or size asked for."""
    if isinstance(asked, Size):
        return asked.value in stated_sizes(name)
    return any(
        q.unit == asked.unit and abs(q.value - asked.value) <= 1e-6 * max(1.0, asked.value)
        for q in stated_quantities(name)
    )
