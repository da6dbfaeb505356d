"""Labels for the regions of a map: k-means on the map's coordinates, each cluster named by
the words its product names use more than the rest of the catalog does (class-based
TF-IDF), so a region reads "earbuds · wireless" instead of "cluster 7"."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WORD = r"(?u)\b[a-zA-Z][a-zA-Z]{2,}\b"  # words of 3+ letters: no sizes, models or units
MIN_CLUSTER = 10  # points; fewer clusters than points / MIN_CLUSTER are never made


@dataclass(frozen=True)
class ClusterLabel:
    x: float
    y: float
    label: str
    size: int


@dataclass(frozen=True)
class Regions:
    assignment: np.ndarray  # each point's region (an index into labels)
    labels: list[ClusterLabel]

    def point_labels(self) -> list[str]:
        """Each point's region name, for colouring the map by region."""
        return [self.labels[i].label for i in self.assignment]


def map_regions(
    coords: np.ndarray, names: list[str], clusters: int = 12, words: int = 2, seed: int = 42
) -> Regions | None:
    """k-means regions of the 2-D map, each labelled and placed at its median point; None
    when there are too few points (or no words) to name regions."""
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import CountVectorizer

    k = min(clusters, len(coords) // MIN_CLUSTER)
    if k < 2:
        return None
    points = np.asarray(coords, dtype=np.float64)[:, :2]
    assignment = KMeans(k, n_init=4, random_state=seed).fit_predict(points)
    vectorizer = CountVectorizer(token_pattern=WORD, stop_words="english", lowercase=True)
    try:
        counts = vectorizer.fit_transform([name or "" for name in names])
    except ValueError:  # no words at all
        return None
    vocabulary = vectorizer.get_feature_names_out()
    per_cluster = np.vstack(
        [np.asarray(counts[assignment == c].sum(axis=0)).ravel() for c in range(k)]
    ).astype(np.float64)
    term_frequency = per_cluster / np.maximum(per_cluster.sum(axis=1, keepdims=True), 1)
    average_words = per_cluster.sum() / k
    rarity = np.log1p(average_words / np.maximum(per_cluster.sum(axis=0), 1))
    scores = term_frequency * rarity
    labels = []
    for c in range(k):
        best = _distinct(
            [vocabulary[i] for i in np.argsort(-scores[c])[: words * 4] if scores[c, i] > 0],
            words,
        )
        members = points[assignment == c]
        x, y = np.median(members, axis=0)
        label = " · ".join(best) or f"region {c + 1}"
        labels.append(ClusterLabel(float(x), float(y), label, len(members)))
    return Regions(assignment, labels)


def _distinct(ranked: list[str], count: int) -> list[str]:
    """The first `count` words, one of each prefix family ("zebronics · zeb" says one
    thing twice): the fuller word stands for both, in the place the first one took."""
    kept: list[str] = []
    for word in ranked:
        shorter = next((i for i, k in enumerate(kept) if word.startswith(k)), None)
        if shorter is not None:
            kept[shorter] = word
        elif len(kept) < count and not any(k.startswith(word) for k in kept):
            kept.append(word)
    return kept


def placed_labels(
    labels: list[ClusterLabel],
    x_span: float,
    y_span: float,
    char_width: float = 0.0075,
    line_height: float = 0.045,
) -> list[ClusterLabel]:
    """The labels that can be drawn without overlapping, larger regions first. A label's
    box is estimated from its length as shares of the map's width and height (12 px text
    on a ~1,000 × 600 px map)."""
    placed: list[ClusterLabel] = []
    for label in sorted(labels, key=lambda r: -r.size):
        half_width = len(label.label) * char_width * x_span / 2
        half_height = line_height * y_span / 2
        if all(
            abs(label.x - other.x) > half_width + len(other.label) * char_width * x_span / 2
            or abs(label.y - other.y) > 2 * half_height
            for other in placed
        ):
            placed.append(label)
    return placed
