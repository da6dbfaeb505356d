from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from core.lens import Lens
from core.retrieval.search import rrf_fuse, search
from core.store import Store
from core.store.filters import Filters, QueryError, clean_query
from core.store.schema import vector_schema


def test_vector_search_returns_known_neighbours_in_order(tmp_path):
    store = Store(tmp_path / "db")
    axis = np.eye(4, dtype=np.float32)
    vectors = [axis[0], axis[0] * 0.8 + axis[1] * 0.6, axis[1], -axis[0]]
    rows = [
        {
            "catalog": "c",
            "product_id": i,
            "vector": v.tolist(),
            "source_hash": "",
            "meta_hash": "",
            "name": f"p{i}",
            "price": 10.0 * (i + 1),
            "rating": 4.0,
            "rating_count": 5,
            "main_category": "x",
            "sub_category": "y",
        }
        for i, v in enumerate(vectors)
    ]
    store.vectors.upsert("text", "toy", 4, rows)
    index = store.vectors.index("text", "toy")
    hits = index.nearest(axis[0], 4, "c")
    assert [pid for pid, _ in hits] == [0, 1, 2, 3]
    assert hits[0][1] == pytest.approx(1.0) and hits[-1][1] == pytest.approx(-1.0)
    # a filter is applied inside the query: still k results, none of them excluded
    filtered = index.nearest(axis[0], 2, "c", Filters(min_price=15))
    assert [pid for pid, _ in filtered] == [1, 2]
    assert pa.types.is_fixed_size_list(vector_schema(4).field("vector").type)


def test_filters_build_safe_where_clauses():
    where = Filters(
        min_price=10,
        max_price=99.5,
        min_rating=4,
        min_rating_count=100,
        categories=("TV's", "Audio"),
    ).where()
    assert where == (
        "price >= 10.0 AND price <= 99.5 AND rating >= 4.0 AND rating_count >= 100 AND "
        "(sub_category IN ('TV''s', 'Audio') OR main_category IN ('TV''s', 'Audio'))"
    )
    assert Filters().where() is None
    with pytest.raises(QueryError):
        Filters(min_price="1; DROP TABLE products").where()
    with pytest.raises(QueryError):
        Filters(max_price=float("nan")).where()
    with pytest.raises(QueryError):
        Filters(categories=("a\x00b",)).where()


def test_rrf_rewards_agreement():
    fused = rrf_fuse([(1, 0.9), (2, 0.8), (3, 0.7)], [(3, 5.0), (4, 4.0)])
    assert [pid for pid, _ in fused][:2] == [3, 1]


def test_clean_query():
    assert clean_query("  blue \n power\x00 bank  ") == "blue power bank"
    assert len(clean_query("x" * 10_000)) == 1000
    assert clean_query("   ") == ""


def test_text_query_finds_its_own_product_in_both_indexes(embedded_sample):
    lens = Lens(embedded_sample)
    target = lens.store.products.get("mini", 12)
    result = search(lens.searcher("mini"), target["text_doc"], k=5)
    assert result.text_hits[0].product_id == 12
    assert result.text_hits[0].source == "text"
    assert len(result.image_hits) == 5 and all(h.source == "image" for h in result.image_hits)
    assert {"load_models", "embed_text", "search"} <= set(result.timings_ms)
    first = result.text_hits[0]
    assert first.name == target["name"] and first.image_path == target["image_path"]


def test_image_query_returns_its_own_product_first(embedded_sample):
    lens = Lens(embedded_sample)
    product = lens.store.products.get("mini", 21)
    result = search(lens.searcher("mini"), image=Image.open(product["image_path"]), k=3)
    assert result.text_hits == []
    assert result.image_hits[0].product_id == 21
    assert result.image_hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_filters_exclude_what_they_should(embedded_sample):
    lens = Lens(embedded_sample)
    result = search(
        lens.searcher("mini"), "cable", k=20, filters=Filters(min_price=20, min_rating=4.5)
    )
    assert result.hits
    for hit in result.hits:
        assert hit.price >= 20 and hit.rating >= 4.5
    none = search(lens.searcher("mini"), "cable", k=5, filters=Filters(min_price=1e9))
    assert none.hits == []


def test_hybrid_finds_an_exact_model_number(embedded_sample):
    import re

    lens = Lens(embedded_sample)
    model_number = re.compile(r"\b(?=[A-Za-z-]*\d)(?=[\d-]*[A-Za-z])[A-Za-z0-9-]{5,}\b")
    names = {p: lens.store.products.get("mini", p)["name"] for p in range(40)}
    pid, code = next(
        (p, m.group(0)) for p, n in names.items() for m in [model_number.search(n)] if m
    )
    result = search(lens.searcher("mini"), code, k=3, hybrid=True)
    assert all(h.source == "hybrid" for h in result.text_hits)
    assert pid in [h.product_id for h in result.text_hits]


def test_empty_query_is_a_clear_error(embedded_sample):
    with pytest.raises(QueryError, match="type a question"):
        search(Lens(embedded_sample).searcher("mini"), "   ")


def test_in_memory_search_matches_lancedb_for_any_filter(embedded_sample):
    """The NumPy path must return what the SQL prefilter path returns, filters included."""
    import random

    import numpy as np

    from core.lens import Lens
    from core.store.filters import Filters

    lens = Lens(embedded_sample)
    key = lens.text_model().source.key
    index = lens.store.vectors.index("text", key)
    matrix = lens.matrices.get(index, "mini")
    assert matrix is not None and len(matrix.ids) == 40
    frame = lens.catalog_frame("mini")
    categories = sorted(set(frame["main_category"]))
    rng = random.Random(3)
    query = lens.text_model().encode(["wireless speaker"])[0]
    for _ in range(25):
        filters = Filters(
            min_price=rng.choice([None, 10.0, 30.0]),
            max_price=rng.choice([None, 50.0, 200.0]),
            min_rating=rng.choice([None, 4.0, 4.5]),
            min_rating_count=rng.choice([None, 10, 1000]),
            categories=tuple(rng.sample(categories, rng.choice([0, 1, 2]))),
            product_ids=tuple(rng.sample(range(40), rng.choice([0, 5, 20]))),
        )
        exact = index.nearest(query, 40, "mini", filters)
        fast = matrix.top_k(query, 40, filters)
        assert [pid for pid, _ in fast] == [pid for pid, _ in exact], filters
        assert np.allclose([s for _, s in fast], [s for _, s in exact], atol=1e-4)


def test_large_tables_get_an_ann_index_with_measured_recall(tmp_path, monkeypatch):
    """The threshold is lowered so a 3,000-row table stands in for a million."""
    import numpy as np
    import pyarrow as pa

    import core.store.ann as ann
    from core.store import Store
    from core.store.schema import VectorKey, vector_schema
    from core.store.vector_index import VectorIndex

    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 2_000)
    store = Store(tmp_path / "db")
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(30, 64))
    vectors = centres[rng.integers(0, 30, 3_000)] + 0.3 * rng.normal(size=(3_000, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    schema = vector_schema(64)
    rows = [
        {"catalog": "big", "product_id": i, "vector": v.tolist(), "source_hash": "",
         "meta_hash": ""}
        for i, v in enumerate(vectors)
    ]  # fmt: skip
    table = store.database.connection.create_table("vectors__image__synthetic", schema=schema)
    table.add(pa.Table.from_pylist(rows, schema=schema))
    health = ann.ensure_index(store, "vectors__image__synthetic", 64)
    assert health is not None and health["recall@10"] >= 0.9 and "build_s" in health
    assert ann.has_vector_index(store.database.connection.open_table("vectors__image__synthetic"))
    assert store.index_health.get("vectors__image__synthetic")["rows"] == 3_000  # type: ignore[index]
    assert ann.ensure_index(store, "vectors__image__synthetic", 64) == health  # no rebuild
    table = store.database.connection.open_table("vectors__image__synthetic")
    hits = VectorIndex(VectorKey("image", "synthetic"), table).nearest(vectors[7], 5, "big")
    assert hits[0][0] == 7


def test_large_matrices_answer_from_an_ivf_index_built_in_the_background(monkeypatch):
    """The threshold is lowered so 6,000 rows stand in for 100k; filtered queries and
    queries before the index is ready stay exact."""
    import numpy as np

    import core.store.ivf as ivf
    from core.store.filters import Filters
    from core.store.vector_cache import VectorMatrix

    rng = np.random.default_rng(1)
    n, dim = 6_000, 64
    centres = rng.normal(size=(60, dim))
    vectors = centres[rng.integers(0, 60, n)] + 0.4 * rng.normal(size=(n, dim))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ids = np.arange(10_000, 10_000 + n, dtype=np.int64)
    price = np.where(np.arange(n) % 3 == 0, 100.0, 900.0)
    matrix = VectorMatrix(ids, vectors, price, np.full(n, 4.0), np.zeros(n),
                          np.full(n, "a", dtype=object), np.full(n, "b", dtype=object))  # fmt: skip
    queries = vectors[rng.choice(n, 40, replace=False)] + 0.05 * rng.normal(size=(40, dim))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    exact = [matrix.top_k(q, 10) for q in queries]  # no index yet: exact

    monkeypatch.setattr(ivf, "IVF_MIN_ROWS", 5_000)
    ivf.build_in_background(matrix).join()
    assert matrix.ivf is not None and matrix.ivf.lists == int(np.sqrt(n))
    assert matrix.ivf.index.ntotal == n
    assert matrix.top_k(queries[0], 10) == matrix.ivf.top_k(queries[0], 10)  # the index answers
    approx = [matrix.top_k(q, 10) for q in queries]
    recall = np.mean([len({p for p, _ in a} & {p for p, _ in e}) / 10
                      for a, e in zip(approx, exact, strict=True)])  # fmt: skip
    assert recall >= 0.95
    scores = [s for _, s in approx[0]]
    assert scores == sorted(scores, reverse=True)
    assert {p for p, _ in approx[0]} <= set(ids.tolist())
    cheap = Filters(max_price=200)
    filtered = matrix.top_k(queries[0], 10, cheap)  # exact over the rows that qualify
    rows = {int(i): r for r, i in enumerate(ids)}
    assert all(price[rows[p]] <= 200 for p, _ in filtered)
    keep = price <= 200
    truth = np.argsort(-(vectors[keep] @ queries[0]), kind="stable")[:10]
    assert [p for p, _ in filtered] == ids[keep][truth].tolist()
    assert ivf.build_in_background(VectorMatrix(ids[:10], vectors[:10], *[price[:10]] * 3,
                                                ids[:10], ids[:10])) is None  # fmt: skip


def test_the_ivf_index_is_started_by_a_second_search_not_the_first(monkeypatch, tmp_path):
    import numpy as np
    import pyarrow as pa

    import core.store.ivf as ivf
    from core.store import Store
    from core.store.vector_cache import MatrixCache

    monkeypatch.setattr(ivf, "IVF_MIN_ROWS", 500)
    vectors = np.random.default_rng(2).normal(size=(600, 16)).astype(np.float32)
    store = Store(tmp_path / "db")
    flat = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 16)
    store.vectors.append("image", "v", 16, pa.table({
        "catalog": ["c"] * 600, "product_id": np.arange(600), "vector": flat}))  # fmt: skip
    index = store.vectors.index("image", "v")
    cache = MatrixCache()
    first = cache.get(index, "c")
    assert first is not None and first.ivf_builder is None  # one-shot: exact, no build
    assert cache.get(index, "c") is first and first.ivf_builder is not None
    cache.wait_for_indexes()
    assert first.ivf is not None and first.ivf.index.ntotal == 600


def test_the_app_loads_the_query_encoders_in_the_background_once(embedded_sample):
    from dataclasses import replace

    from core.models.clip import _load_clip_cached

    _load_clip_cached.cache_clear()
    lens = Lens(embedded_sample)
    thread = lens.warm_up(delay_s=0)
    assert thread is not None and lens.warm_up() is thread  # once per Lens
    thread.join(120)
    assert _load_clip_cached.cache_info().currsize == 1  # the image tower is loaded
    hits = _load_clip_cached.cache_info().hits
    lens.clip()  # what a photo query then asks for is already there
    assert _load_clip_cached.cache_info().hits == hits + 1
    assert Lens(replace(embedded_sample, warm_up=False)).warm_up() is None


def test_the_warm_up_leaves_clip_unloaded_for_a_catalog_without_photos(shop_catalog):
    from core.models.clip import _load_clip_cached
    from core.retrieval.spelling import _SPELLERS

    _load_clip_cached.cache_clear()
    lens = Lens(shop_catalog)
    lens.warm_up(delay_s=0, catalog="shop").join(120)
    assert _load_clip_cached.cache_info().currsize == 0  # a text-only catalog: no image tower
    assert lens.facts("shop") in _SPELLERS  # its first question finds the speller made
