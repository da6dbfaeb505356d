"""UMAP maps: shape, caching, alignment; the Embedding map page through AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def clusters(n_per: int = 80, dim: int = 32, seed: int = 0) -> tuple[list[int], np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim)) * 5
    vectors = np.concatenate([c + rng.normal(size=(n_per, dim)) for c in centres])
    return list(range(len(vectors))), vectors.astype(np.float32)


def test_projection_is_cached_and_keeps_clusters_apart(tmp_path):
    from sklearn.metrics import silhouette_score

    from core.analysis.projection import MapParams, cached_projection

    calls = []

    def load():
        calls.append(1)
        return clusters()

    params = MapParams(metric="euclidean")
    first = cached_projection(tmp_path, {"catalog": "c"}, load, params)
    assert first.coords.shape == (240, 2) and not first.cached and first.seconds > 0
    truth = np.repeat([0, 1, 2], 80)
    assert silhouette_score(first.coords, truth) > 0.5
    again = cached_projection(tmp_path, {"catalog": "c"}, load, params)
    assert again.cached and len(calls) == 1
    assert np.array_equal(again.coords, first.coords) and again.ids == first.ids
    three = cached_projection(tmp_path, {"catalog": "c"}, load, MapParams(n_components=3))
    assert three.coords.shape == (240, 3) and len(calls) == 2
    cached_projection(tmp_path, {"catalog": "c", "version": 2}, load, params)
    assert len(calls) == 3  # a new table version is a new map


def test_a_damaged_cache_file_is_recomputed(tmp_path):
    from core.analysis.projection import MapParams, cached_projection

    first = cached_projection(tmp_path, {"c": 1}, clusters, MapParams())
    (cache_file,) = tmp_path.glob("*.npz")
    cache_file.write_bytes(b"garbage")
    again = cached_projection(tmp_path, {"c": 1}, clusters, MapParams())
    assert not again.cached and again.coords.shape == first.coords.shape


def test_procrustes_undoes_rotation_reflection_scale_and_shift():
    from core.analysis.projection import procrustes_onto

    rng = np.random.default_rng(1)
    reference = rng.normal(size=(50, 2))
    angle = 1.1
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = (reference @ rotation) * np.array([1, -1]) * 3.0 + 7.0
    assert np.allclose(procrustes_onto(reference, moved), reference, atol=1e-4)


def test_second_model_map_is_aligned_to_the_first(tmp_path):
    from core.analysis.projection import MapParams, cached_projection

    ids, vectors = clusters()
    rng = np.random.default_rng(2)
    params = MapParams(metric="euclidean")
    a = cached_projection(tmp_path, {"m": "a"}, lambda: (ids, vectors), params)
    noisy = vectors + rng.normal(scale=0.05, size=vectors.shape).astype(np.float32)
    b = cached_projection(tmp_path, {"m": "b"}, lambda: (ids, noisy), params, init_from=a)
    free = cached_projection(tmp_path, {"m": "c"}, lambda: (ids, noisy), MapParams(seed=7))
    spread = np.linalg.norm(a.coords - a.coords.mean(axis=0), axis=1).mean()
    aligned_gap = np.linalg.norm(a.coords - b.coords, axis=1).mean()
    free_gap = np.linalg.norm(a.coords - free.coords, axis=1).mean()
    assert aligned_gap < 0.5 * spread and aligned_gap < free_gap


def test_catalog_projection_follows_the_vector_table(embedded_sample, tmp_path):
    from core.analysis.projection import MapParams, catalog_projection
    from core.models.clip import load_clip
    from core.store import Store

    store = Store(embedded_sample.db_path)
    key = load_clip(embedded_sample).source.key
    projection = catalog_projection(store, "mini", "image", key, tmp_path, MapParams())
    assert sorted(projection.ids) == list(range(40)) and projection.coords.shape == (40, 2)
    assert catalog_projection(store, "mini", "image", key, tmp_path, MapParams()).cached
    with pytest.raises(ValueError, match="no image vectors"):
        catalog_projection(store, "mini", "image", "no-such-model", tmp_path, MapParams())


def test_plotly_selection_events_become_product_ids():
    from pages.common import plotly_selected_ids

    event = {"selection": {"points": [{"customdata": [3]}, {"customdata": [5]},
                                      {"customdata": [3]}, {"x": 1}]}}  # fmt: skip
    assert plotly_selected_ids(event) == [3, 5]
    assert plotly_selected_ids(None) == [] and plotly_selected_ids({"selection": {}}) == []


def test_embedding_map_page_lists_a_selection_and_hands_it_to_search(app_env, tmp_path):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.switch_page("pages/embedding_map.py").run()
    assert not at.exception, at.exception
    assert any("points" in c.value for c in at.caption)
    at.text_input[0].input("speaker").run()
    assert not at.exception, at.exception
    header = next(h.value for h in at.subheader if h.value.startswith("Selected products"))
    count = int(header.split("(")[1].rstrip(")"))
    assert count >= 1
    listed = at.dataframe[0].value
    assert len(listed) == count and listed["name"].str.contains("speaker", case=False).all()
    [ask] = [b for b in at.button if b.label.startswith("Ask about these")]
    ask.click().run()
    assert not at.exception, at.exception
    assert at.session_state["map_selection"] == listed["product_id"].tolist()
    assert any("selected on the embedding map" in i.value for i in at.info)


def test_embedding_map_speaks_in_words_orders_price_bands_and_hides_coordinates(app_env):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.switch_page("pages/embedding_map.py").run()
    [colour_by] = [box for box in at.selectbox if box.label == "Colour by"]
    colour_by.set_value("price band").run()
    assert not at.exception, at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["title"]["text"].startswith(("Image index · ", "Text index · "))
    assert spec["layout"]["legend"]["title"]["text"] == "price band"
    bands = [trace["name"] for trace in spec["data"]]
    assert all(band.startswith("$") or band == "(no price)" for band in bands)
    lows = [float(band.split(" – ")[0].lstrip("$").replace(",", "")) for band in bands[:-1]]
    assert len(lows) >= 3 and lows == sorted(lows)  # cheap to dear, not in hash order
    hover = spec["data"][0]["hovertemplate"]
    assert "price band=" in hover and "x=" not in hover and "y=" not in hover


def test_embedding_map_says_why_a_control_does_not_apply(app_env):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.switch_page("pages/embedding_map.py").run()
    boxes = {box.label: box for box in at.selectbox}
    assert boxes["Side by side with"].disabled  # one index per kind in this store
    assert any("No other" in c.value and "index of this catalog" in c.value for c in at.caption)
    image_table = next(t for t in boxes["Embedding"].options if t.startswith("image"))
    boxes["Embedding"].set_value(image_table).run()
    [gap] = [t for t in at.toggle if t.label.startswith("Images + names")]
    assert not {b.label: b for b in at.selectbox}["Colour by"].disabled
    gap.set_value(True).run()
    assert not at.exception, at.exception
    assert {b.label: b for b in at.selectbox}["Colour by"].disabled
    assert any("photo vs name" in c.value for c in at.caption)
