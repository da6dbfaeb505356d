"""Region names on the Embedding map: distinct words, and labels that never overlap."""

from __future__ import annotations

import numpy as np

from core.analysis.clusters import ClusterLabel, map_regions, placed_labels


def test_a_region_is_not_named_by_one_word_and_its_prefix():
    rng = np.random.default_rng(0)
    left = rng.normal((0, 0), 0.1, size=(20, 2))
    right = rng.normal((5, 0), 0.1, size=(20, 2))
    models = ["Juke", "Fame", "Sound", "Beat", "Wave"]
    names = [f"Zebronics Zeb-{models[i % 5]} speaker" for i in range(20)]
    names += [f"Logitech M{i} wireless mouse" for i in range(20)]
    regions = map_regions(np.vstack([left, right]), names, clusters=2)
    zebronics = next(r.label for r in regions.labels if "zeb" in r.label)
    assert set(zebronics.split(" · ")) == {"zebronics", "speaker"}  # not "speaker · zeb"


def test_overlapping_labels_are_dropped_smaller_regions_first():
    labels = [
        ClusterLabel(0.0, 0.0, "headphones · headset", 50),
        ClusterLabel(0.05, 0.0, "earbuds · wireless", 10),  # on top of the first
        ClusterLabel(0.0, 0.5, "cable · cord", 20),  # well below: kept
    ]
    placed = placed_labels(labels, x_span=1.0, y_span=1.0)
    assert [p.label for p in placed] == ["headphones · headset", "cable · cord"]
    # the same labels on a map half as wide collide more (side by side)
    wide = placed_labels([labels[0], ClusterLabel(0.3, 0.0, "mouse · logitech", 5)], 1.0, 1.0)
    narrow = placed_labels(
        [labels[0], ClusterLabel(0.3, 0.0, "mouse · logitech", 5)], 1.0, 1.0, char_width=0.02
    )
    assert len(wide) == 2 and len(narrow) == 1
