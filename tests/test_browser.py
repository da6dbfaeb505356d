from __future__ import annotations

import pytest

from tests.browser import ROOT, browser_available, running_app, search_and_capture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not browser_available(), reason="Debian chromium + chromium-driver needed"),
]


def test_pages_render_in_chromium_without_exceptions(app_env, tmp_path):
    from core.finetune import TrainConfig, fine_tune
    from core.labels import label_catalog
    from core.store import Store
    from tests.test_finetune import OFFICE, office_subset, tiny_vit_parts

    runs = tmp_path / "runs"
    label_catalog(Store(app_env.db_path), "mini")  # rules only: no model needed here
    if OFFICE.is_dir():
        config = TrainConfig(epochs=1, batch_size=8, lr=1e-3)
        fine_tune(tiny_vit_parts(), {"spec": "tiny"}, office_subset(4), config, runs, "tiny-ft")
    env = {
        "PRODUCTLENS_RUNS_DIR": str(runs),
        "PRODUCTLENS_DB": str(app_env.db_path),
        "PRODUCTLENS_CLIP": app_env.clip_model,
        "PRODUCTLENS_MODELS_DIR": str(app_env.models_dir),
        "HF_HUB_OFFLINE": "1",
    }
    out = ROOT / "screenshots"
    with running_app(env) as url:
        found = search_and_capture(url, out, "speaker wire cable")
    assert found == {"search": [], "catalog": [], "compare": [], "map": []}
    for name in ("search", "catalog", "compare", "map"):
        assert (out / f"{name}.png").stat().st_size > 20_000
