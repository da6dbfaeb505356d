"""The cache policy, in one place: every cache the app keeps, where it lives, what it is
keyed by and what drops it.

The rule every cache follows:
- what is read from the store is keyed by the version of the table it was read from, so
  a write (ingest, embed, relabel) is seen by the next read, in every session, with no
  explicit invalidation; the older version is dropped when the newer one is loaded;
- what is computed from a model is keyed by a digest of the model's weights (or by its
  `ModelSource`, whose key carries one), so a new checkpoint never reuses old outputs;
- what is derived from a cached value lives on that value (`CatalogFacts` carries its word
  index, conditions and speller) and dies with it;
- nothing expires by time, and every in-memory cache has a bound.

A test (`tests/test_caches.py`) finds every cache in the code (functools and Streamlit
cache decorators, `cached_property`, weak-key maps, classes named *Cache) and fails when
one is missing here, so a new cache has to state its policy.
"""

from __future__ import annotations

from dataclasses import dataclass

STORE_VERSION = "the table's version (a write makes a new one)"
WEIGHTS = "the weights' digest (in the ModelSource key)"


@dataclass(frozen=True)
class Cache:
    where: str  # "path/to/module.py:name"
    holds: str
    keyed_by: str
    dropped: str  # what removes an entry
    bound: str


CACHES: tuple[Cache, ...] = (
    # --- derived from the store, per process (shared by every session) -----------------
    Cache("core/memory.py:_malloc_trim", "glibc's malloc_trim, looked up once", "nothing",
          "never (one function)", "1"),
    Cache("core/lens.py:get_lens", "one Lens per Settings", "the Settings value",
          "never (settings are few)", "one per distinct settings"),
    Cache("core/lens.py:Lens", "the store, resolved model sources, MatrixCache, RecordCache",
          "the Lens (cached_property)", "dies with the Lens", "one each"),
    Cache("core/lens.py:Lens.facts", "a catalog's CatalogFacts", f"catalog, {STORE_VERSION}",
          "a newer products version of the same catalog", "one version per catalog"),
    Cache("core/catalog/facts_store.py:stored_facts", "a large catalog's CatalogFacts on disk",
          f"store, catalog, {STORE_VERSION}, facts format",
          "the catalog's next write (older files removed)", "one file per catalog"),
    Cache("core/store/vector_cache.py:MatrixCache", "a catalog's vectors as a matrix + IVF",
          f"vector table, catalog, {STORE_VERSION}",
          "a newer version of the same table; least recently used", "4 matrices"),
    Cache("core/store/vector_cache.py:RecordCache", "a catalog's product records",
          f"catalog, {STORE_VERSION}", "least recently used", "2 catalogs"),
    Cache("core/catalog/facts.py:CatalogFacts.word_rows", "the rows naming each word",
          "the facts object", "dies with its CatalogFacts", "one per facts"),
    Cache("core/catalog/facts.py:CatalogFacts._conditions", "masks of filter conditions",
          "(field, value)", "cleared when full", "256 conditions"),
    Cache("core/retrieval/spelling.py:_SPELLERS", "the speller over a catalog's names",
          "the CatalogFacts (weakly)", "dies with its CatalogFacts", "one per facts"),
    Cache("core/retrieval/spelling.py:english_words", "MiniLM's WordPiece words",
          "nothing (a packaged file)", "never", "1"),
    Cache("core/analysis/labels.py:_compiled", "the local labeller's compiled keyword rules",
          "the rule set (v1 for the offline CLIP recipe, v2)", "least recently used",
          "2 rule sets"),
    # --- model loads: keyed by weights ---------------------------------------------------
    Cache("core/models/clip.py:_load_clip_cached", "a loaded CLIP", WEIGHTS,
          "least recently used", "4 models"),
    Cache("core/models/clip.py:_digest_file", "a weights file's digest",
          "path, size, mtime", "least recently used", "64 files"),
    Cache("core/models/clip_text.py:_load_onnx", "CLIP's text tower on ONNX Runtime",
          f"{WEIGHTS}, precision", "least recently used", "4 towers"),
    Cache("core/models/text.py:_load_torch", "Sentence-BERT on torch", WEIGHTS,
          "least recently used", "2 models"),
    Cache("core/models/text.py:_load_onnx", "Sentence-BERT on ONNX Runtime",
          f"{WEIGHTS}, precision", "least recently used", "2 models"),
    Cache("core/models/imagenet_trunk.py:imagenet_lemmas", "ImageNet class lemmas",
          "nothing (timm's packaged list)", "never", "1"),
    # --- on disk, across processes -------------------------------------------------------
    Cache("core/models/onnx_encoder.py:export_dir", "exported ONNX encoders",
          f"{WEIGHTS}, precision", "a new digest writes a new folder", "one per model"),
    Cache("core/models/activation_cache.py:ActivationCache",
          "frozen-block activations of photos", "photo content + frozen weights' digest",
          "a new digest writes new entries", "one per photo and tower"),
    Cache("core/analysis/umap_kernels.py:cache_kernels", "UMAP's compiled numba kernels",
          "numba's: the kernel's source and signature", "a new umap-learn release",
          "one per kernel"),
    Cache("core/analysis/projection.py:cached_projection", "UMAP coordinates",
          "vectors' fingerprint + map parameters", "new vectors make a new key",
          "one file per map"),
    Cache("core/analysis/evaluate.py:evaluate_cached", "zero-shot evaluations",
          "dataset or catalog + labels, part, classes, templates, the weights' digest",
          "a new key (nothing is deleted)", "one row per evaluation, in the store"),
    Cache("core/analysis/issue_sources.py:_stored", "data issues of a dataset or catalog",
          "items, labels (fixes included), vectors' versions, analysis settings",
          "a new key (nothing is deleted)", "one row per result, in the store"),
    # --- per Streamlit server (st.cache_*), keyed like the store's ------------------------
    Cache("pages/common.py:thumbnail", "inline thumbnails", "image path",
          "least recently used", "5,000 images"),
    Cache("pages/search.py:catalog_categories", "a catalog's categories",
          f"store, catalog, {STORE_VERSION}", "least recently used", "8"),
    Cache("pages/search.py:placeholder", "the example question",
          f"store, catalog, {STORE_VERSION}", "least recently used", "8"),
    Cache("pages/search.py:examples", "the example questions offered",
          f"store, catalog, {STORE_VERSION}", "least recently used", "8"),
    Cache("pages/catalog.py:overview", "the Catalog page's summary columns",
          f"store, catalog, {STORE_VERSION}", "least recently used", "4"),
    Cache("pages/catalog.py:choices", "what the Catalog's filters offer",
          f"store, catalog, {STORE_VERSION}", "least recently used", "4"),
    Cache("pages/embedding_map.py:products", "the map's product rows",
          f"store, catalog, {STORE_VERSION}", "least recently used", "4"),
    Cache("pages/embedding_map.py:in_map_order", "a map's colour columns in its point order",
          f"store, catalog, {STORE_VERSION}, the map's cache key", "least recently used", "4"),
    Cache("pages/embedding_map.py:hover_photos", "the map's hover thumbnails",
          f"store, catalog, {STORE_VERSION}", "least recently used", "4"),
    Cache("pages/embedding_map.py:predicted_classes", "zero-shot classes of the image vectors",
          "model key, catalog, vectors' fingerprint", "least recently used", "4"),
    Cache("pages/embedding_map.py:regions_of", "the map's named regions",
          "the map's cache key", "least recently used", "8"),
    Cache("pages/embedding_map.py:map_colour", "a colour read off the columns, in map order",
          f"store, catalog, {STORE_VERSION}, the map's cache key, the colour",
          "least recently used", "8"),
    Cache("pages/embedding_map.py:map_picture", "a large map's colour as a category and its "
          "picture (PNG)", f"the map's cache key, the colour, the view, {STORE_VERSION}",
          "least recently used", "8"),
    Cache("pages/embedding_map.py:id_array", "a large map's ids as one array",
          "the map's cache key", "least recently used", "8"),
    Cache("pages/embedding_map.py:whole_extent", "a large map's whole extent",
          "the map's cache key", "least recently used", "8"),
    # --- per object --------------------------------------------------------------------------
    Cache("core/store/store.py:Store", "opened store tables (cached_property)",
          "the Store object", "dies with the Store (one per Lens)", "one per table"),
    Cache("core/training/session.py:Session.text_cache", "class prompts' features",
          "prompt text", "dies with the training session", "one per prompt"),
)  # fmt: skip


def policy_table() -> str:
    """The policy as a Markdown table (the README's "Caches" section prints it)."""
    rows = ["| Cache | Holds | Keyed by | Dropped when | Bound |", "|---|---|---|---|---|"]
    rows += [f"| `{c.where}` | {c.holds} | {c.keyed_by} | {c.dropped} | {c.bound} |"
             for c in CACHES]  # fmt: skip
    return "\n".join(rows)
