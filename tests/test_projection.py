"""UMAP maps: shape, caching, alignment; the Embedding map page through AppTest."""

from __future__ import annotations

import json
import os
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
    again = catalog_projection(store, "mini", "image", key, tmp_path, MapParams())
    assert again.cached
    # the named regions are computed with the map and read back with it
    assert projection.regions is not None and len(projection.regions.labels) >= 2
    assert again.regions.labels == projection.regions.labels
    assert again.regions.point_labels() == projection.regions.point_labels()
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
    at.text_input(key="map-find-mini").input("speaker").run()
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
    [chart] = at.get("plotly_chart")  # the empty frame drawn first gave way to the map
    spec = json.loads(chart.proto.spec)
    assert spec["layout"]["title"]["text"].startswith(("Image index · ", "Text index · "))
    assert spec["layout"]["legend"]["title"]["text"] == "price band"
    bands = [trace["name"] for trace in spec["data"]]
    assert all(band.startswith("$") or band == "(no price)" for band in bands)
    lows = [float(band.split(" – ")[0].lstrip("$").replace(",", "")) for band in bands[:-1]]
    assert len(lows) >= 3 and lows == sorted(lows)  # cheap to dear, not in hash order
    for trace in spec["data"][:-1]:  # each point's hover shows its own price, in its band
        low, high = (float(end.lstrip("$").replace(",", "")) for end in trace["name"].split(" – "))
        prices = [float(price.lstrip("$").replace(",", "")) for _, price in trace["customdata"]]
        assert len(prices) == len(trace["hovertext"])
        assert all(low - 1 <= price <= high + 1 for price in prices)
    hover = spec["data"][0]["hovertemplate"]
    assert "price band: " in hover and "x=" not in hover and "y=" not in hover


def test_embedding_map_says_why_a_control_does_not_apply(app_env):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.switch_page("pages/embedding_map.py").run()
    boxes = {box.label: box for box in at.selectbox}
    assert boxes["Side by side with"].disabled  # one index per kind in this store
    assert any("No other" in c.value and "index of this catalog" in c.value for c in at.caption)
    options = boxes["Embedding"].options  # shown in words: "Image index · tiny-clip (40)"
    boxes["Embedding"].select_index(next(i for i, t in enumerate(options) if "Image" in t)).run()
    [gap] = [t for t in at.toggle if t.label.startswith("Images + names")]
    assert not {b.label: b for b in at.selectbox}["Colour by"].disabled
    gap.set_value(True)
    apply_map_settings(at)
    assert not at.exception, at.exception
    assert {b.label: b for b in at.selectbox}["Colour by"].disabled
    assert any("photo vs name" in c.value for c in at.caption)


def apply_map_settings(at) -> None:
    [apply] = [b for b in at.button if b.label == "Apply map settings"]
    apply.click().run()
    assert not at.exception, at.exception


def test_map_settings_apply_only_on_the_button_and_start_from_the_precomputed_map(app_env):
    from streamlit.testing.v1 import AppTest

    from core.analysis.projection import default_maps
    from core.settings import load_settings
    from core.store import Store

    settings = load_settings()
    maps = default_maps(Store(app_env.db_path), "mini", settings.map_cache_dir)
    assert {m.meta["kind"] for m in maps} == {"text", "image"}  # what `embed` leaves behind
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.switch_page("pages/embedding_map.py").run()
    assert not at.exception, at.exception
    assert any("read from disk" in c.value for c in at.caption)
    at.slider[0].set_value(30).run()  # a nudge: nothing recomputes, the map stays as it was
    assert any("neighbours 15," in c.value for c in at.caption)
    at.slider[0].set_value(30)  # AppTest sends a form's values with its submit, as a browser does
    apply_map_settings(at)
    assert any("neighbours 30," in c.value and "read from disk" not in c.value for c in at.caption)


def test_a_clicked_point_shows_its_photo_and_nearest_neighbours(app_env):
    from streamlit.testing.v1 import AppTest

    from core.store import Store
    from core.store.vector_cache import load_matrix

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.switch_page("pages/embedding_map.py").run()
    table = next(box for box in at.selectbox if box.label == "Embedding").value
    at.session_state["map_selected"] = [7]  # what a click on product 7 leaves
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("image")) == 1  # the product's photo
    near = at.dataframe[0].value
    kind, key = table.kind, table.model_key
    store = Store(app_env.db_path)
    matrix = load_matrix(store.vectors.index(kind, key), "mini")
    scores = matrix.vectors @ matrix.vectors[list(matrix.ids).index(7)]
    expected = [int(matrix.ids[i]) for i in np.argsort(-scores) if matrix.ids[i] != 7][:8]
    assert near["product_id"].tolist() == expected
    assert near["similarity"].is_monotonic_decreasing


def test_map_regions_are_named_by_the_words_they_share():
    from core.analysis.clusters import map_regions

    rng = np.random.default_rng(0)
    coords = np.concatenate([rng.normal(c, 0.3, size=(40, 2)) for c in ((0, 0), (10, 0), (0, 10))])
    names = (["Wireless Bluetooth Earbuds"] * 40 + ["HDMI Cable 2m Braided"] * 40
             + ["Mechanical Keyboard RGB"] * 40)  # fmt: skip
    regions = map_regions(coords, names, clusters=3)
    by_place = {(round(lab.x / 10), round(lab.y / 10)): lab.label for lab in regions.labels}
    assert "earbuds" in by_place[(0, 0)] or "wireless" in by_place[(0, 0)]
    assert "cable" in by_place[(1, 0)] or "hdmi" in by_place[(1, 0)]
    assert "keyboard" in by_place[(0, 1)] or "mechanical" in by_place[(0, 1)]
    assert regions.point_labels()[0] == by_place[(0, 0)]  # colour by region = its label
    assert map_regions(coords[:5], names[:5]) is None  # too few points to name regions


def test_a_map_ignores_other_catalogs_writes_to_the_same_table(embedded_sample, tmp_path):
    import shutil

    from core.analysis.projection import MapParams, catalog_projection
    from core.embed import embed_texts
    from core.ingest import ingest
    from core.models.text import load_text_model
    from core.store import Store
    from tests.conftest import write_sample_subset

    shutil.copytree(embedded_sample.db_path, tmp_path / "db")
    store = Store(tmp_path / "db")
    key = load_text_model(embedded_sample).source.key
    first = catalog_projection(store, "mini", "text", key, tmp_path / "maps", MapParams())
    ingest(store, write_sample_subset(tmp_path / "other", 5), catalog="other")
    embed_texts(store, "other", load_text_model(embedded_sample))
    again = catalog_projection(store, "mini", "text", key, tmp_path / "maps", MapParams())
    assert again.cached and again.ids == first.ids


def test_hover_photos_are_thumbnails_of_readable_images_and_no_dead_web_links(tmp_path):
    from PIL import Image

    from pages.map_hover import HoverPhotos, hover_photos_script
    from tests.browser import free_port

    Image.new("RGB", (300, 200), "red").save(tmp_path / "red.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    offline = f"http://127.0.0.1:{free_port()}/photo.jpg"  # nothing listens there
    photos = HoverPhotos([(1, str(tmp_path / "red.jpg")), (2, str(tmp_path / "broken.jpg"))],
                         web_probe=offline)  # fmt: skip
    assert photos.wait(30)
    sources = photos.snapshot([(1, offline), (3, offline), (4, "")])
    assert list(sources) == ["1"] and sources["1"].startswith("data:image/jpeg;base64,")
    script = hover_photos_script({"5": "</script><b>"})
    assert script.count("</script>") == 1  # a source cannot end the script early


def test_hover_photos_use_web_images_when_their_host_answers(monkeypatch):
    import socket

    from pages import map_hover
    from pages.map_hover import HoverPhotos

    monkeypatch.setattr(map_hover, "MAX_PHOTOS", 2)  # the script's size has a cap

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/photo.jpg"
        photos = HoverPhotos([], web_probe=url)
        assert photos.wait(30)
    drawn = [(7, url), (8, "ftp://example.com/x.jpg"), (9, url), (10, url)]
    assert photos.snapshot(drawn) == {"7": url, "9": url}


def test_umaps_kernels_are_cached_on_disk_not_compiled_per_process():
    from numba.core.caching import FunctionCache

    from core.analysis.umap_kernels import cache_kernels

    kernels = cache_kernels()
    names = {k.py_func.__name__ for k in kernels}
    assert {"smooth_knn_dist", "compute_membership_strengths"} <= names
    assert all(isinstance(k._cache, FunctionCache) for k in kernels)


@pytest.mark.slow
def test_a_second_process_loads_umaps_kernels_instead_of_compiling_them(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [
        subprocess.run([sys.executable, "-m", "core.analysis.projection"], env=env,
                       capture_output=True, text=True, check=True, cwd=ROOT).stdout
        for _ in range(2)
    ]  # fmt: skip
    assert "(0 loaded from the cache)" in runs[0]
    assert "(0 loaded" not in runs[1]


def test_the_map_colours_products_by_their_data_issue(app_env):
    from streamlit.testing.v1 import AppTest

    from core.store import Store
    from tests.conftest import label_with_slips

    label_with_slips(Store(app_env.db_path), "mini")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.switch_page("pages/embedding_map.py").run()
    colour = {box.label: box for box in at.selectbox}["Colour by"]
    colour.set_value("issues: local:rules+minilm-v2").run()
    assert not at.exception, at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    legend = {trace.get("name") for trace in spec["data"]}
    assert "likely label error" in legend and "no issue found" in legend
