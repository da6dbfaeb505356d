"""Browsing a catalog in memory: the Catalog page's filters over a products frame."""

from __future__ import annotations

import pandas as pd


def filter_catalog(
    frame: pd.DataFrame,
    text: str = "",
    categories: list[str] | None = None,
    price_range: tuple[float, float] | None = None,
    min_rating: float | None = None,
    image_status: list[str] | None = None,
) -> pd.DataFrame:
    """The Catalog page's filters, on an in-memory frame (the whole catalog fits easily)."""
    mask = pd.Series(True, index=frame.index)
    if text.strip():
        mask &= frame["name"].str.contains(text.strip(), case=False, regex=False, na=False)
    if categories:
        mask &= frame["sub_category"].isin(categories) | frame["main_category"].isin(categories)
    if price_range is not None:
        low, high = price_range
        mask &= frame["price"].between(low, high) | (frame["price"].isna() & (low <= 0))
    if min_rating:
        mask &= frame["rating"].fillna(-1) >= min_rating
    if image_status:
        mask &= frame["image_status"].isin(image_status)
    return frame[mask]
