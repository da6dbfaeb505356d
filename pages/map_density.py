"""A large map's every point, as one picture: counts per pixel, coloured by what the map is
coloured by, drawn under a sample of hoverable points.

A browser draws and hovers some tens of thousands of WebGL markers smoothly; a million
would be megabytes of JSON and a frozen tab (voxel51/fiftyone#1740). Binning on the
server is one `numpy.bincount` over the points (a fraction of a second for a million),
and the browser gets a PNG of a few hundred kilobytes. (datashader does the same with
dask and xarray behind it; for one 2-D count per class NumPy is the whole job.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

PIXELS = (450, 800)  # rows, columns: about the map's size on a wide screen
MIN_ALPHA = 0.35  # a pixel with one product is still visible


@dataclass(frozen=True)
class Extent:
    x0: float
    x1: float
    y0: float
    y1: float

    @classmethod
    def around(cls, coords: np.ndarray, margin: float = 0.02) -> Extent:
        if not len(coords):
            return cls(0.0, 1.0, 0.0, 1.0)
        low, high = coords[:, :2].min(axis=0), coords[:, :2].max(axis=0)
        pad = np.maximum(high - low, 1e-9) * margin
        return cls(float(low[0] - pad[0]), float(high[0] + pad[0]),
                   float(low[1] - pad[1]), float(high[1] + pad[1]))  # fmt: skip

    def holds(self, coords: np.ndarray) -> np.ndarray:
        x, y = coords[:, 0], coords[:, 1]
        return (x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1)


def _cells(coords: np.ndarray, extent: Extent, shape: tuple[int, int]) -> np.ndarray:
    """Each point's pixel (row-major, top row first); -1 outside the extent."""
    rows, cols = shape
    col = ((coords[:, 0] - extent.x0) / (extent.x1 - extent.x0) * cols).astype(np.int64)
    row = ((extent.y1 - coords[:, 1]) / (extent.y1 - extent.y0) * rows).astype(np.int64)
    inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    return np.where(inside, row * cols + col, -1)


def _rgb(colour: str) -> np.ndarray:
    """'#1f77b4' or 'rgb(31, 119, 180)' as three floats 0–255."""
    if colour.startswith("#"):
        return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)
    return np.array([float(v) for v in colour[colour.index("(") + 1 : -1].split(",")[:3]])


def density_image(
    coords: np.ndarray,
    colour: pd.Series,
    palette: dict[str, str],
    extent: Extent,
    colorscale: str = "Viridis",
    shape: tuple[int, int] = PIXELS,
):
    """An RGBA picture of every point in `extent`: a category's colour (mixed by count
    where categories share a pixel), or for numbers the colour scale at the pixel's mean;
    more points, more opaque (on a log scale)."""
    from PIL import Image

    cells = _cells(coords, extent, shape)
    inside = cells >= 0
    cells = cells[inside]
    size = shape[0] * shape[1]
    counts = np.bincount(cells, minlength=size).astype(np.float64)
    if pd.api.types.is_numeric_dtype(colour) and not isinstance(colour.dtype, pd.CategoricalDtype):
        rgb = _numeric_colours(colour.to_numpy(dtype=float)[inside], cells, counts, colorscale)
    else:
        # Each point carries its category's colour; a pixel shows their mean: three
        # weighted counts over the points, whatever the number of categories.
        if isinstance(colour.dtype, pd.CategoricalDtype):  # codes already made: no strings
            values = [str(c) for c in colour.cat.categories]
            codes = colour.cat.codes.to_numpy()[inside]
        else:
            values, codes = np.unique(colour.astype(str).to_numpy()[inside], return_inverse=True)
        grey = np.array([160.0, 160.0, 160.0])  # no category (code -1)
        table = np.array([*(_rgb(palette[v]) if v in palette else grey for v in values), grey])
        point_rgb = table[codes]  # code -1 takes the last row: grey
        rgb = np.column_stack([np.bincount(cells, weights=point_rgb[:, c], minlength=size)
                               for c in range(3)])  # fmt: skip
        rgb /= np.maximum(counts, 1)[:, None]
    alpha = np.where(counts > 0, MIN_ALPHA + (1 - MIN_ALPHA) * np.log1p(counts)
                     / np.log1p(max(counts.max(), 1)), 0.0)  # fmt: skip
    pixels = np.concatenate([rgb, alpha[:, None] * 255], axis=1).clip(0, 255).astype(np.uint8)
    return Image.fromarray(pixels.reshape(*shape, 4), "RGBA")


def png_data_uri(image: Any) -> str:
    """A PIL image as a PNG data URI, what a figure's layout image takes."""
    import base64
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _numeric_colours(
    values: np.ndarray, cells: np.ndarray, counts: np.ndarray, colorscale: str
) -> np.ndarray:
    """Each pixel's mean value through the colour scale (grey where no value is known)."""
    from plotly.colors import sample_colorscale

    known = ~np.isnan(values)
    size = len(counts)
    sums = np.bincount(cells[known], weights=values[known], minlength=size)
    seen = np.bincount(cells[known], minlength=size)
    means = np.where(seen > 0, sums / np.maximum(seen, 1), np.nan)
    low, high = np.nanmin(values) if known.any() else 0.0, np.nanmax(values) if known.any() else 1.0
    lut = np.array([_rgb(c) for c in sample_colorscale(colorscale, list(np.linspace(0, 1, 256)))])
    scaled = np.clip((means - low) / max(high - low, 1e-12), 0, 1)
    rgb = lut[np.nan_to_num(scaled * 255).astype(int)]
    rgb[np.isnan(means)] = 160.0
    return rgb


def inside_polygon(coords: np.ndarray, xs: list[float], ys: list[float]) -> np.ndarray:
    """Which points a lasso drawn through (xs, ys) encloses."""
    from matplotlib.path import Path

    if len(xs) < 3:
        return np.zeros(len(coords), dtype=bool)
    return Path(np.column_stack([xs, ys])).contains_points(coords[:, :2])


def is_large(projection: Any, max_drawn: int, modality: int = 0) -> bool:
    """Whether a map is drawn as a picture under sampled markers (2-D, not the modality
    view, more points than `max_drawn`)."""
    return len(projection.ids) > max_drawn and projection.coords.shape[1] == 2 and not modality


def drawn_rows(
    projection: Any, extent: Extent, keep: list[int], max_drawn: int, max_kept: int
) -> np.ndarray:
    """Rows of a large map drawn as markers: a seeded sample of those in `extent` (the same
    rows on both sides of a comparison), and the rows in `extent` whose product is in
    `keep`, a seeded sample of `max_kept` of them when there are more: a box's selected
    points, all drawn as markers, made a 20 MB figure at a million points (the picture
    shows them all)."""
    inside = np.flatnonzero(extent.holds(projection.coords))
    rng = np.random.default_rng(0)
    chosen = inside if len(inside) <= max_drawn else rng.choice(inside, max_drawn, replace=False)
    if keep:
        kept = inside[np.isin(np.asarray(projection.ids)[inside], keep)]
        if len(kept) > max_kept:
            kept = rng.choice(kept, max_kept, replace=False)
        chosen = np.union1d(chosen, kept)
    return np.sort(chosen)


def subset(projection: Any, rows: np.ndarray) -> Any:
    """The projection's `rows` only (its regions' assignment too)."""
    from core.analysis.clusters import Regions

    regions = projection.regions
    if regions is not None:
        regions = Regions(regions.assignment[rows], regions.labels)
    return replace(projection, ids=np.asarray(projection.ids)[rows].tolist(),
                   coords=projection.coords[rows], regions=regions)  # fmt: skip


def large_selection(event: Any, projection: Any) -> tuple[list[int], Extent | None]:
    """Every product inside a box or lasso drawn on a large map (not only the markers
    drawn), and the box, if one was drawn."""
    selection = getattr(event, "selection", None)
    if selection is None and isinstance(event, dict):
        selection = event.get("selection")
    selection = selection or {}

    def get(name: str) -> list:
        found = (
            selection.get(name) if isinstance(selection, dict) else getattr(selection, name, None)
        )
        return list(found or [])

    ids = np.asarray(projection.ids)
    for box in get("box"):
        xs, ys = sorted(box.get("x", [])[:2]), sorted(box.get("y", [])[:2])
        if len(xs) == 2 and len(ys) == 2:
            extent = Extent(float(xs[0]), float(xs[1]), float(ys[0]), float(ys[1]))
            return ids[extent.holds(projection.coords)].tolist(), extent
    for lasso in get("lasso"):
        inside = inside_polygon(projection.coords, lasso.get("x", []), lasso.get("y", []))
        return ids[inside].tolist(), None
    return [], None
