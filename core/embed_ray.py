"""Embedding on Ray Data (`productlens embed --engine ray`): the same plan and encoders as
`core.embed`, with the products to encode cut into shards that a pool of Ray actors works
through, each loading the encoder once and writing its vectors straight to the store.

Why it is safe to kill anything: a shard is one store commit, merged by (catalog,
product_id), so a shard written twice (a restarted actor retrying it) leaves one row per
product; a killed job leaves whole shards behind, and the next run's plan only holds what
is still missing. Shards are the single-process path's write chunks, aligned to its batches,
so every product is encoded in the same batch as there: the vectors are the same.

Ray is an optional extra (`pip install 'productlens[scale]'`). Without RAY_ADDRESS a local
Ray instance is started for the run; with it (`ray start --head` on a cluster), the run
joins that cluster, whose workers must reach the same store (object storage) and, for
images, the same image paths.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from typing import Any

import numpy as np

from core.embed import (
    TEXT_BATCH,
    WRITE_EVERY,
    EmbedReport,
    finish_embedding,
    image_hash,
    image_row_batches,
    plan_embedding,
    text_hash,
    text_row_batches,
    write_row_batches,
)
from core.progress import Progress
from core.settings import Settings
from core.store import Store, sql_in

SHARD = WRITE_EVERY  # products per shard: a multiple of every batch size, so batches align


class RayUnavailable(RuntimeError):
    pass


class ShardEncoder:
    """A Ray actor: loads one encoder once, then encodes and stores shard after shard."""

    def __init__(self, settings: Settings, catalog: str, kind: str) -> None:
        from core.models.clip import load_clip
        from core.models.text import load_text_model

        self.catalog, self.kind = catalog, kind
        self.model = load_text_model(settings) if kind == "text" else load_clip(settings)
        self.store = Store(settings.db_path, settings.storage_options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        computed, failed = [], []
        for product_ids in batch["product_ids"]:
            report = self.encode_shard([int(i) for i in product_ids])
            computed.append(report.computed)
            failed.append(json.dumps(report.failed))
        return {"computed": np.array(computed), "failed": np.array(failed)}

    def encode_shard(self, product_ids: list[int]) -> EmbedReport:
        clause = f"product_id IN ({sql_in(product_ids)})"
        found = {
            p["product_id"]: p for p in self.store.products.where(self.catalog, clause).to_pylist()
        }
        products = [found[i] for i in product_ids if i in found]  # the plan's order
        report = EmbedReport(self.kind, self.model.source.key)
        if self.kind == "text":
            items = [(p, text_hash(p["text_doc"] or "")) for p in products]
            batches = text_row_batches(self.model, self.catalog, items, TEXT_BATCH)
        else:
            items = [(p, image_hash(p["image_path"])) for p in products]
            batches = image_row_batches(self.model, self.catalog, items, self.model.image_batch)
        write_row_batches(self.store, self.kind, self.model, self.catalog, batches, report)
        return report


def start_ray(workers: int) -> Any:
    # Ray's C++ core logs warnings about its own defaults to stderr (e.g. that restartable
    # actors keep their arguments in the object store); errors still surface as exceptions.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        import ray
    except ImportError:
        raise RayUnavailable(
            "--engine ray needs Ray Data: pip install 'productlens[scale]'"
        ) from None
    if not ray.is_initialized():
        # A local instance sized to the workers asked for, unless RAY_ADDRESS names a cluster.
        local = {} if os.environ.get("RAY_ADDRESS") else {"num_cpus": workers}
        with warnings.catch_warnings():
            # Ray starts its daemons by fork+exec; lancedb's warning about forks is for
            # children that keep running Python, which these do not.
            warnings.filterwarnings("ignore", "lancedb fork support", RuntimeWarning)
            ray.init(
                **local, include_dashboard=False, log_to_driver=False,
                logging_level=logging.ERROR,
            )  # fmt: skip
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # our progress, not theirs
    return ray


def embed_with_ray(
    settings: Settings,
    catalog: str,
    kind: str,
    workers: int = 2,
    progress: Progress | None = None,
) -> EmbedReport:
    """Embed `kind` ("text" or "image") for `catalog` with `workers` Ray actors."""
    from core.models.clip import load_clip
    from core.models.text import load_text_model

    start = time.perf_counter()
    store = Store(settings.db_path, settings.storage_options)
    # The driver plans with the same model the workers load (for its key and dimension).
    model = load_text_model(settings) if kind == "text" else load_clip(settings)
    plan = plan_embedding(store, catalog, kind, model)
    ids = [product["product_id"] for product, _ in plan.compute]
    shards = [{"product_ids": ids[i : i + SHARD]} for i in range(0, len(ids), SHARD)]
    if shards:
        ray = start_ray(workers)
        dataset = ray.data.from_items(shards, override_num_blocks=len(shards))
        encoded = dataset.map_batches(
            ShardEncoder,
            fn_constructor_kwargs={"settings": settings, "catalog": catalog, "kind": kind},
            batch_size=1,
            # Ray Data restarts a killed actor and retries its shard (the merge makes a
            # retried shard harmless).
            compute=ray.data.ActorPoolStrategy(size=min(workers, len(shards))),
            num_cpus=1,
        )
        done = 0
        for batch in encoded.iter_batches(batch_size=1):
            plan.report.computed += int(batch["computed"].sum())
            for failures in batch["failed"]:
                plan.report.failed += [tuple(f) for f in json.loads(failures)]
            done += int(batch["computed"].sum())
            if progress:
                progress(done, len(ids), "text" if kind == "text" else "images")
    plan.report.seconds = time.perf_counter() - start
    return finish_embedding(store, kind, model, plan)
