from __future__ import annotations

import pytest

from tests.browser import ROOT, browser_available, running_app, search_and_capture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not browser_available(), reason="Debian chromium + chromium-driver needed"),
]


def test_pages_render_in_chromium_without_exceptions(app_env):
    env = {
        "PRODUCTLENS_DB": str(app_env.db_path),
        "PRODUCTLENS_CLIP": app_env.clip_model,
        "PRODUCTLENS_MODELS_DIR": str(app_env.models_dir),
        "HF_HUB_OFFLINE": "1",
    }
    out = ROOT / "screenshots"
    with running_app(env) as url:
        found = search_and_capture(url, out, "speaker wire cable")
    assert found == {"search": [], "catalog": []}
    for name in ("search", "catalog"):
        assert (out / f"{name}.png").stat().st_size > 20_000
