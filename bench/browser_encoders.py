"""Search in Chromium with the encoders on PyTorch against ONNX Runtime, same build.

`PYTHONPATH=. .venv/bin/python -m bench.browser_encoders [DB] [CATALOG]` starts a fresh
app per session (sessions alternate between the two), times the page load and six
searches (the first warms the models) and writes bench/results/browser-encoders.json.
Needs Chromium and a store with the catalog embedded (`make data` makes one).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

from bench.context import CHECKOUT, RESULTS
from tests.browser import (
    _submit_and_time,
    chrome,
    exceptions_on_page,
    running_app,
    settle,
    wait_for,
)

QUESTIONS = [
    "wireless mouse", "boAt earphones under 1000 rupees", "HDMI cable",
    "samsung smart tv under 30000 rupees", "usb c charger", "gaming keyboard RGB",
]  # fmt: skip
ENCODERS = ("torch", "auto")


def session(env: dict[str, str]) -> tuple[float, list[float]]:
    with running_app(env) as url:
        driver = chrome()
        try:
            started = time.perf_counter()
            driver.get(url.rstrip("/") + "/search")
            wait_for(driver, '[data-testid="stTextInput"] input')
            settle(driver)
            load = time.perf_counter() - started
            seconds = []
            for question in QUESTIONS:
                seconds.append(_submit_and_time(driver, question))
                settle(driver)
            if exceptions_on_page(driver):
                raise RuntimeError(f"exceptions on the page: {exceptions_on_page(driver)}")
            return load, seconds
        finally:
            driver.quit()


def main(db: str, catalog: str, sessions: int = 2) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for _ in range(sessions):
        for encoder in ENCODERS:  # taking turns: drift hits both alike
            env = {"PRODUCTLENS_DB": db, "PRODUCTLENS_CATALOG": catalog,
                   "HF_HUB_OFFLINE": "1", "PRODUCTLENS_ENCODER": encoder}  # fmt: skip
            load, seconds = session(env)
            row = results.setdefault(encoder, {"page_load_s": [], "first_search_s": [],
                                               "warm_s": []})  # fmt: skip
            row["page_load_s"].append(round(load, 2))
            row["first_search_s"].append(round(seconds[0], 2))
            row["warm_s"] += [round(s, 2) for s in seconds[1:]]
    for row in results.values():
        row["warm_median_s"] = round(statistics.median(row["warm_s"]), 3)
    record = {"catalog": catalog, "measured": time.strftime("%Y-%m-%d"), **results}
    (RESULTS / "browser-encoders.json").write_text(json.dumps(record, indent=1))
    return record


if __name__ == "__main__":
    args = sys.argv[1:]
    print(json.dumps(main(args[0] if args else str(CHECKOUT / "data" / "lancedb"),
                          args[1] if len(args) > 1 else "electronics"), indent=1))  # fmt: skip
