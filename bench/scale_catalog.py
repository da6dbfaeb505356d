"""A synthetic catalog of any size, rebuilt the same from a seed, for measuring the
dashboard at 100k and 1M products.

What is real and what is synthetic:
- Every row is recombined from the real rows of ../shared/data's two Amazon 2023 files
  (9,600 electronics, 5,430 other categories): the first half of one real name's words
  followed by the second half of another real name's words in the same sub-category; the
  categories and image URL of the first; the rating and number of ratings of a third real
  row; the list and sale price of a fourth of the same sub-category, scaled by a seeded
  factor in 0.9–1.1. So names, categories, prices and ratings follow the real
  distributions, and no product exists. Links point at example.invalid/synthetic/<row>;
  the catalog is named synthetic-<size>.
- Text vectors are not computed a million times: each real name is encoded once with the
  app's text model, and a synthetic product's vector is the unit mean of its two parent
  names' vectors plus small seeded noise. They are written through the store's vector
  table with the hash of the product's text, so `productlens embed` sees them as current.

`PYTHONPATH=. .venv/bin/python -m bench.scale_catalog --products 100000` writes
data/scale/synthetic-100k.csv; with `--store data/scale-db` it also ingests the file
through `productlens ingest`'s code and writes the text vectors.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.context import CHECKOUT, KAGGLE_CSV, MIXED_CSV
from core.analysis.data_issues import unit
from core.store import Store

COLUMNS = ("name", "main_category", "sub_category", "image", "link", "ratings",
           "no_of_ratings", "discount_price", "actual_price")  # fmt: skip
NOISE = 0.01  # per dimension, on the unit mean of two 384-d name vectors
BLOCK = 100_000


def size_label(products: int) -> str:
    return f"{products // 1_000_000}m" if products % 1_000_000 == 0 else f"{products // 1000}k"


def catalog_name(products: int) -> str:
    return f"synthetic-{size_label(products)}"


def real_rows(sources: tuple[Path, ...] = (KAGGLE_CSV, MIXED_CSV)) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for source in sources:
        with source.open(encoding="utf-8", newline="") as handle:
            rows += [r for r in csv.DictReader(handle) if (r.get("name") or "").strip()]
    return rows


@dataclass(frozen=True)
class Recipe:
    """Which real rows each synthetic row is made of (index arrays, one entry per row)."""

    head: np.ndarray  # first half of the name, categories, image
    tail: np.ndarray  # second half of the name
    rated: np.ndarray  # rating and number of ratings
    priced: np.ndarray  # prices
    price_scale: np.ndarray


def recipe(rows: list[dict[str, str]], products: int, seed: int) -> Recipe:
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(row.get("sub_category") or "", []).append(i)
    group_of = [groups[r.get("sub_category") or ""] for r in rows]
    head = rng.integers(0, len(rows), products)

    def same_group(picks: np.ndarray) -> np.ndarray:
        return np.fromiter(
            (group_of[h][p % len(group_of[h])] for h, p in zip(head, picks, strict=True)),
            dtype=np.int64, count=products,
        )  # fmt: skip

    return Recipe(
        head=head,
        tail=same_group(rng.integers(0, 1 << 30, products)),
        rated=rng.integers(0, len(rows), products),
        priced=same_group(rng.integers(0, 1 << 30, products)),
        price_scale=rng.uniform(0.9, 1.1, products),
    )


def _scaled_price(raw: str, scale: float) -> str:
    digits = "".join(c for c in raw if c.isdigit() or c == ".")
    if not digits or digits.count(".") > 1:
        return raw
    prefix = raw[: len(raw) - len(raw.lstrip("₹$ "))]
    return f"{prefix}{round(float(digits) * scale):,}"


def synthetic_rows(rows: list[dict[str, str]], plan: Recipe) -> Iterator[list[str]]:
    words = [r["name"].split() for r in rows]
    for i in range(len(plan.head)):
        head, tail = rows[plan.head[i]], plan.tail[i]
        first, second = words[plan.head[i]], words[tail]
        name = " ".join(first[: max(1, (len(first) + 1) // 2)] + second[len(second) // 2 :])
        rated, priced = rows[plan.rated[i]], rows[plan.priced[i]]
        scale = float(plan.price_scale[i])
        yield [
            name, head.get("main_category", ""), head.get("sub_category", ""),
            head.get("image", ""), f"https://example.invalid/synthetic/{i}",
            rated.get("ratings", ""), rated.get("no_of_ratings", ""),
            _scaled_price(priced.get("discount_price", ""), scale),
            _scaled_price(priced.get("actual_price", ""), scale),
        ]  # fmt: skip


def write_csv(
    products: int, out: Path, seed: int = 0, rows: list[dict[str, str]] | None = None
) -> Path:
    rows = rows if rows is not None else real_rows()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(synthetic_rows(rows, recipe(rows, products, seed)))
    return out


def name_vectors(rows: list[dict[str, str]], model: Any, cache: Path) -> np.ndarray:
    """Unit vectors of the real names by the app's text model (kept in `cache`, keyed by
    the names and the model)."""
    names = [r["name"] for r in rows]
    digest = hashlib.sha256("\n".join([model.source.key, *names]).encode()).hexdigest()
    if cache.exists():
        with np.load(cache) as stored:
            if "digest" in stored.files and str(stored["digest"]) == digest:
                return stored["vectors"]
    vectors = model.encode(names, 64).astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=vectors, digest=digest)
    return vectors


def synthetic_vectors(names: np.ndarray, plan: Recipe, seed: int, ids: np.ndarray):
    """Rows `ids`' vectors: the unit mean of the parents' name vectors plus seeded noise."""
    rng = np.random.default_rng([seed, int(ids[0])])
    mean = names[plan.head[ids]] + names[plan.tail[ids]]
    mean += rng.normal(0.0, NOISE, mean.shape).astype(np.float32)
    return unit(mean)


def write_vectors(store: Any, catalog: str, model: Any, names: np.ndarray, plan: Recipe,
                  seed: int) -> int:  # fmt: skip
    """The catalog's text vectors, written through the store's vector table with the hashes
    `embed` checks (a rerun replaces them)."""
    import pyarrow as pa

    from core.embed import text_hash
    from core.store.schema import VECTOR_META, meta_hash

    key = model.source.key
    store.vectors.delete_catalog("text", key, catalog)
    columns = ["product_id", "text_doc", *VECTOR_META]
    products = store.products.where(catalog, columns=columns)
    written = 0
    for start in range(0, products.num_rows, BLOCK):
        block = products.slice(start, BLOCK).to_pylist()
        ids = np.asarray([p["product_id"] for p in block])
        vectors = synthetic_vectors(names, plan, seed, ids)
        table = pa.table({
            "catalog": pa.array([catalog] * len(block)),
            "product_id": pa.array(ids),
            **{name: pa.array([p[name] for p in block]) for name in VECTOR_META},
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), model.dim),
            "source_hash": pa.array([text_hash(p["text_doc"] or "") for p in block]),
            "meta_hash": pa.array([meta_hash(p) for p in block]),
        })  # fmt: skip
        store.vectors.append("text", key, model.dim, table)
        written += len(block)
    return written


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="ingest the file into this store (unless it holds it already) "
        "and write the text vectors",
    )
    args = parser.parse_args()  # fmt: skip
    catalog = catalog_name(args.products)
    out = args.out or CHECKOUT / "data" / "scale" / f"{catalog}.csv"
    record: dict[str, Any] = {"catalog": catalog, "products": args.products, "csv": str(out)}
    if not out.exists():
        started = time.perf_counter()
        write_csv(args.products, out, args.seed)
        record["csv_s"] = round(time.perf_counter() - started, 1)
    if args.store is not None:
        record.update(load_into(Store(args.store), catalog, out, args.products, args.seed))
    print(json.dumps(record, indent=2))
    return record


def load_into(
    store: Any,
    catalog: str,
    csv_path: Path,
    products: int,
    seed: int,
    rows: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Ingest the file (unless the store holds all of it already) and write the vectors
    (`rows`: the real rows the file was made from, when not all of them)."""
    from core.ingest import ingest
    from core.models.text import load_text_model
    from core.settings import Settings

    record: dict[str, Any] = {}
    if store.products.count(catalog) != products:
        started = time.perf_counter()
        record["ingested"] = ingest(store, csv_path, catalog).ingested
        record["ingest_s"] = round(time.perf_counter() - started, 1)
    model = load_text_model(Settings())
    rows = rows if rows is not None else real_rows()
    names = name_vectors(rows, model, csv_path.parent / f"names-{model.source.key}.npz")
    started = time.perf_counter()
    plan = recipe(rows, products, seed)
    record["vectors"] = write_vectors(store, catalog, model, names, plan, seed)
    record["vectors_s"] = round(time.perf_counter() - started, 1)
    return record


if __name__ == "__main__":
    main()
