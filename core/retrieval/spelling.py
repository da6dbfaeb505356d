"""Typo tolerance from the catalog's own words: "wirless mous" → "wireless mouse".

A word is corrected only when it is neither a common word of the catalog's product names
(names have typos too: "wireles" in a few names gives way to "wireless" in COMMONER times
as many) nor an English word (a whole word of the text model's WordPiece vocabulary:
"travel" and "shower" stay as typed even when no product name uses them), and a catalog
word lies within one edit (two for words of seven letters or more; a swap of two
neighbouring letters is one edit: "phnoe" → phone). Among candidates the nearest wins,
then the one more product names use. Matching is RapidFuzz's optimal-string-alignment
distance over the catalog's vocabulary (a few milliseconds per unknown word at 10k
products).

A real word can be a typo too: "measuring tap". A word the catalog never writes after
the word before it, one edit away from a word it writes there in at least CONTEXT names
("measuring tape" in 19), is corrected to that word.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from itertools import pairwise
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from core.catalog.words import words

if TYPE_CHECKING:
    from core.catalog.facts import CatalogFacts

MIN_LENGTH = 4  # shorter words are too often abbreviations ("mic", "tws", "oled")
COMMONER = 20  # ... corrected only to a word in at least this many times as many names
CONTEXT = 5  # names writing "measuring tape" before "tap" after "measuring" is a typo
KNOWN_SINGULAR = 20  # a plural of a word this many names use is not a typo
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


_SPELLERS: WeakKeyDictionary[Any, Speller] = WeakKeyDictionary()


_MAKING = threading.Lock()


def speller_of(facts: CatalogFacts) -> Speller:
    """The speller over a catalog's names, made once per `CatalogFacts`: a query that
    arrives while the warm-up makes it (17 s at a million names) waits for that one."""
    with _MAKING:
        speller = _SPELLERS.get(facts)
        if speller is None:
            speller = _SPELLERS[facts] = Speller.from_names(words(n) for n in facts.names)
    return speller


class Speller:
    def __init__(self, counts: Counter[str], pairs: Counter[tuple[str, str]] | None = None):
        self.counts = counts  # catalog word → how many product names use it
        self.pairs = pairs or Counter()  # (word, next word) → how many names write it
        self._choices = list(counts)
        self._after: dict[str, list[str]] = {}
        for first, second in self.pairs:
            self._after.setdefault(first, []).append(second)

    @classmethod
    def from_names(cls, names: Iterable[Iterable[str]]) -> Speller:
        """From each product name's words, in order."""
        counts: Counter[str] = Counter()
        pairs: Counter[tuple[str, str]] = Counter()
        for name in names:
            tokens = list(name)
            counts.update(set(tokens))
            pairs.update(set(pairwise(tokens)))
        return cls(counts, pairs)

    def correct(self, word: str) -> str | None:
        """The catalog word `word` was probably meant as, or None to leave it as typed."""
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        lowered = word.lower()
        singular = lowered[:-1] if lowered.endswith("s") else lowered
        known = self.counts.get(lowered, 0)
        if (
            len(lowered) < MIN_LENGTH
            or not lowered.isalpha()
            or {lowered, singular} & english_words()
            or (singular != lowered and self.counts.get(singular, 0) >= KNOWN_SINGULAR)
        ):
            return None
        found = process.extract(
            lowered, self._choices, scorer=OSA.distance,
            score_cutoff=max_edits(lowered), limit=20,
        )  # fmt: skip
        # A rare catalog word (a typo in a product name) gives way to a far commoner one.
        found = [m for m in found if m[0] != lowered and self.counts[m[0]] >= known * COMMONER]
        if not found:
            return None
        best = min(found, key=lambda match: (match[1], -self.counts[match[0]], match[0]))
        return best[0]

    def in_context(self, previous: str, word: str) -> str | None:
        """The word the catalog writes after `previous` that `word` (a real word the
        catalog never writes there) was probably meant as, or None."""
        from rapidfuzz.distance import OSA

        previous, lowered = previous.lower(), word.lower()
        if not lowered.isalpha() or len(lowered) < 3 or self.pairs.get((previous, lowered)):
            return None
        found = [
            (self.pairs[(previous, other)], other)
            for other in self._after.get(previous, ())
            if other.isalpha() and OSA.distance(lowered, other, score_cutoff=1) <= 1
            and self.pairs[(previous, other)] >= CONTEXT
        ]  # fmt: skip
        return max(found)[1] if found else None

    def correct_text(self, text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """`text` with its misspelt words replaced, and the (typed, corrected) pairs."""
        changes = []
        previous = ""

        def replace(match: re.Match[str]) -> str:
            nonlocal previous
            typed = match.group(0)
            corrected = self.correct(typed)
            if corrected is None and previous:
                corrected = self.in_context(previous, typed)
            previous = corrected or typed
            if corrected is None:
                return typed
            changes.append((typed, corrected))
            return corrected

        return _WORD.sub(replace, text), tuple(changes)
