"""One object the pages and the CLI share: settings, the store, and models loaded once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial

import numpy as np
import pandas as pd

from core.catalog.facts import CatalogFacts, build_facts
from core.catalog.facts_store import stored_facts
from core.memory import release_freed_memory
from core.models.clip import ClipModel, load_clip
from core.models.clip_text import TextTower, load_clip_text
from core.models.sources import ModelSource, resolve_clip, resolve_text_model
from core.models.text import TextModel, load_text_model
from core.retrieval.searcher import Searcher
from core.settings import Settings, load_settings
from core.store import Store
from core.store.catalog_index import CatalogIndex
from core.store.vector_cache import MatrixCache, RecordCache

log = logging.getLogger(__name__)
WARM_UP_DELAY_S = 1.0

CATALOG_COLUMNS = [
    "product_id",
    "name",
    "main_category",
    "sub_category",
    "rating",
    "rating_count",
    "discount_price",
    "actual_price",
    "price",
    "currency",
    "image_status",
    "image_error",
    "image_path",
    "image_url",
    "link",
]


@dataclass
class Lens:
    settings: Settings
    _facts: dict[tuple[str, int], CatalogFacts] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _warming: threading.Thread | None = field(default=None, repr=False)
    _models_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @cached_property
    def store(self) -> Store:
        return Store(self.settings.db_path, self.settings.storage_options)

    @cached_property
    def clip_source(self) -> ModelSource:
        return resolve_clip(self.settings)

    @cached_property
    def text_source(self) -> ModelSource:
        return resolve_text_model(self.settings)

    @cached_property
    def matrices(self) -> MatrixCache:
        return MatrixCache()

    @cached_property
    def records(self) -> RecordCache:
        return RecordCache()

    # One load at a time: a query that arrives during the warm-up waits for that load
    # instead of starting a second one (or a second ONNX export) beside it.
    def clip(self) -> ClipModel:
        with self._models_lock:
            return load_clip(self.settings)

    def clip_text(self) -> TextTower:
        """CLIP's text tower for text queries (on ONNX Runtime where it can be)."""
        with self._models_lock:
            return load_clip_text(self.settings)

    def text_model(self) -> TextModel:
        with self._models_lock:
            return load_text_model(self.settings)

    def facts(self, catalog: str) -> CatalogFacts:
        """Brands, discounts, identical listings… of this catalog, as of its last write."""
        key = (catalog, self.store.products.version())
        with self._lock:
            facts = self._facts.get(key)
        if facts is None:
            products = self.store.products.count(catalog)
            facts = stored_facts(
                self.settings.facts_cache_dir, self.store.location, catalog, key[1], products,
                lambda: build_facts(self.catalog_frame(catalog)),
            )  # fmt: skip
            release_freed_memory()  # the catalog frame the facts were built from
            with self._lock:
                self._facts = {k: v for k, v in self._facts.items() if k[0] != catalog}
                self._facts[key] = facts
        return facts

    def _warm_clip(self, catalog: str | None) -> None:
        if catalog is None or self.facts(catalog).has_images:
            self.clip_text()
            self.clip()

    def prepare_search(self, catalog: str) -> None:
        """What a catalog's first question would otherwise wait for: its facts, the word
        index of its names and its speller (at a million products, ~25 s together)."""
        from core.retrieval.spelling import speller_of

        facts = self.facts(catalog)
        facts.word_rows  # noqa: B018 (made once, kept on the facts)
        speller_of(facts)
        release_freed_memory()

    def prepare_map(self, catalog: str) -> None:
        """What the Embedding map's first open would otherwise wait for: the fingerprints
        of the catalog's stored vectors, which its saved maps are keyed by (at a million
        products, 1.2 s of reading and hashing)."""
        for key in self.store.vectors.indexes(catalog):
            self.store.vectors.fingerprint(key.kind, key.model_key, catalog)
        release_freed_memory()

    def warm_up(
        self,
        *also: Callable[[], object],
        catalog: str | None = None,
        delay_s: float = WARM_UP_DELAY_S,
    ) -> threading.Thread | None:
        """Load the query encoders (then run `also`) in a background thread, once per
        Lens, after `delay_s` (the page that asked is drawn first): the first photo query
        then finds CLIP's image tower loaded instead of waiting ~9 s for it. With
        `catalog`, CLIP only when that catalog has product images (a search of one without
        never uses it: torch and its weights held 1.1 GB), then its search facts and what
        its map's first open reads."""
        if not self.settings.warm_up:
            return None
        loads = (
            self.text_model,
            partial(self._warm_clip, catalog),
            *(
                [partial(self.prepare_search, catalog), partial(self.prepare_map, catalog)]
                if catalog
                else []
            ),
            *also,
        )
        with self._lock:
            if self._warming is None:
                self._warming = threading.Thread(
                    target=_warm, args=(loads, delay_s), name="warm-up", daemon=True
                )
                self._warming.start()
        return self._warming

    def searcher(self, catalog: str) -> Searcher:
        """What retrieval needs for this catalog, as of now; each encoder loads on first use."""
        vectors = self.store.vectors

        def index(kind: str, model_key: str) -> CatalogIndex | None:
            found = vectors.index(kind, model_key)
            return CatalogIndex(found, catalog, self.matrices) if found is not None else None

        facts = self.facts(catalog)
        return Searcher(
            catalog=catalog,
            facts=facts,
            records=partial(self.records.lookup, self.store, catalog),
            text_index=index("text", self.text_source.key),
            # CLIP is resolved only for a catalog with photos (a text catalog never needs it).
            image_index=index("image", self.clip_source.key) if facts.has_images else None,
            text_encoder=self.text_model,
            clip_text_encoder=self.clip_text,
            image_encoder=self.clip,
        )

    def catalog_frame(
        self, catalog: str, columns: list[str] = CATALOG_COLUMNS, in_id_order: bool = True
    ) -> pd.DataFrame:
        """`columns` of the catalog's products, by product id unless `in_id_order` is
        False (a reader that looks rows up by id saves the sort: 1.1 s at a million)."""
        table = self.store.products.where(catalog, columns=columns)
        ids = table.column("product_id").to_numpy()
        if in_id_order and np.any(ids[1:] < ids[:-1]):  # a scan may return batches unordered
            table = table.sort_by("product_id")
        return table.to_pandas()


def _warm(loads: tuple[Callable[[], object], ...], delay_s: float) -> None:
    time.sleep(delay_s)
    for load in loads:
        try:
            load()
        except Exception as exc:  # a missing model is reported when a search needs it
            log.info("warm-up: %s not done (%s)", getattr(load, "__name__", load), exc)


_lock = threading.Lock()
_lenses: dict[Settings, Lens] = {}


def get_lens(settings: Settings | None = None) -> Lens:
    """The process-wide Lens for these settings (Streamlit reruns reuse it)."""
    settings = settings or load_settings()
    with _lock:
        if settings not in _lenses:
            _lenses[settings] = Lens(settings)
        return _lenses[settings]
