"""How well `productlens issues` finds label errors, measured where the truth is known.

- pc_parts with 10% of its labels flipped at random (seed 0) to another class: precision
  and recall of the flagged errors at the analysis' threshold, from 5-fold out-of-sample
  predictions on the stored frozen-trunk features; with 95% Wilson intervals and the
  ranking's AUROC. pc_parts' own folders hold wrong photos (speakers under "microphone",
  PC cases under "ram"), so precision is given twice: counting only the flipped labels
  as errors, and counting as errors too the photos whose folder label is wrong by
  bench/data/pc-parts-folder-audit.csv. That file holds every photo the analysis flags on
  the folder labels, and every unflipped photo it flags in this seed-0 run (233), each
  judged by looking at it, blind to the model's suggestion's correctness: "wrong" when
  the photo's subject is another class or none of the 14 (a PC case under "cables", a
  CPU cooler under "cpu", a chart of computer parts under "microphone"); "right" when
  the class is its subject, or a part of it, or plausibly so (an SSD under "hdd", a
  headset stand under "headset", a desk where the class is in view). A flagged photo it
  does not hold counts as a false flag.
- office_items (1,282 photos, 4 classes) flipped the same way, with nothing chosen on
  it: whether the settings chosen on pc_parts carry over to another photo set.
- The sample's pseudo-labels against five hand-checked lists, each judged by reading each
  name against the 29 classes, blind to the flags (strict: a lens is not a camera; the
  catch-all classes are accepted for one another): bench/data/sample-label-audit.csv, 60
  products drawn at random (seed 7); bench/data/sample-label-audit-2.csv, 40 more drawn
  with `random.Random(8).sample` from the other 234, of which 39 have a label to judge;
  bench/data/sample-label-audit-3.csv, 60 more drawn with `random.Random(9).sample` from
  the 195 still unchecked, committed before any change was tried against it, so it is
  the held-out check of the analysis as it stood after the first two lists. The guessed
  labels' treatment (`core.analysis.labels.is_guess`) was then chosen on those 159;
  bench/data/sample-label-audit-4.csv (seed 10, from the 135 left) and -5.csv (seed 11,
  from the 75 left) were each committed before it was measured on them. Only -5 is
  clean: the first version of the change was scored on -4, and what it taught (a
  catch-all guess is no guess) went into the second. Every list is also scored apart on
  the guessed labels and on those a keyword (or a person) named.
  The labeller's v2 rules and the description check were then written with all five
  lists read, so none of them is held out for those; a list's verdict on the v1 label it
  judged gives the class, against which a changed label is scored (`_checks`). The last
  15 products (bench/data/sample-classes-6.csv) were given their classes by hand after
  that and before anything was measured on them: too few for a figure on their own, they
  complete the sample (all 294 checked).
- The 9,600-product Kaggle file's pseudo-labels (names only: its photos cannot be fetched
  offline) against bench/data/electronics-label-audit.csv: 100 products drawn with
  `random.Random(12).sample` over its sorted ids and judged by the same rules (read while
  writing v2); and bench/data/electronics-classes-13.csv: 100 more (seed 13, from the
  rest), each given its acceptable classes from the name alone, committed before v2 or
  the description check was measured on it; its errors were then read, and lifting
  cleanlab's count cap where the description check agrees was kept because it won (F1)
  on bench/data/electronics-classes-14.csv (seed 14, 100 more, written before that
  comparison): the held-out check of the whole.

`PYTHONPATH=. .venv/bin/python -m bench.data_issues` writes bench/results/data-issues.json.
Needs `make data` (pc_parts registered, the sample labelled and embedded); the Kaggle
file is ingested, embedded and labelled on the first run (about 2 minutes), in the
quality benchmarks' store.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.context import CHECKOUT, KAGGLE_CSV, RESULTS
from core.metrics import wilson_interval

AUDIT = CHECKOUT / "bench" / "data" / "sample-label-audit.csv"
AUDIT_2 = CHECKOUT / "bench" / "data" / "sample-label-audit-2.csv"
AUDIT_3 = CHECKOUT / "bench" / "data" / "sample-label-audit-3.csv"
AUDIT_4 = CHECKOUT / "bench" / "data" / "sample-label-audit-4.csv"
AUDIT_5 = CHECKOUT / "bench" / "data" / "sample-label-audit-5.csv"
SAMPLE_REST = CHECKOUT / "bench" / "data" / "sample-classes-6.csv"
PC_PARTS_AUDIT = CHECKOUT / "bench" / "data" / "pc-parts-folder-audit.csv"
ELECTRONICS_AUDIT = CHECKOUT / "bench" / "data" / "electronics-label-audit.csv"
ELECTRONICS_13 = CHECKOUT / "bench" / "data" / "electronics-classes-13.csv"
ELECTRONICS_14 = CHECKOUT / "bench" / "data" / "electronics-classes-14.csv"


def _rates(flagged: set, wrong: set) -> dict[str, Any]:
    hits = len(flagged & wrong)
    return {
        "flagged": len(flagged), "wrong": len(wrong), "both": hits,
        "precision": round(hits / max(1, len(flagged)), 3),
        "precision_95ci": [round(x, 3) for x in wilson_interval(hits, max(1, len(flagged)))],
        "recall": round(hits / max(1, len(wrong)), 3),
        "recall_95ci": [round(x, 3) for x in wilson_interval(hits, max(1, len(wrong)))],
    }  # fmt: skip


def flipped(
    name: str, share: float = 0.1, seed: int = 0, audit: Path | None = None
) -> dict[str, Any]:
    """A registered dataset with `share` of its labels flipped at random; `audit`: its
    folders' own errors judged by eye (photo, verdict), counted as errors too."""
    from sklearn.metrics import roc_auc_score

    from core.analysis.data_issues import find_issues, out_of_sample_probabilities
    from core.analysis.issue_sources import photo_features
    from core.datasets.registry import load_dataset
    from core.lens import get_lens
    from core.models.activation_cache import ActivationCache

    lens = get_lens()
    dataset = load_dataset(lens.store, name)
    started = time.perf_counter()
    kept, features = photo_features(dataset, ActivationCache(lens.settings.activation_cache_dir))
    read_s = time.perf_counter() - started
    keys = [p.key for p in kept]
    given = [p.label or "" for p in kept]
    classes = sorted(set(given))
    rng = np.random.default_rng(seed)
    flips = rng.choice(len(kept), size=round(len(kept) * share), replace=False)
    noisy = list(given)
    for i in flips:
        noisy[i] = str(rng.choice([c for c in classes if c != given[i]]))
    started = time.perf_counter()
    issues = find_issues(dataset.ident, "lite1", "flipped", keys, keys, noisy, features)
    analysis_s = time.perf_counter() - started
    clean = find_issues(dataset.ident, "lite1", "folders", keys, keys, given, features)
    flagged = {i.key for i in issues.label_issues}
    wrong = {keys[i] for i in flips}
    already = {i.key for i in clean.label_issues}
    verdicts = list(csv.DictReader(audit.open(encoding="utf-8"))) if audit else []
    folder_wrong = {r["photo"] for r in verdicts if r["verdict"] == "wrong"}
    audited = {r["photo"] for r in verdicts}
    index = {c: i for i, c in enumerate(classes)}
    labels = np.asarray([index[n] for n in noisy])
    probabilities = out_of_sample_probabilities(features, labels)
    suspicion = -probabilities[np.arange(len(labels)), labels]
    truth = np.isin(np.arange(len(labels)), flips)
    top = np.argsort(-suspicion)[: len(wrong)]
    audited_figures = {
        "counting_audited_folder_errors": {
            k: v
            for k, v in _rates(flagged, wrong | folder_wrong).items()
            if k in ("flagged", "both", "precision", "precision_95ci")
        },
        "flagged_unflipped_not_audited": len(flagged - wrong - audited),
        "folder_flags_audited_wrong": len(already & folder_wrong),
    }
    return {
        "photos": len(kept), "classes": len(classes), "flipped": len(wrong),
        **_rates(flagged, wrong),
        **(audited_figures if audit else {}),
        "flagged_on_the_folder_labels": len(already),
        "ranking_auroc": round(float(roc_auc_score(truth, suspicion)), 3),
        "precision_at_k_flipped": round(float(truth[top].mean()), 3),
        "out_of_sample_accuracy": issues.out_of_sample_accuracy,
        "stored_features_read_s": round(read_s, 1), "analysis_s": round(analysis_s, 1),
    }  # fmt: skip


def _checks(path: Path, labels: dict[int, str | None]) -> list[dict[str, str]]:
    """A hand-checked list as verdicts on `labels`. A list names each product's acceptable
    classes (`classes`, ";"-separated), or (the older lists) gives a verdict on the label it
    judged, which says the class: that label when right, its better label when wrong. The
    catch-all classes are accepted for one another. `rejudged`: the label is not the one
    an older list judged, so it is scored against the class the list gave."""
    from core.analysis.labels import CATCH_ALL

    def right(label: str | None, accepted: set[str]) -> bool:
        return label in accepted or (label in CATCH_ALL and bool(accepted & set(CATCH_ALL)))

    rows = []
    for row in csv.DictReader(path.open(encoding="utf-8")):
        label = labels.get(int(row["product_id"]))
        if "classes" in row:
            accepted, judged = set(row["classes"].split(";")), label
        else:
            judged = row["pseudo_label"]
            accepted = {row["better_label"] if row["verdict"] == "wrong" else judged}
        verdict = row.get("verdict", "") if label == judged else ""
        verdict = verdict or ("right" if right(label, accepted) else "wrong")
        rows.append({"product_id": row["product_id"], "verdict": verdict,
                     "rejudged": str(label != judged)})  # fmt: skip
    return rows


def _audit_rates(flagged: set[str], guessed: set[str], rows: list[dict[str, str]]) -> dict:
    """Precision and recall of the flags on a hand-checked list, and apart on the labels
    the labeller guessed and on the others."""

    def rates(part: list[dict[str, str]]) -> dict[str, Any]:
        checked = {r["product_id"] for r in part}
        wrong = {r["product_id"] for r in part if r["verdict"] == "wrong"}
        return {"checked": len(checked), **_rates(flagged & checked, wrong)}

    return {
        **rates(rows),
        "labels_right": sum(r["verdict"] == "right" for r in rows),
        "rejudged": sum(r["rejudged"] == "True" for r in rows),
        "guessed_labels": rates([r for r in rows if r["product_id"] in guessed]),
        "keyword_labels": rates([r for r in rows if r["product_id"] not in guessed]),
    }


def _judged(
    store: Any, catalog: str, vector_keys: dict[str, str], encode: Any
) -> tuple[Any, dict, set]:
    """A catalog's issues by the local labeller's labels, those labels, and which of them
    the labeller guessed."""
    from core.analysis.issue_sources import catalog_issues
    from core.analysis.labels import LOCAL_LABELLER, VOCABULARY, is_guess, vocab_hash

    vocab = vocab_hash(VOCABULARY)
    issues, _ = catalog_issues(store, catalog, LOCAL_LABELLER, vocab, vector_keys, encode)
    rows = store.labels.rows(catalog, LOCAL_LABELLER, vocab)
    labels = {r["product_id"]: r["label"] for r in rows}
    guessed = {str(r["product_id"]) for r in rows if is_guess(r["method"], r["label"])}
    return issues, labels, guessed


def _first_rules_right(store: Any, catalog: str, paths: list[Path], encode: Any) -> dict[str, int]:
    """How many of each list's products the labeller's first rules (v1) labelled right."""
    from core.analysis.labels import RULES_V1, VOCABULARY, label_locally

    names = dict(
        store.products.where(catalog, columns=["product_id", "name"])
        .to_pandas()[["product_id", "name"]].itertuples(index=False, name=None)
    )  # fmt: skip
    found = {}
    for path in paths:
        ids = [int(r["product_id"]) for r in csv.DictReader(path.open(encoding="utf-8"))]
        first = label_locally([(i, names[i]) for i in ids], VOCABULARY, encode, RULES_V1)
        rows = _checks(path, {lab.product_id: lab.label for lab in first})
        found[path.name] = sum(r["verdict"] == "right" for r in rows)
    return found


def sample_audit() -> dict[str, Any]:
    from core.analysis.issue_sources import catalog_vector_keys
    from core.analysis.labels import LOCAL_LABELLER
    from core.lens import get_lens

    lens = get_lens()
    encode = lens.text_model().encode
    keys = catalog_vector_keys(lens.store, "sample", lens.text_source.key, lens.clip_source.key)
    issues, labels, guessed = _judged(lens.store, "sample", keys, encode)
    found = {i.key for i in issues.label_issues}
    paths = [AUDIT, AUDIT_2, AUDIT_3, AUDIT_4, AUDIT_5, SAMPLE_REST]
    first, fresh, third, fourth, fifth, rest = (_checks(path, labels) for path in paths)

    def scored(rows: list[dict[str, str]]) -> dict[str, Any]:
        return _audit_rates(found, guessed, rows)

    return {
        "labeller": LOCAL_LABELLER,
        # The first five lists were read while writing the labeller's v2 rules and
        # choosing the description check, so none of them is held out for those (the last
        # 15 and the electronics list of seed 14 are). The analysis and its treatment of
        # guesses were chosen on the first three.
        "first_99": scored(first + fresh), "third_60": scored(third),
        "chosen_on_159": scored(first + fresh + third),
        "seed_10_60": scored(fourth), "seed_11_60": scored(fifth),
        "all_279": scored(first + fresh + third + fourth + fifth),
        "held_out_last_15": scored(rest),  # classes written before v2 met them
        "all_294": scored(first + fresh + third + fourth + fifth + rest),
        "first_rules_labels_right": _first_rules_right(lens.store, "sample", paths, encode),
        "flagged_in_catalog": len(issues.label_issues),
        "flagged_guesses": sum(i.guessed for i in issues.label_issues),
        "guessed_labels": issues.guessed_labels, "products": issues.items,
    }  # fmt: skip


def electronics_audit() -> dict[str, Any]:
    """The 9,600-product Kaggle file's local pseudo-labels against its hand-checked lists,
    judged on the names' vectors alone (its photos cannot be fetched offline). The catalog
    is built once in the quality benchmarks' store and reused."""
    from bench.quality import BENCH_DB
    from core.analysis.labels import LOCAL_LABELLER, VOCABULARY, label_catalog, vocab_hash
    from core.embed import embed_texts
    from core.ingest import ingest
    from core.models.text import load_text_model
    from core.settings import load_settings
    from core.store import Store

    if not KAGGLE_CSV.exists():
        return {"skipped": f"no catalog at {KAGGLE_CSV}"}
    store, text = Store(BENCH_DB), load_text_model(load_settings())
    ingest(store, KAGGLE_CSV, catalog="electronics")  # only what is missing
    embed_texts(store, "electronics", text)
    if not store.labels.rows("electronics", LOCAL_LABELLER, vocab_hash(VOCABULARY)):
        label_catalog(store, "electronics", encode=text.encode)
    vectors = {"text": text.source.key}
    issues, labels, guessed = _judged(store, "electronics", vectors, text.encode)
    found = {i.key for i in issues.label_issues}
    paths = [ELECTRONICS_AUDIT, ELECTRONICS_13, ELECTRONICS_14]
    return {
        "labeller": LOCAL_LABELLER, "vectors": issues.model,
        # seed 12: read while writing the v2 rules; seed 13: held out for v2 and the
        # description check, then read, before the count cap was lifted; seed 14: held out
        # for all of it (classes from the names alone, written before anything met it)
        "seed_12_100": _audit_rates(found, guessed, _checks(ELECTRONICS_AUDIT, labels)),
        "seed_13_100": _audit_rates(found, guessed, _checks(ELECTRONICS_13, labels)),
        "held_out_seed_14_100": _audit_rates(found, guessed, _checks(ELECTRONICS_14, labels)),
        "first_rules_labels_right": _first_rules_right(store, "electronics", paths, text.encode),
        "flagged_in_catalog": len(issues.label_issues),
        "flagged_guesses": sum(i.guessed for i in issues.label_issues),
        "guessed_labels": issues.guessed_labels, "products": issues.items,
    }  # fmt: skip


def main() -> dict[str, Any]:
    record = {
        "pc_parts_10pct_flipped": flipped("pc-parts", audit=PC_PARTS_AUDIT),
        # Nothing was chosen on office_items: a check that the settings carry over.
        "office_items_10pct_flipped": flipped("office-items"),
        "sample_audit": sample_audit(),
        "electronics_audit": electronics_audit(),
    }
    (RESULTS / "data-issues.json").write_text(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
