"""The Embedding map's figure: points coloured by one value, hover in words, highlighted
matches and named regions. Built from plotly.graph_objects traces directly (one per
colour), which is several times faster than plotly.express for 10k points."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from core.analysis.clusters import Regions, placed_labels
from core.catalog.parse import format_price
from core.store.schema import VectorKey
from pages.map_density import Extent

NO_PRICE = "(no price)"
RINGS_BOLD_UP_TO = 500
RINGS_UP_TO = 2_000
LABEL_CHAR_PX = 7.5  # a bold 12 px region label's mean character width


# A fine-tuning run's model key: "run-20261203-142512-pc-parts-68d476".
_RUN_KEY = re.compile(r"^run-\d{8}-\d{6}-(?P<name>.+)-[0-9a-f]{6}$")


def map_title(index: VectorKey) -> str:
    """Which index a map shows, in words: 'Image index · offline-clip-v3', and for a
    fine-tuning run 'Image index · fine-tuned “pc-parts”' (its full key is in the
    Model details)."""
    run = _RUN_KEY.match(index.model_key)
    model = f"fine-tuned “{run['name']}”" if run else index.model_key
    return f"{index.kind.capitalize()} index · {model}"


def price_bands(price: pd.Series, currency: pd.Series) -> pd.Series:
    """Quartile bands named in the catalog's currency ("$12 – $25"), as an ordered
    categorical so the legend reads from cheap to dear."""
    if price.notna().sum() < 4:
        return pd.Series(pd.Categorical([NO_PRICE] * len(price)), index=price.index)
    codes, edges = pd.qcut(price, 4, labels=False, retbins=True, duplicates="drop")
    if edges[-1] >= 100:  # "₹559 – ₹1,560", not "₹559 – ₹1,559.75"
        edges = np.round(edges)
    unit = currency.dropna().iloc[0] if currency.notna().any() else ""
    names = [
        f"{format_price(low, unit)} – {format_price(high, unit)}" for low, high in pairwise(edges)
    ]
    # From the codes, not from a million band names matched back to their categories.
    codes = codes.fillna(len(names)).to_numpy(dtype=np.int64)  # no price: the last band
    bands = pd.Categorical.from_codes(codes, [*names, NO_PRICE], ordered=True)
    return pd.Series(bands, index=price.index)


def palette(classes: int) -> list[str]:
    """Plotly's ten colours while they suffice; 26 distinct ones past that, so 22
    categories do not share colours."""
    return px.colors.qualitative.Plotly if classes <= 10 else px.colors.qualitative.Alphabet


@dataclass
class MapPoints:
    coords: np.ndarray  # (n, 2) or (n, 3)
    product_ids: Sequence[int]
    names: Sequence[str]
    prices: Sequence[str]  # already formatted in the catalog's currency
    colour: pd.Series  # categorical, text or numbers: what the points are coloured by
    legend: str  # what the colour means, e.g. "price band"

    def hover_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Names and (product id, price) as text arrays, made once per figure: each colour's
        trace takes its rows from them instead of converting 10k values again."""
        ids = np.asarray(self.product_ids).astype(str)
        return np.asarray(self.names, dtype=str), np.column_stack([ids, np.asarray(self.prices)])


def _hover(legend: str, value: str) -> str:
    return (
        "<b>%{hovertext}</b><br>price: %{customdata[1]}<br>product id: %{customdata[0]}"
        f"<br>{legend}: {value}<extra></extra>"
    )


def _trace(
    coords: np.ndarray, hover: tuple[np.ndarray, np.ndarray], rows: np.ndarray, **style
) -> dict:
    """One trace as a dict: go.Figure validates it once, where a trace object would be
    validated and then deep-copied into the figure. NumPy arrays, not lists: plotly checks
    lists element by element (a second for 10k points) but takes arrays as they are; text
    arrays rather than object arrays are also copied as one block."""
    names, customdata = hover
    xyz = dict(zip("xyz", coords[rows].T, strict=False))
    kind = "scatter3d" if coords.shape[1] == 3 else "scattergl"
    return dict(
        type=kind, mode="markers", hovertext=names[rows], customdata=customdata[rows],
        **xyz, **style,
    )  # fmt: skip


def colour_order(colour: pd.Series) -> list[str]:
    """The legend's order of a categorical colour."""
    if isinstance(colour.dtype, pd.CategoricalDtype):
        return [str(c) for c in colour.cat.categories]
    return list(dict.fromkeys(colour.astype(str)))  # order of first appearance


def colour_of(colour: pd.Series) -> dict[str, str]:
    """Each category's colour, as the legend shows it."""
    order = colour_order(colour)
    colours = palette(len(order))
    return {value: colours[i % len(colours)] for i, value in enumerate(order)}


def _colour_traces(points: MapPoints, sampled: bool = False) -> list[dict]:
    size = 3 if points.coords.shape[1] == 3 else (4 if sampled else 6)
    opacity = 0.55 if sampled else 0.8  # over a density picture, markers stay light
    colour = points.colour
    names, customdata = points.hover_columns()
    if pd.api.types.is_numeric_dtype(colour) and not isinstance(colour.dtype, pd.CategoricalDtype):
        values = colour.to_numpy(dtype=float)
        marker = dict(
            size=size, opacity=opacity, color=values, colorscale="Viridis",
            # low on the right: the upright toolbar takes the top of that edge
            colorbar={"title": {"text": points.legend}, "yanchor": "bottom", "y": 0,
                      "len": 0.55},
        )  # fmt: skip
        shown = np.where(np.isnan(values), "none", np.char.mod("%.1f", values))
        hover = (names, np.column_stack([customdata, shown]))
        trace = _trace(
            points.coords, hover, np.arange(len(values)), marker=marker, showlegend=False,
            hovertemplate=_hover(points.legend, "%{customdata[2]}"),
        )  # fmt: skip
        return [trace]
    text = colour.astype(str).to_numpy()
    traces = []
    for value, hex_colour in colour_of(colour).items():
        rows = np.flatnonzero(text == value)
        if len(rows):
            marker = {"size": size, "opacity": opacity, "color": hex_colour}
            traces.append(
                _trace(points.coords, (names, customdata), rows, marker=marker, name=value,
                       legendgroup=value, hovertemplate=_hover(points.legend, value))
            )  # fmt: skip
    return traces


def map_figure(
    points: MapPoints,
    title: str,
    highlighted: np.ndarray | None = None,
    regions: Regions | None = None,
    height: int = 600,
    width_px: int = 1000,
    background: tuple[Any, Extent] | None = None,
    highlighted_count: int | None = None,
) -> go.Figure:
    """The map: one trace per colour, rings round `highlighted` rows, region names that do
    not overlap on a map about `width_px` wide, the legend underneath. With `background`
    (a picture of every point and the extent it covers), `points` are a sample drawn
    lightly over it, and `highlighted_count` says how many are highlighted on the whole
    map (more than the sample holds)."""
    fig = go.Figure(_colour_traces(points, sampled=background is not None))
    two_d = points.coords.shape[1] == 2
    if two_d and highlighted is not None and highlighted.any():
        rows = np.flatnonzero(highlighted)
        count = max(len(rows), highlighted_count or 0)
        # Thousands of bold rings would cover the map in black: many get fine grey ones,
        # and past RINGS_UP_TO none (a box zoomed into is all selected: rings would cover
        # every marker and tell nothing apart); the legend still counts them.
        ringed = rows if count <= RINGS_UP_TO else rows[:0]
        bold = count <= RINGS_BOLD_UP_TO
        line = {"width": 2.5, "color": "black"} if bold else {
            "width": 1, "color": "rgba(0,0,0,0.45)"}  # fmt: skip
        ring = {"size": 13 if bold else 8, "color": "rgba(0,0,0,0)", "line": line}
        fig.add_trace(
            go.Scattergl(
                x=points.coords[ringed, 0], y=points.coords[ringed, 1], mode="markers",
                marker=ring, hoverinfo="skip", showlegend=True,
                name=f"highlighted ({count:,})" if len(ringed) else
                f"highlighted ({count:,}: too many to ring)",
            )
        )  # fmt: skip
    annotations = []
    if two_d and regions is not None:
        label_style = {
            "showarrow": False, "font": {"size": 12, "color": "#222"},
            "bgcolor": "rgba(255,255,255,0.75)",
        }  # fmt: skip
        spans = np.ptp(points.coords[:, :2], axis=0) if len(points.coords) else (1.0, 1.0)
        annotations = [
            {"x": r.x, "y": r.y, "text": f"<b>{r.label}</b>", **label_style}
            for r in placed_labels(
                regions.labels,
                float(spans[0]),
                float(spans[1]),
                char_width=LABEL_CHAR_PX / width_px,
            )
        ]
    axis = {"showticklabels": False, "title": None, "zeroline": False}
    # The legend under the map, in rows: beside it, 32 categories took half the width of
    # a side-by-side map, and the upright toolbar at the right would cover it. At most a
    # quarter of the height, scrolled past that: 60 categories had squashed the map to 190 px.
    legend = {"itemsizing": "constant", "title": {"text": points.legend}, "maxheight": 0.25,
              "orientation": "h", "yanchor": "top", "y": -0.02, "x": 0}  # fmt: skip
    fig.update_layout(
        # The title on the left and the toolbar upright at the right never meet.
        title={"text": title, "x": 0.01, "xanchor": "left", "y": 0.98, "yanchor": "top",
               "font": {"size": 15}},
        height=height, legend=legend, margin={"t": 48, "l": 8, "r": 36, "b": 8},
        modebar={"orientation": "v"},
        # Pan by default: a click on a point selects it (in lasso mode a click does
        # nothing); lasso and box are one click away in the toolbar.
        dragmode="pan", annotations=annotations, xaxis=axis, yaxis=axis,
    )  # fmt: skip
    if not two_d:
        fig.update_layout(scene={"xaxis": axis, "yaxis": axis, "zaxis": axis})
    if background is not None:
        picture, extent = background
        fig.add_layout_image(
            source=picture, xref="x", yref="y", x=extent.x0, y=extent.y1, layer="below",
            sizex=extent.x1 - extent.x0, sizey=extent.y1 - extent.y0, sizing="stretch",
        )  # fmt: skip
        fig.update_xaxes(range=[extent.x0, extent.x1])
        fig.update_yaxes(range=[extent.y0, extent.y1])
    return fig


def loading_figure(height: int = 600) -> go.Figure:
    """The map's empty frame while its figure is built: the same height, so nothing below it
    jumps when the map arrives."""
    hidden = {"visible": False}
    note = {"text": "Reading the map…", "showarrow": False, "font": {"size": 14, "color": "#666"}}
    layout = {"height": height, "xaxis": hidden, "yaxis": hidden, "annotations": [note]}
    return go.Figure(layout=layout)
