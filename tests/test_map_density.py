"""A large map's picture of every point, its sampled markers, and box/lasso selection among
all points (pages/map_density.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.analysis.projection import MapParams, Projection
from pages.map_density import (
    Extent,
    density_image,
    drawn_rows,
    is_large,
    large_selection,
)


def _projection(n: int = 20_000, seed: int = 0) -> Projection:
    coords = np.random.default_rng(seed).uniform(-10, 10, size=(n, 2)).astype(np.float32)
    return Projection(list(range(1000, 1000 + n)), coords, MapParams())


def test_each_pixel_shows_its_points_colour_and_more_points_are_more_opaque():
    left = np.column_stack([np.full(90, 0.2), np.full(90, 0.5)])
    right = np.column_stack([np.full(10, 0.8), np.full(10, 0.5)])
    coords = np.vstack([left, right])
    colour = pd.Series(["red"] * 90 + ["blue"] * 10, dtype="category")
    image = np.asarray(density_image(coords, colour, {"red": "#ff0000", "blue": "#0000ff"},
                                     Extent(0, 1, 0, 1), shape=(10, 10)))  # fmt: skip
    assert image.shape == (10, 10, 4)
    red, blue = image[5, 2], image[5, 8]
    assert tuple(red[:3]) == (255, 0, 0) and tuple(blue[:3]) == (0, 0, 255)
    assert red[3] > blue[3] > 0  # 90 points beat 10
    assert image[0, 0, 3] == 0  # nothing there: transparent

    ratings = pd.Series([1.0] * 90 + [5.0] * 10)
    scaled = np.asarray(density_image(coords, ratings, {}, Extent(0, 1, 0, 1), shape=(10, 10)))
    assert not np.array_equal(scaled[5, 2, :3], scaled[5, 8, :3])  # low and high differ


def test_a_box_or_lasso_selects_every_point_inside_not_only_the_markers():
    projection = _projection()
    box = {"selection": {"points": [], "box": [{"x": [2.0, -3.0], "y": [-1.0, 4.0]}],
                         "lasso": []}}  # fmt: skip
    chosen, extent = large_selection(box, projection)
    x, y = projection.coords[:, 0], projection.coords[:, 1]
    truth = np.flatnonzero((x >= -3) & (x <= 2) & (y >= -1) & (y <= 4)) + 1000
    assert sorted(chosen) == truth.tolist() and extent == Extent(-3.0, 2.0, -1.0, 4.0)
    assert len(chosen) > 1000  # far more than a sample of markers would hold

    triangle = {"selection": {"box": [], "lasso": [{"x": [0, 10, 0], "y": [0, 0, 10]}]}}
    chosen, extent = large_selection(triangle, projection)
    truth = np.flatnonzero((x > 0) & (y > 0) & (x + y < 10)) + 1000
    assert extent is None and abs(len(chosen) - len(truth)) <= 5  # edges aside
    assert set(chosen) <= set(truth) | set(np.flatnonzero(np.abs(x + y - 10) < 0.01) + 1000)

    assert large_selection({"selection": {"points": [{"x": 1}]}}, projection) == ([], None)


def test_markers_are_a_seeded_sample_inside_the_view_plus_what_was_found():
    projection = _projection()
    assert is_large(projection, 5_000) and not is_large(projection, 50_000)
    whole = Extent.around(projection.coords)
    rows = drawn_rows(projection, whole, [1000 + 7, 1000 + 19_999], 5_000, 100)
    assert len(rows) <= 5_002 and {7, 19_999} <= set(rows.tolist())
    again = drawn_rows(projection, whole, [1000 + 7, 1000 + 19_999], 5_000, 100)
    assert np.array_equal(rows, again)
    zoomed = Extent(0, 1, 0, 1)
    inside = drawn_rows(projection, zoomed, [], 5_000, 100)
    assert len(inside) and zoomed.holds(projection.coords[inside]).all()
    assert len(inside) == zoomed.holds(projection.coords).sum()  # few enough: all drawn


def test_a_large_selection_adds_only_a_sample_of_itself_to_the_markers():
    projection = _projection()
    whole = Extent.around(projection.coords)
    everything = [1000 + i for i in range(len(projection.ids))]
    rows = drawn_rows(projection, whole, everything, 5_000, 100)
    assert len(rows) <= 5_100  # not 20,000: the picture shows every point
    zoomed = Extent(0, 1, 0, 1)
    outside = int(np.flatnonzero(~zoomed.holds(projection.coords))[0])
    rows = drawn_rows(projection, zoomed, [1000 + outside], 5_000, 100)
    assert outside not in rows.tolist()  # a zoomed view draws only what it shows


def test_a_few_highlighted_points_are_ringed_and_a_box_full_of_them_is_only_counted():
    import numpy as np
    import pandas as pd

    from pages.map_figure import RINGS_UP_TO, MapPoints, map_figure

    n = RINGS_UP_TO + 500
    coords = np.random.default_rng(0).normal(size=(n, 2))
    points = MapPoints(coords, list(range(n)), ["p"] * n, ["$1"] * n,
                       pd.Series(["a"] * n), "class")  # fmt: skip
    few = np.zeros(n, dtype=bool)
    few[:10] = True
    ring = map_figure(points, "t", few).data[-1]
    assert ring.name == "highlighted (10)" and len(ring.x) == 10
    ring = map_figure(points, "t", np.ones(n, dtype=bool)).data[-1]
    assert ring.name == f"highlighted ({n:,}: too many to ring)" and len(ring.x) == 0
    # a sample of a large map: the legend counts every highlighted point, not the drawn ones
    ring = map_figure(points, "t", few, highlighted_count=250_000).data[-1]
    assert ring.name == "highlighted (250,000: too many to ring)" and len(ring.x) == 0
