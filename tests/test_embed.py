from __future__ import annotations

import numpy as np
import pytest

from core.embed import embed_images, embed_texts
from core.ingest import ingest
from core.models.clip import load_clip
from core.models.text import load_text_model
from core.store import Store
from tests.conftest import write_sample_subset


def test_embeddings_are_complete_normalised_and_incremental(settings_for, tmp_path):
    settings = settings_for()
    store = Store(settings.db_path)
    folder = write_sample_subset(tmp_path / "cat", 12)
    ingest(store, folder, catalog="c")
    clip, text = load_clip(settings), load_text_model(settings)

    calls = []
    first_text = embed_texts(store, "c", text, progress=lambda d, t, p: calls.append((d, t, p)))
    first_image = embed_images(store, "c", clip)
    assert (first_text.computed, first_image.computed) == (12, 12)
    assert calls[-1] == (12, 12, "text")
    ids, vectors = store.vectors.load("image", clip.source.key, "c")
    assert sorted(ids) == list(range(12)) and vectors.shape == (12, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)

    # nothing to do on a re-run
    assert embed_texts(store, "c", text).computed == 0
    assert embed_images(store, "c", clip).computed == 0

    # a price change re-embeds that text and only refreshes the image row's metadata
    manifest = folder / "manifest.csv"
    manifest.write_text(manifest.read_text().replace("16.44", "20.00"))
    ingest(store, folder, catalog="c")
    again_text = embed_texts(store, "c", text)
    again_image = embed_images(store, "c", clip)
    assert (again_text.computed, again_image.computed, again_image.refreshed) == (1, 0, 1)
    table = store.vectors.open("image", clip.source.key)
    assert table.count_rows() == 12
    row = table.search().where("product_id = 0").limit(1).to_list()[0]
    assert row["price"] == 20.0


def test_a_broken_image_marks_only_that_product(settings_for, tmp_path):
    settings = settings_for()
    store = Store(settings.db_path)
    folder = write_sample_subset(tmp_path / "cat", 6)
    ingest(store, folder, catalog="c")
    broken = store.products.get("c", 2)["image_path"]
    with open(broken, "wb") as handle:  # corrupted after ingest
        handle.write(b"garbage")
    report = embed_images(store, "c", load_clip(settings))
    assert report.computed == 5
    assert [pid for pid, _ in report.failed] == [2]
    assert store.products.get("c", 2)["image_status"] == "failed"
    assert store.products.get("c", 3)["image_status"] == "ok"


def test_embedding_is_consistent_with_direct_encoding(embedded_sample):
    from PIL import Image

    store = Store(embedded_sample.db_path)
    clip = load_clip(embedded_sample)
    product = store.products.get("mini", 7)
    direct = clip.encode_images(
        clip.preprocess(Image.open(product["image_path"]).convert("RGB"))[None]
    )
    _, stored = store.vectors.load("image", clip.source.key, "mini", [7])
    np.testing.assert_allclose(stored[0], direct[0], atol=1e-5)


def test_run_ahead_keeps_order_reraises_and_never_hangs_when_the_writer_stops():
    import threading

    from core.embed import run_ahead

    def batches(fail_at: int | None = None):
        for i in range(20):
            if i == fail_at:
                raise ValueError("encoder broke")
            yield [{"i": i}], []

    assert [rows[0]["i"] for rows, _ in run_ahead(batches())] == list(range(20))
    seen = []
    with pytest.raises(ValueError, match="encoder broke"):
        for rows, _ in run_ahead(batches(fail_at=5)):
            seen.append(rows[0]["i"])
    assert seen == [0, 1, 2, 3, 4]
    ahead = run_ahead(batches(fail_at=3), depth=1)
    next(ahead)
    ahead.close()  # a writer that failed: the worker stops instead of blocking on the queue
    assert not [t for t in threading.enumerate() if t.name == "embed-ahead"]
