from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


@pytest.fixture
def app_env(embedded_sample, monkeypatch):
    monkeypatch.setenv("PRODUCTLENS_DB", str(embedded_sample.db_path))
    monkeypatch.setenv("PRODUCTLENS_CLIP", embedded_sample.clip_model)
    monkeypatch.setenv("PRODUCTLENS_MODELS_DIR", str(embedded_sample.models_dir))
    return embedded_sample


def test_shell_shows_catalog_models_and_the_catalog_page(app_env):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.sidebar.selectbox[0].value == "mini"
    assert at.sidebar.metric[0].value == "40"
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "tiny-clip" in captions and "all-minilm-l6-v2" in captions
    assert at.title[0].value == "Catalog"
    frame = at.dataframe[0].value
    assert len(frame) == 40
    assert {"Image", "Product ID", "Name"} <= set(frame.columns) or "name" in frame.columns


def test_catalog_filters_narrow_the_table(app_env):
    at = AppTest.from_file(str(ROOT / "pages" / "catalog.py"), default_timeout=60).run()
    assert not at.exception
    total = len(at.dataframe[0].value)
    at.text_input[0].input("cable").run()
    names = at.dataframe[0].value["name"].tolist()
    assert 0 < len(names) < total
    assert all("cable" in n.lower() for n in names)
