"""The `productlens` command line.

Every command prints a human summary, or with --json one JSON document on stdout.
Progress bars go to stderr so that --json output stays machine-readable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.catalog import CatalogFormatError
from core.config import Settings, load_settings
from core.models import ModelUnavailable
from core.runs import RunError
from core.search import QueryError
from core.store import Store, StoreError

Handler = Callable[[argparse.Namespace, Settings, Store], tuple[Any, str]]
_COMMANDS: dict[str, Handler] = {}


class CliError(RuntimeError):
    """A failure to report as one line, exit code 2, no traceback."""


def command(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _COMMANDS[name] = handler
        return handler

    return register


def tqdm_progress(quiet: bool = False):
    """A progress callback drawing one tqdm bar per phase, on stderr."""
    if quiet:
        return None
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def update(done: int, total: int, phase: str, note: str = "") -> None:
        bar = bars.get(phase)
        if bar is None:
            bar = bars[phase] = tqdm(total=total, desc=phase, unit="it", file=sys.stderr)
        bar.total = total
        bar.n = done
        if note:
            bar.set_postfix_str(note, refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def resolve_catalog(store: Store, settings: Settings, requested: str | None) -> str:
    if requested:
        if requested not in store.catalogs():
            known = ", ".join(store.catalogs()) or "none yet"
            raise CliError(f"no catalog named {requested!r} (catalogs: {known})")
        return requested
    name = store.default_catalog(settings.catalog)
    if name is None:
        raise CliError(f"the store at {store.path} has no catalog yet: run `productlens ingest`")
    return name


# --- commands ----------------------------------------------------------------------


@command("ingest")
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


@command("embed")
def _embed(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.embed import embed_images, embed_texts
    from core.models import load_clip, load_text_model, resolve_clip, resolve_text_model

    catalog = resolve_catalog(store, settings, args.catalog)
    progress = tqdm_progress(args.quiet)
    reports, notes = [], []
    if args.what in ("all", "text"):
        source = resolve_text_model(settings)
        notes.append(f"text model: {source.key} [{source.status}] {source.detail}")
        reports.append(embed_texts(store, catalog, load_text_model(settings), progress))
    if args.what in ("all", "image"):
        source = resolve_clip(settings)
        notes.append(f"CLIP: {source.key} [{source.status}] {source.detail}")
        reports.append(embed_images(store, catalog, load_clip(settings), progress))
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


@command("show")
def _show(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    catalog = resolve_catalog(store, settings, args.catalog)
    record = store.get_product(catalog, args.product_id)
    if record is None:
        raise CliError(f"catalog {catalog!r} has no product {args.product_id}")
    text = "\n".join(f"{k:>15}: {v}" for k, v in record.items())
    return record, text


@command("stats")
def _stats(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    infos = [store.catalog_info(name) for name in store.catalogs()]
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
    lines = [f"store: {store.path}"]
    for r in rows:
        emb = ", ".join(f"{k}={v}" for k, v in r["embeddings"].items()) or "no embeddings"
        lines.append(f"{r['catalog']}: {r['products']} products ({r['kind']}); {emb}")
    return {"db": str(store.path), "catalogs": rows}, "\n".join(lines)


def _run_search(args: argparse.Namespace, settings: Settings, store: Store):
    from core.images import ImageError, load_rgb
    from core.llm import llm_config
    from core.search import Filters, clean_query
    from core.service import get_lens
    from core.shopping import retrieve, understand_question

    catalog = resolve_catalog(store, settings, args.catalog)
    image = None
    if args.image:
        try:
            image = load_rgb(args.image)
        except (ImageError, OSError) as exc:
            raise CliError(f"cannot use {args.image} as a query image: {exc}") from exc
    filters = Filters(
        min_price=args.min_price,
        max_price=args.max_price,
        min_rating=args.min_rating,
        min_rating_count=args.min_ratings,
        categories=tuple(args.category),
    )
    k = args.k or settings.top_k
    lens = get_lens(settings)
    understood = None
    if clean_query(args.query):
        understood = understand_question(args.query, lens.facts(catalog), None,
                                         llm_config(settings))  # fmt: skip
        if args.literal:
            understood = understood.without({c.key for c in understood.constraints()})
            understood = replace(understood, search_text=understood.question)
    return catalog, retrieve(lens, catalog, understood, image, k, filters, args.hybrid)


def _hit_lines(result) -> list[str]:
    from core.catalog import format_price

    lines = []
    if result.understanding is not None:
        u = result.understanding
        chips = ", ".join(c.label for c in u.constraints()) or "no constraints"
        lines.append(f'understood: "{u.search_text}" · {chips}')
        lines += [f"note: {note}" for note in u.notes]
    if result.alternatives:
        lines.append("nothing meets every constraint: these are the nearest alternatives")
    for hit in result.hits:
        price = format_price(hit.price, hit.currency)
        rating = f"{hit.rating:g}" if hit.rating is not None else "-"
        why = ", ".join(
            f"{name} {value:.2f}"
            for name, value in (("text", hit.text_similarity), ("image", hit.image_similarity))
            if value is not None
        )
        extra = f" | breaks {'; '.join(hit.unmet)}" if hit.unmet else ""
        copies = f" | +{len(hit.duplicate_ids)} identical" if hit.duplicate_ids else ""
        lines.append(
            f"{hit.source:>6} #{hit.rank} [{hit.product_id}] {hit.name[:70]} | {rating} | "
            f"{price} | {why}{copies}{extra}"
        )
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings_ms.items())
    return [*lines, *result.notes, timings]


@command("search")
def _search(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    catalog, result = _run_search(args, settings, store)
    return {"catalog": catalog, **result.as_dict()}, "\n".join(_hit_lines(result))


@command("ask")
def _ask(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    import time

    from core.llm import llm_config
    from core.rag import answer

    settings = settings.with_overrides(llm_model=args.llm, llm_api_base=args.api_base)
    catalog, result = _run_search(args, settings, store)
    started = time.perf_counter()
    reply = answer(args.query, result, llm_config(settings))
    result.timings_ms["llm"] = (time.perf_counter() - started) * 1000
    payload = {"catalog": catalog, **reply.as_dict(), **result.as_dict()}
    lines = [reply.text, ""]
    if reply.invalid_ids:
        lines.append(f"warning: the answer cites ids that were not retrieved: {reply.invalid_ids}")
    for pid, broken in reply.breaking.items():
        lines.append(f"warning: the answer cites {pid}, which breaks {'; '.join(broken)}")
    return payload, "\n".join([*lines, *_hit_lines(result)])


def _number_list(kind: type) -> Callable[[str], list]:
    def parse(raw: str) -> list:
        try:
            return [kind(part) for part in raw.split(",") if part.strip()]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers: {raw}") from exc

    return parse


def _freeze_list(raw: str) -> list[int]:
    """'none,4,8' → [0, 4, 8]: the seed's grid spells 'no frozen layers' as None."""
    return [0 if p.strip().lower() in ("none", "0") else int(p) for p in raw.split(",") if p]


def _run_lines(summaries: list[dict]) -> list[str]:
    lines = []
    for r in summaries:
        before, after = r["accuracy_before"], r["accuracy_after"]
        acc = f"acc {before:.3f} → {after:.3f}" if before is not None and after is not None else ""
        lines.append(
            f"{r['run_id']}  {r['status']:<7} base={r['base']} epochs={r['epochs']} "
            f"batch={r['batch_size']} lr={r['lr']} frozen={r['freeze_vision']} {acc}"
        )
    return lines


@command("runs")
def _runs(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.runs import list_runs

    summaries = [r.summary() for r in list_runs(settings.runs_dir)]
    lines = _run_lines(summaries) or [f"no runs in {settings.runs_dir}"]
    return {"runs_dir": str(settings.runs_dir), "runs": summaries}, "\n".join(lines)


def _training_pairs(args: argparse.Namespace, settings: Settings, store: Store) -> tuple:
    from core.finetune import catalog_pairs, folder_pairs

    pairs, sources = [], []
    for folder in args.images_dir:
        pairs += folder_pairs(Path(folder), args.template)
        sources.append(str(folder))
    if args.catalog or not pairs:
        catalog = resolve_catalog(store, settings, args.catalog)
        rows = store.products_where(
            catalog, columns=["product_id", "name", "image_path", "image_status"]
        ).to_pylist()
        labels = None
        if args.labeller:
            from core.labels import stored_labels

            labels = stored_labels(store, catalog, args.labeller, _vocabulary(None))
            if not labels:
                raise CliError(
                    f"no {args.labeller} labels for {catalog!r}: run `productlens label`"
                )
        template = args.template if args.pair_text == "label" else None
        pairs += catalog_pairs(rows, catalog, labels, template)
        sources.append(f"catalog:{catalog}")
    return pairs, sources


@command("finetune")
def _finetune(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.finetune import TrainConfig, copy_parts, resume, run_sweep, sweep_configs
    from core.models import build_clip, resolve_clip

    progress = tqdm_progress(args.quiet)
    if args.resume:
        record = resume(settings.runs_dir, args.resume, (args.epochs or [None])[-1], progress)
        return record.as_dict(), "\n".join(_run_lines([record.summary()]))
    source = resolve_clip(settings)
    if args.if_missing:
        from core.runs import list_runs

        done = [
            r
            for r in list_runs(settings.runs_dir)
            if r.name == args.name and r.status == "done" and r.base.get("key") == source.key
        ]
        if done:
            summaries = [done[0].summary()]
            return {"runs": summaries, "skipped": True}, "\n".join(_run_lines(summaries))
    try:
        base_config = TrainConfig(
            optimizer=args.optimizer,
            weight_decay=args.weight_decay,
            freeze_text=args.freeze_text,
            seed=args.seed,
            augment=args.augment,
            wise_alpha=args.wise_alpha,
            templates=(args.template,),
        )
        grid = {
            "epochs": args.epochs or [5],
            "batch_size": args.batch_size or [32],
            "freeze_vision": args.freeze_vision or [0],
            "lr": args.lr or [5e-6],
        }
        configs = sweep_configs(base_config, grid)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    pairs, sources = _training_pairs(args, settings, store)
    base = {"spec": source.spec, "load": source.load, "key": source.key, "status": source.status}
    parts = build_clip(source)
    make = (lambda: copy_parts(parts)) if len(configs) > 1 else (lambda: parts)
    try:
        records, failures = run_sweep(
            make, base, pairs, configs, settings.runs_dir, args.name, sources, progress
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if not records:
        raise CliError("no run finished: " + "; ".join(f"{n}: {why}" for n, why in failures))
    summaries = [r.summary() for r in records]
    lines = [f"base CLIP: {source.key} [{source.status}]", *_run_lines(summaries)]
    lines += [f"failed {name}: {why}" for name, why in failures]
    lines.append("use a run with --clip run:RUN_ID (or PRODUCTLENS_CLIP=run:RUN_ID)")
    return {"base": base, "runs": [r.as_dict() for r in records]}, "\n".join(lines)


@command("offline-clip")
def _offline_clip(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.offline_clip import TRAINING, describe, ensure_offline_clip, with_epochs

    result = ensure_offline_clip(
        settings,
        args.force,
        args.if_needed,
        with_epochs(TRAINING, args.epochs),
        progress=tqdm_progress(args.quiet),
    )
    lines = [f"offline CLIP {result.status}: {result.directory} ({result.detail})"]
    if result.meta:
        lines.append("trained on: " + "; ".join(result.meta.get("trained_on", [])))
        lines += describe(result.meta)
    for query, names in (result.meta.get("probes") or {}).items():
        lines.append(f"'{query}': " + " | ".join(n[:40] for n in names[:3]))
    payload = result.as_dict()
    if args.generality:
        from core.generality import leave_classes_out

        report = leave_classes_out(settings, progress=tqdm_progress(args.quiet))
        payload["generality"] = report
        lines += report["lines"]
    return payload, "\n".join(lines)


def _vocabulary(path: str | None) -> list[str]:
    from core.labels import VOCABULARY

    if not path:
        return list(VOCABULARY)
    words = [w.strip() for w in Path(path).read_text(encoding="utf-8").splitlines()]
    words = list(dict.fromkeys(w for w in words if w and not w.startswith("#")))
    if len(words) < 2:
        raise CliError(f"{path} needs at least two classes, one per line")
    return words


@command("label")
def _label(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.labels import LOCAL_LABELLER, agreement, label_catalog, stored_labels
    from core.llm import llm_config
    from core.models import load_text_model

    catalog = resolve_catalog(store, settings, args.catalog)
    vocabulary = _vocabulary(args.vocabulary)
    settings = settings.with_overrides(llm_model=args.llm, llm_api_base=args.api_base)
    llm = None if args.local else llm_config(settings)
    encode = None if llm else load_text_model(settings).encode
    run = label_catalog(
        store, catalog, vocabulary, llm, encode, args.batch_size, tqdm_progress(args.quiet)
    )
    payload = run.as_dict()
    lines = [
        f"{catalog}: {len(run.labels)} products labelled by {run.labeller} "
        f"({run.reused} from cache); methods {payload['methods']}"
    ]
    if llm is None and not args.local:
        lines.append("no LLM configured (PRODUCTLENS_LLM_MODEL / --llm): used the local labeller")
    other = LOCAL_LABELLER if llm else None
    if other is None:
        llm_sets = [lab for lab, _, _ in store.labellers(catalog) if lab.startswith("llm:")]
        other = llm_sets[0] if llm_sets else None
    if other:
        agree = agreement(run.by_product(), stored_labels(store, catalog, other, vocabulary))
        payload["agreement"] = {"with": other, **agree}
        if agree["n"]:
            lines.append(
                f"agreement with {other}: {agree['rate']:.3f} on {agree['n']} products "
                f"(Cohen's kappa {agree['kappa']:.3f})"
            )
    lines += [f"  {label:<20} {n}" for label, n in payload["distribution"].items()]
    return payload, "\n".join(lines)


@command("evaluate")
def _evaluate(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.evaluate import evaluate_cached
    from core.models import load_clip
    from core.zeroshot import DEFAULT_TEMPLATES, PRODUCT_TEMPLATES

    templates = tuple(args.template) or (PRODUCT_TEMPLATES if args.ensemble else DEFAULT_TEMPLATES)
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    clip = load_clip(settings)
    progress = tqdm_progress(args.quiet)
    try:
        if args.images_dir:
            evaluation, cached = evaluate_cached(
                store, clip, folder=Path(args.images_dir), classes=classes,
                templates=templates, refresh=args.refresh, progress=progress,
            )  # fmt: skip
        else:
            catalog = resolve_catalog(store, settings, args.catalog)
            evaluation, cached = evaluate_cached(
                store, clip, catalog=catalog, labeller=args.labeller,
                vocabulary=_vocabulary(args.vocabulary), classes=classes,
                templates=templates, refresh=args.refresh, progress=progress,
            )  # fmt: skip
    except (ValueError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from exc
    payload = {**evaluation.as_dict(with_items=args.items), "cached": cached}
    report = evaluation.report
    lines = [evaluation.summary_line() + (" (cached)" if cached else "")]
    for c in report.per_class:
        acc = f"{c.accuracy:.3f}" if c.accuracy is not None else "  -  "
        lines.append(f"  {c.label:<20} {acc}  n={c.support}")
    if evaluation.retrieval and "recall@1" in evaluation.retrieval:
        r = evaluation.retrieval
        lines.append(
            f"name→image recall@1 {r['recall@1']:.3f}, @5 {r['recall@5']:.3f}, "
            f"@10 {r['recall@10']:.3f} (n={r['n']})"
        )
    return payload, "\n".join(lines)


@command("bench")
def _bench(args: argparse.Namespace, settings: Settings, store: Store) -> tuple[Any, str]:
    from core.bench import RESULTS, results_paths, run_bench

    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    try:
        document = run_bench(settings, args.quick, only)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    failed = [n for n, suite in document["suites"].items() if suite["error"]]
    json_path, md_path = results_paths(RESULTS, args.quick)
    lines = [md_path.read_text(), f"written: {json_path}"]
    if failed:
        lines.append(f"suites that failed: {', '.join(failed)}")
    return document, "\n".join(lines)


# --- parser -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    # Global options are accepted before or after the sub-command; SUPPRESS keeps the
    # sub-parser from overwriting a value given before it with its own default.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--db", help="LanceDB directory (env PRODUCTLENS_DB)")
    common.add_argument("--json", action="store_true", help="print one JSON document")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    common.add_argument("--clip", help="CLIP: NAME/TAG, hf-hub:ORG/REPO or a checkpoint dir")
    common.add_argument("--text-model", help="Sentence-BERT model id or local path")

    parser = argparse.ArgumentParser(
        prog="productlens", description="ProductLens catalog tools", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", parents=[common], help="read a catalog CSV or folder")
    p.add_argument("path", help="Kaggle CSV, or a folder with manifest.csv")
    p.add_argument("--catalog", help="catalog name (default: from the file name)")
    p.add_argument("--download-images", action="store_true", help="fetch image URLs")
    p.add_argument("--workers", type=int, default=8, help="concurrent downloads")
    p.add_argument("--show-errors", type=int, default=20, help="rejected rows to list")

    p = sub.add_parser("embed", parents=[common], help="compute missing embeddings")
    p.add_argument("--catalog")
    p.add_argument("--what", choices=("all", "text", "image"), default="all")

    p = sub.add_parser("show", parents=[common], help="one product's stored record")
    p.add_argument("product_id", type=int)
    p.add_argument("--catalog")

    sub.add_parser("stats", parents=[common], help="catalogs with product/embedding counts")

    p = sub.add_parser("search", parents=[common], help="top-k from the text and image indexes")
    _search_arguments(p)

    p = sub.add_parser("ask", parents=[common], help="search, then answer as a shopping assistant")
    _search_arguments(p)
    p.add_argument("--llm", help="LiteLLM model string (env PRODUCTLENS_LLM_MODEL)")
    p.add_argument("--api-base", help="OpenAI-compatible base URL (env PRODUCTLENS_LLM_API_BASE)")

    sub.add_parser("runs", parents=[common], help="list fine-tuning runs")

    p = sub.add_parser(
        "finetune",
        parents=[common],
        help="contrastive fine-tuning of the --clip model; comma lists make a sweep",
    )
    p.add_argument("--images-dir", action="append", default=[], help="one sub-folder per class")
    p.add_argument("--catalog", help="(product image, name) pairs from a catalog")
    p.add_argument("--template", default="a photo of {label}", help="class prompt")
    p.add_argument("--labeller", help="attach this label set to catalog pairs (per-class scores)")
    p.add_argument(
        "--pair-text", choices=("name", "label"), default="name",
        help="catalog pairs: product name, or the class prompt of its label",
    )  # fmt: skip
    p.add_argument("--epochs", type=_number_list(int), help="e.g. 5 or 2,4,10")
    p.add_argument("--batch-size", type=_number_list(int), help="e.g. 32 or 16,32,64")
    p.add_argument("--lr", type=_number_list(float), help="e.g. 5e-6 or 1e-7,1e-6,5e-6")
    p.add_argument("--freeze-vision", type=_freeze_list, help="frozen vision blocks: none,4,8")
    p.add_argument("--freeze-text", action="store_true", help="keep the text tower fixed")
    p.add_argument("--optimizer", choices=("adam", "adamw"), default="adamw")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--augment", choices=("none", "light", "strong"), default="light")
    p.add_argument("--wise-alpha", type=float, help="WiSE-FT weight-space ensembling, 0–1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="finetune")
    p.add_argument("--resume", metavar="RUN_ID", help="continue a run (--epochs: new total)")
    p.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when a finished run of this --name from the same base model exists",
    )

    p = sub.add_parser("label", parents=[common], help="pseudo-label products from their names")
    p.add_argument("--catalog")
    p.add_argument("--llm", help="LiteLLM model string (env PRODUCTLENS_LLM_MODEL)")
    p.add_argument("--api-base", help="OpenAI-compatible base URL")
    p.add_argument("--local", action="store_true", help="local labeller even if an LLM is set")
    p.add_argument("--batch-size", type=int, default=25, help="names per LLM request")
    p.add_argument("--vocabulary", help="file with one class per line (default: 29 classes)")

    p = sub.add_parser("evaluate", parents=[common], help="zero-shot accuracy of --clip")
    p.add_argument("--images-dir", help="folder with one sub-folder per class")
    p.add_argument("--catalog", help="catalog whose pseudo-labels are the truth")
    p.add_argument("--labeller", help="label set to use (default: local rules + MiniLM)")
    p.add_argument("--vocabulary", help="the vocabulary the labels were made with")
    p.add_argument("--classes", help="comma-separated subset (default: analysis classes)")
    p.add_argument("--template", action="append", default=[], help="prompt with {label}")
    p.add_argument("--ensemble", action="store_true", help="average several prompt templates")
    p.add_argument("--refresh", action="store_true", help="recompute even if stored")
    p.add_argument("--items", action="store_true", help="include per-item predictions in JSON")

    p = sub.add_parser("bench", parents=[common], help="benchmarks → bench/results/bench.*")
    p.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    p.add_argument("--only", help="comma-separated suites, e.g. query,ann")

    p = sub.add_parser(
        "offline-clip",
        parents=[common],
        help="build the offline CLIP from packaged towers (data/models/offline-clip)",
    )
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument("--if-needed", action="store_true", help="skip when pretrained CLIP works")
    p.add_argument("--epochs", type=int, help="override the recipe's adapter epochs")
    p.add_argument(
        "--generality",
        action="store_true",
        help="also measure zero-shot on kinds left out of training (leave-classes-out)",
    )
    return parser


def _search_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", nargs="?", default="", help="text query")
    p.add_argument("--image", help="image file to search with")
    p.add_argument("--catalog")
    p.add_argument("--k", type=int, help="results per index (default 5)")
    p.add_argument("--min-price", type=float)
    p.add_argument("--max-price", type=float)
    p.add_argument("--min-rating", type=float)
    p.add_argument("--min-ratings", type=int, help="minimum number of ratings")
    p.add_argument("--category", action="append", default=[], help="repeatable")
    p.add_argument("--hybrid", action="store_true", help="fuse full-text search on names")
    p.add_argument(
        "--literal",
        action="store_true",
        help="search the words as typed: no constraints are read from the question",
    )


_GLOBAL_DEFAULTS = {"db": None, "json": False, "quiet": False, "clip": None, "text_model": None}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name, default in _GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    settings = load_settings().with_overrides(
        db_path=Path(args.db) if args.db else None,
        clip_model=args.clip,
        text_model=args.text_model,
    )
    store = Store(settings.db_path)
    try:
        payload, text = _COMMANDS[args.command](args, settings, store)
    except (
        CliError,
        CatalogFormatError,
        StoreError,
        ModelUnavailable,
        QueryError,
        RunError,
        OSError,
    ) as exc:
        if args.json:
            print(json.dumps({"error": str(exc)}))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(payload, indent=2, default=str, ensure_ascii=False))
    else:
        print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
