"""The README's screenshots: every page in headless Chromium at 1400 and at 800 px wide,
on the data `make data` builds.

`PYTHONPATH=. .venv/bin/python -m bench.screenshots` (or `make screenshots`) writes
docs/screenshots/<width>/{search,catalog,catalog-summary,compare,map,map-hover,
map-product,map-side-by-side}.png and stops with the problems it saw (an exception on a
page, a label cut off, a map click that selected nothing).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from bench.context import CHECKOUT
from core.store import Store
from pages.map_figure import map_title
from tests.browser import (
    narrow_layout_problems,
    page_timings,
    running_app,
    search_and_capture,
    side_by_side_seconds,
)

DATA = CHECKOUT / "data"
DOCS = CHECKOUT / "docs" / "screenshots"
QUESTION = "sony headphones under $50"
KEPT = ("search", "catalog", "catalog-summary", "compare", "map", "map-hover", "map-product",
        "map-side-by-side", "issues")  # fmt: skip


def capture(width: int, url: str, scratch: Path) -> list[str]:
    out = scratch / str(width)
    found = search_and_capture(url, out, QUESTION, height=1800, width=width)
    page_timings(url, out, find="cable", width=width)  # the Catalog's summary tab, and more
    images = [k for k in Store(DATA / "lancedb").vectors.indexes("sample") if k.kind == "image"]
    if len(images) > 1:
        side_by_side_seconds(url, map_title(images[1]), out, open_s=2, width=width)
    problems = [f"{page}: {texts}" for page, texts in found.items()
                if page in ("search", "catalog", "compare", "map", "issues") and texts]  # fmt: skip
    if found.get("click") != "Selected products (1)":
        problems.append("a click on the map selected nothing")
    problems += [f"{page}: {texts}" for page, texts in narrow_layout_problems(url, width).items()
                 if texts and not (width > 1000 and texts == ["sidebar 300 px"])]  # fmt: skip
    target = DOCS / str(width)
    target.mkdir(parents=True, exist_ok=True)
    for name in KEPT:
        if (out / f"{name}.png").is_file():
            shutil.copyfile(out / f"{name}.png", target / f"{name}.png")
    return problems


def main() -> int:
    scratch = CHECKOUT / "screenshots" / "docs"
    env = {"PRODUCTLENS_DATA_DIR": str(DATA), "HF_HUB_OFFLINE": "1"}
    with running_app(env, timeout_s=180) as url:
        problems = [p for width in (1400, 800) for p in capture(width, url, scratch)]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"screenshots in {DOCS}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
