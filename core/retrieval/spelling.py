"""Typo tolerance from the catalog's own words: "wirless mous" → "wireless mouse".

A word is corrected only when it is neither a word of the catalog's product names (product
names have typos too: one used by fewer than RARE names counts as unknown) nor an English
word (a whole word of the text model's WordPiece vocabulary: "travel" and "shower" stay as
typed even when no product name uses them), and a catalog word lies within one edit (two
for words of seven letters or more). Among candidates the nearest
wins, then the one more product names use. Matching is RapidFuzz's Levenshtein distance
over the catalog's vocabulary (a few milliseconds per unknown word at 10k products).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

MIN_LENGTH = 4  # shorter words are too often abbreviations ("mic", "tws", "oled")
RARE = 3  # a catalog word in fewer product names than this may be a typo itself
COMMONER = 20  # ... corrected only to a word in at least this many times as many names
_WORD = re.compile(r"(?<![\w-])[A-Za-z]+(?![\w-])")  # whole words, not parts of "WH-1000XM4"


def max_edits(word: str) -> int:
    return 1 if len(word) < 7 else 2


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole words of the packaged MiniLM's WordPiece vocabulary (empty without it)."""
    from core.models.sources import packaged_minilm_path

    path = packaged_minilm_path()
    if path is None or not (path / "vocab.txt").is_file():
        return frozenset()
    lines = (path / "vocab.txt").read_text(encoding="utf-8").split()
    return frozenset(w for w in lines if w.isalpha() and not w.startswith("["))


class Speller:
    def __init__(self, counts: Counter[str]) -> None:
        self.counts = counts  # catalog word → how many product names use it
        self._choices = list(counts)

    @classmethod
    def from_names(cls, names: Iterable[Iterable[str]]) -> Speller:
        """From each product name's set of words."""
        return cls(Counter(w for name in names for w in set(name)))

    def correct(self, word: str) -> str | None:
        """The catalog word `word` was probably meant as, or None to leave it as typed."""
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        lowered = word.lower()
        singular = lowered[:-1] if lowered.endswith("s") else lowered
        known = self.counts.get(lowered, 0)
        if (
            len(lowered) < MIN_LENGTH
            or not lowered.isalpha()
            or known >= RARE
            or {lowered, singular} & english_words()
            or (singular != lowered and self.counts.get(singular, 0) >= RARE)
        ):
            return None
        found = process.extract(
            lowered, self._choices, scorer=Levenshtein.distance,
            score_cutoff=max_edits(lowered), limit=20,
        )  # fmt: skip
        # A rare catalog word (a typo in a product name) gives way to a far commoner one.
        found = [m for m in found if m[0] != lowered and self.counts[m[0]] >= known * COMMONER]
        if not found:
            return None
        best = min(found, key=lambda match: (match[1], -self.counts[match[0]], match[0]))
        return best[0]

    def correct_text(self, text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """`text` with its misspelt words replaced, and the (typed, corrected) pairs."""
        changes = []

        def replace(match: re.Match[str]) -> str:
            corrected = self.correct(match.group(0))
            if corrected is None:
                return match.group(0)
            changes.append((match.group(0), corrected))
            return corrected

        return _WORD.sub(replace, text), tuple(changes)
