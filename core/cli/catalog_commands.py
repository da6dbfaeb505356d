"""Catalog commands: ingest, embed, show, stats."""

from __future__ import annotations

import argparse
import time
from typing import Any

from core.cli.registry import CliError, command, resolve_catalog, tqdm_progress
from core.settings import Settings
from core.store import Store

# --- commands ----------------------------------------------------------------------


def _ingest_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="Kaggle CSV, or a folder with manifest.csv")
    p.add_argument("--catalog", help="catalog name (default: from the file name)")
    p.add_argument("--download-images", action="store_true", help="fetch image URLs")
    p.add_argument("--workers", type=int, default=8, help="concurrent downloads")
    p.add_argument("--show-errors", type=int, default=20, help="rejected rows to list")


@command(
    "ingest",
    "read a catalog CSV or folder",
    _ingest_arguments,
)
def _ingest(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.ingest import ingest

    report = ingest(
        store,
        args.path,
        catalog=args.catalog,
        download_images_=args.download_images,
        image_cache_dir=settings.image_cache_dir,
        workers=args.workers,
        progress=tqdm_progress(args.quiet),
    )
    lines = [report.summary()]
    lines += [f"warning: {w}" for w in report.warnings]
    lines += [f"rejected {e}" for e in report.rejected[: args.show_errors]]
    if len(report.rejected) > args.show_errors:
        lines.append(f"... and {len(report.rejected) - args.show_errors} more rejected rows")
    return report.as_dict(), "\n".join(lines)


def _embed_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog")
    p.add_argument("--what", choices=("all", "text", "image"), default="all")
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="ray: shard the work over Ray Data actors (a local Ray instance, or the "
        "cluster RAY_ADDRESS names); needs the scale extra",
    )
    p.add_argument("--workers", type=int, default=2, help="Ray actors (with --engine ray)")
    p.add_argument(
        "--no-map",
        action="store_true",
        help="skip computing the Embedding map page's default map (done once per change)",
    )


@command(
    "embed",
    "compute missing embeddings",
    _embed_arguments,
)
def _embed(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.embed import embed_images, embed_texts
    from core.models.clip import load_clip
    from core.models.sources import resolve_clip, resolve_text_model
    from core.models.text import load_text_model

    catalog = resolve_catalog(store, settings, args.catalog)
    progress = tqdm_progress(args.quiet)
    reports, notes = [], []
    if args.engine == "ray":
        from core.embed_ray import RayUnavailable, embed_with_ray, start_ray

        if args.workers < 1:
            raise CliError("--workers must be at least 1")
        try:
            start_ray(args.workers)
        except RayUnavailable as exc:
            raise CliError(str(exc)) from None
        notes.append(f"engine: Ray Data, {args.workers} worker(s)")
    if args.what in ("all", "text"):
        source = resolve_text_model(settings)
        notes.append(f"text model: {source.key} [{source.status}] {source.detail}")
        if args.engine == "ray":
            reports.append(embed_with_ray(settings, catalog, "text", args.workers, progress))
        else:
            model = load_text_model(settings)
            notes.append(f"text encoder: {_runtime(model)}")
            reports.append(embed_texts(store, catalog, model, progress))
    if args.what in ("all", "image"):
        source = resolve_clip(settings)
        notes.append(f"CLIP: {source.key} [{source.status}] {source.detail}")
        if args.engine == "ray":
            reports.append(embed_with_ray(settings, catalog, "image", args.workers, progress))
        else:
            reports.append(embed_images(store, catalog, load_clip(settings), progress))
        from core.models.clip_text import load_clip_text

        # Text queries against these images use CLIP's text tower alone: export it now
        # (the full model is loaded already), not in the first search.
        notes.append(f"CLIP text tower for queries: {_runtime(load_clip_text(settings))}")
    if not args.no_map:
        from core.analysis.projection import default_maps

        for projection in default_maps(store, catalog, settings.map_cache_dir, progress):
            origin = (
                "up to date" if projection.cached else f"computed in {projection.seconds:.0f} s"
            )
            notes.append(
                f"default map of {projection.meta.get('kind', '?')} "
                f"[{projection.meta.get('model', '?')}]: {origin}"
            )
    notes += _large_catalog_facts(settings, store, catalog)
    lines = [*notes]
    for r in reports:
        lines.append(
            f"{r.kind} [{r.model_key}]: {r.computed} computed ({r.rate:.1f}/s), "
            f"{r.reused} reused, {r.refreshed} metadata refreshed, {r.skipped} without image, "
            f"{len(r.failed)} failed"
        )
        lines += [f"  failed product {pid}: {why}" for pid, why in r.failed[:20]]
    payload = {"catalog": catalog, "notes": notes, "reports": [r.as_dict() for r in reports]}
    return payload, "\n".join(lines)


def _large_catalog_facts(settings: Settings, store: Store, catalog: str) -> list[str]:
    """A large catalog's facts, built now and kept on disk, so the app's first search after
    a restart reads them instead of every name (minutes at a million products)."""
    from core.catalog.facts_store import STORED_FROM
    from core.lens import get_lens

    if store.products.count(catalog) < STORED_FROM:
        return []
    started = time.perf_counter()
    get_lens(settings).facts(catalog)
    return [f"catalog facts for search: ready ({time.perf_counter() - started:.0f} s)"]


def _show_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("product_id", type=int)
    p.add_argument("--catalog")


@command(
    "show",
    "one product's stored record",
    _show_arguments,
)
def _show(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    catalog = resolve_catalog(store, settings, args.catalog)
    record = store.products.get(catalog, args.product_id)
    if record is None:
        raise CliError(f"catalog {catalog!r} has no product {args.product_id}")
    text = "\n".join(f"{k:>15}: {v}" for k, v in record.items())
    return record, text


@command(
    "stats",
    "catalogs with product/embedding counts",
)
def _stats(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    infos = [store.catalog_info(name) for name in store.catalogs.names()]
    rows = [
        {
            "catalog": i.catalog,
            "source": i.source,
            "kind": i.kind,
            "products": i.products,
            "rows_read": i.rows_read,
            "rejected": i.rejected,
            "ingested_at": i.ingested_at,
            "embeddings": i.vectors,
        }
        for i in infos
        if i is not None
    ]
    lines = [f"store: {store.shown_as}"]
    for r in rows:
        emb = ", ".join(f"{k}={v}" for k, v in r["embeddings"].items()) or "no embeddings"
        lines.append(f"{r['catalog']}: {r['products']} products ({r['kind']}); {emb}")
    return {"db": store.shown_as, "catalogs": rows}, "\n".join(lines)


def _runtime(model: Any) -> str:
    return str(getattr(model, "runtime", "torch"))
