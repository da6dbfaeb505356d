"""What every benchmark suite shares: where the inputs and results live, and the run's
context (settings, quick or full, scratch space, what one suite leaves the next).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.settings import Settings

CHECKOUT = Path(__file__).resolve().parent.parent  # the benchmarks run from a checkout
KAGGLE_CSV = Path(
    os.environ.get("PRODUCTLENS_BENCH_CATALOG")
    or CHECKOUT.parent / "shared" / "data" / "amazon_electronics_2023.csv"
)
MIXED_CSV = Path(
    os.environ.get("PRODUCTLENS_BENCH_MIXED")
    or CHECKOUT.parent / "shared" / "data" / "amazon_products_2023_mixed_categories.csv"
)
SAMPLE = CHECKOUT / "data" / "sample"
RESULTS = CHECKOUT / "bench" / "results"


@dataclass
class Context:
    settings: Settings
    quick: bool
    work: Path  # scratch space, removed at the end
    shared: dict[str, Any] = field(default_factory=dict)  # what one suite leaves the next

    def note(self, text: str) -> None:
        print(f"[bench] {text}", file=sys.stderr, flush=True)
