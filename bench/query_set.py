"""The labelled query set and the retrieval-quality measures computed on it.

Relevance is judged from the labels only (what a person means, the subject words, must
and must-not products), never from the parser being measured: a brand is the name's
first word (past "(Renewed)"), a price is the product's price. For each question a
system gives a ranked top 5 and the products its answer recommends; from these come

* constraint satisfaction — the share of recommended products that meet what was meant;
* success@5 — a relevant product in the top 5 (for a question nothing fits: the answer
  recommends nothing);
* nDCG@5 — graded 2 for must products, 1 for other relevant ones, over the catalog's ideal;
* repeated listings — identical listings (same name and price) shown twice in the top 5.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.catalog.audience import suits
from core.catalog.facts import CatalogFacts, listing_key
from core.catalog.words import compact, words
from core.metrics import wilson_interval

QUERY_SET = Path(__file__).resolve().parent.parent / "bench" / "query_set.json"
TOP = 5


@dataclass(frozen=True)
class LabelledQuery:
    id: str
    catalog: str
    question: str
    means: dict[str, Any]
    subject: tuple[tuple[str, ...], ...]
    must: tuple[int, ...] = ()
    must_not: tuple[int, ...] = ()
    expect_none: bool = False
    held_out: bool = False  # written after the parser was, and never used to tune it
    failure: str = ""  # the kind of question it tests: "negation", "typo", "category", …
    twin_of: str = ""  # a misspelt twin: the id of the correctly spelt question


def load_query_set(path: Path = QUERY_SET) -> list[LabelledQuery]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        LabelledQuery(
            id=q["id"], catalog=q["catalog"], question=q["question"], means=q.get("means", {}),
            subject=tuple(tuple(p.lower() for p in group) for group in q.get("subject", [])),
            must=tuple(q.get("must", [])), must_not=tuple(q.get("must_not", [])),
            expect_none=bool(q.get("expect_none", False)),
            held_out=bool(q.get("held_out", False)),
            failure=q.get("failure", ""), twin_of=q.get("twin_of", ""),
        )
        for q in data["queries"]
    ]  # fmt: skip


@dataclass
class Judge:
    """Relevance grades of one query over one catalog's products."""

    query: LabelledQuery
    facts: CatalogFacts

    def meets(self, product_id: int) -> bool:
        """Whether the product meets what the person means (and is not a must-not)."""
        if product_id in self.query.must_not:
            return False
        at = self.facts.position(product_id)
        if at is None:
            return False
        means = self.query.means
        price = self.facts.price[at]
        name = self.facts.names[at]
        checks = [
            ("max_price", lambda v: price <= v),
            ("min_price", lambda v: price >= v),
            ("min_rating", lambda v: self.facts.rating[at] >= v),
            ("min_rating_count", lambda v: self.facts.rating_count[at] >= v),
            ("min_discount", lambda v: self.facts.discount[at] >= v - 1e-9),
            ("brands", lambda v: _maker(name) in {b.lower() for b in v}),
            ("keywords", lambda v: all(compact(k) in compact(name) for k in v)),
            ("excluded_brands", lambda v: not _names_any(name, v) and _maker(name) not in v),
            ("excluded_words", lambda v: not _names_any(name, v)),
            ("fits", lambda v: _names_any(name, v)),
            ("audience", lambda v: suits(name, tuple(v))),
        ]
        with np.errstate(invalid="ignore"):
            return all(bool(test(means[key])) for key, test in checks if key in means)

    def grade(self, product_id: int) -> int:
        if not self.meets(product_id):
            return 0
        if product_id in self.query.must:
            return 2
        at = self.facts.position(product_id)
        name = self.facts.names[at].lower() if at is not None else ""
        return int(all(any(p in name for p in group) for group in self.query.subject))

    def ideal(self) -> list[int]:
        grades = sorted((self.grade(int(pid)) for pid in self.facts.ids), reverse=True)
        return [g for g in grades[:TOP] if g > 0]


def _maker(name: str) -> str:
    """The name's first word, past a condition prefix ("(Renewed) JBL Tune …" is JBL's)."""
    tokens = [t for t in words(name) if t not in ("renewed", "refurbished")]
    return tokens[0] if tokens else ""


def _names_any(name: str, listed: list[str]) -> bool:
    named = set(words(name))
    return any(w.lower() in named for w in listed)


def dcg(grades: list[int]) -> float:
    return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(grades))


@dataclass
class Outcome:
    """What one system did with one question."""

    ranked: list[int]  # top products in the order shown
    recommended: list[int]  # what the answer recommends
    ms: float = 0.0


@dataclass
class Scores:
    per_query: list[dict[str, Any]] = field(default_factory=list)

    def add(self, query: LabelledQuery, judge: Judge, outcome: Outcome) -> None:
        top = outcome.ranked[:TOP]
        grades = [judge.grade(pid) for pid in top]
        ideal = judge.ideal()
        keys = [listing_key(judge.facts.names[a], judge.facts.price[a])
                for a in (judge.facts.position(p) for p in top) if a is not None]  # fmt: skip
        products = [judge.facts.product_of(pid) for pid in top]
        row = {
            "id": query.id,
            "recommended": len(outcome.recommended),
            "recommended_ok": sum(judge.meets(pid) for pid in outcome.recommended),
            "success": (not outcome.recommended) if query.expect_none else any(grades),
            "ndcg": None if query.expect_none or not ideal else dcg(grades) / dcg(ideal),
            "repeats": len(keys) - len(set(keys)),
            "variant_repeats": len(products) - len(set(products)),
            "top3": [judge.facts.product_of(pid) for pid in outcome.ranked[:3]],
            "ms": outcome.ms,
        }
        self.per_query.append(row)

    def summary(self) -> dict[str, Any]:
        rows = self.per_query
        recommended = sum(r["recommended"] for r in rows)
        ok = sum(r["recommended_ok"] for r in rows)
        successes = sum(bool(r["success"]) for r in rows)
        ndcgs = [r["ndcg"] for r in rows if r["ndcg"] is not None]
        low, high = wilson_interval(ok, recommended) if recommended else (0.0, 0.0)
        s_low, s_high = wilson_interval(successes, len(rows))
        n_low, n_high = bootstrap_interval(ndcgs)
        times = sorted(r["ms"] for r in rows)
        return {
            "questions": len(rows),
            "recommended": recommended,
            "constraint_satisfaction": _ratio(ok, recommended),
            "satisfaction_95ci": f"{low:.3f}–{high:.3f}",
            "questions_with_a_breaking_pick": sum(
                r["recommended_ok"] < r["recommended"] for r in rows
            ),
            "success_at_5": _ratio(successes, len(rows)),
            "success_95ci": f"{s_low:.3f}–{s_high:.3f}",
            "ndcg_at_5": round(float(np.mean(ndcgs)), 3) if ndcgs else None,
            "ndcg_95ci": f"{n_low:.3f}–{n_high:.3f}",
            "repeated_listings_in_top5": sum(r["repeats"] for r in rows),
            "variants_repeated_in_top5": sum(r["variant_repeats"] for r in rows),
            "p50_ms": round(times[len(times) // 2], 1) if times else None,
        }


def twin_agreement(queries: list[LabelledQuery], scores: Scores) -> dict[str, Any]:
    """Misspelt twins whose top 3 are the same products (variants counted as one) as
    their correctly spelt question's, in any order."""
    top3 = {row["id"]: row["top3"] for row in scores.per_query}
    pairs = [(q.id, q.twin_of) for q in queries if q.twin_of and q.id in top3 and q.twin_of in top3]
    same = sum(set(top3[a]) == set(top3[b]) for a, b in pairs)
    low, high = wilson_interval(same, len(pairs)) if pairs else (0.0, 0.0)
    return {"twins": len(pairs), "same_top3": _ratio(same, len(pairs)),
            "same_top3_95ci": f"{low:.3f}–{high:.3f}"}  # fmt: skip


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def bootstrap_interval(values: list[float], draws: int = 2000) -> tuple[float, float]:
    """A 95% percentile-bootstrap interval of the mean (seeded: the same values, the same
    interval)."""
    if not values:
        return 0.0, 0.0
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(0)
    means = data[rng.integers(0, len(data), size=(draws, len(data)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def score(
    queries: list[LabelledQuery],
    facts_of: Callable[[str], CatalogFacts],
    outcomes: dict[str, Outcome],
) -> Scores:
    scores = Scores()
    for query in queries:
        if query.id in outcomes:
            scores.add(query, Judge(query, facts_of(query.catalog)), outcomes[query.id])
    return scores


def before_29_outcomes(
    settings: Any, queries: list[LabelledQuery], work: Path
) -> dict[str, Outcome]:
    return baseline_outcomes(settings, queries, work, BEFORE_29_COMMIT, _PIPELINE_SCRIPT)


def current_outcomes(lens: Any, queries: list[LabelledQuery]) -> dict[str, Outcome]:
    """This build's pipeline: understanding → constrained retrieval → grounded answer."""
    import time

    from core.retrieval.answer import answer, focus_of, primary_source
    from core.retrieval.shopping import retrieve, understand_question

    outcomes = {}
    for query in queries:
        started = time.perf_counter()
        understood = understand_question(query.question, lens.facts(query.catalog))
        result = retrieve(lens.searcher(query.catalog), understood, k=TOP)
        reply = answer(query.question, result, None)
        ms = (time.perf_counter() - started) * 1000
        first, second = (
            (result.image_hits, result.text_hits)
            if primary_source(focus_of(result)) == "image"
            else (result.text_hits, result.image_hits)
        )
        shown = [*reply.recommended_ids, *(h.product_id for h in [*first, *second])]
        outcomes[query.id] = Outcome(list(dict.fromkeys(shown)), reply.recommended_ids, ms)
    return outcomes


# --- the code as it was, run side by side ------------------------------------------------

# The last commit before question understanding (#14): its raw-question search, its
# focus ranking and its grounded answer are "today's code" in the comparison. The script
# runs inside that commit's tree, so it speaks that commit's module names.
BASELINE_COMMIT = "248a5ec"
_BASELINE_SCRIPT = """
import json, sys, time
from core.config import load_settings
from core.rag import brands_from_names, detect_focus, grounded_answer, rank_for_focus
from core.search import search
from core.service import get_lens

queries = json.load(sys.stdin)
lens = get_lens(load_settings())
brands, out = {}, {"core": __import__("core").__file__}
for q in queries:
    if q["catalog"] not in brands:
        names = lens.store.products_where(q["catalog"], columns=["name"]).column("name")
        brands[q["catalog"]] = brands_from_names(names.to_pylist())
    vocabulary = brands[q["catalog"]]
    started = time.perf_counter()
    result = search(lens, q["catalog"], q["question"], None, 5)
    focus = detect_focus(q["question"], vocabulary)
    ranked = [h.product_id for h in rank_for_focus(result, focus, vocabulary)]
    reply = grounded_answer(q["question"], result, focus, vocabulary, "bench")
    out[q["id"]] = {"ranked": ranked, "recommended": reply.cited_ids,
                    "ms": (time.perf_counter() - started) * 1000}
print(json.dumps(out))
"""


# The last commit before #29 (negation, makers, variants, typos, any category): its
# pipeline has today's shape, so the script is `current_outcomes` in that tree.
BEFORE_29_COMMIT = "7869e40"
_PIPELINE_SCRIPT = """
import json, sys, time
from core.lens import Lens
from core.retrieval.answer import answer, focus_of, primary_source
from core.retrieval.shopping import retrieve, understand_question
from core.settings import load_settings

queries = json.load(sys.stdin)
lens = Lens(load_settings())
out = {"core": __import__("core").__file__}
for q in queries:
    started = time.perf_counter()
    understood = understand_question(q["question"], lens.facts(q["catalog"]))
    result = retrieve(lens, q["catalog"], understood, k=5)
    reply = answer(q["question"], result, None)
    ms = (time.perf_counter() - started) * 1000
    image_first = primary_source(focus_of(result)) == "image"
    first, second = ((result.image_hits, result.text_hits) if image_first
                     else (result.text_hits, result.image_hits))
    shown = [*reply.recommended_ids, *(h.product_id for h in [*first, *second])]
    out[q["id"]] = {"ranked": list(dict.fromkeys(shown)), "recommended": reply.recommended_ids,
                    "ms": ms}
print(json.dumps(out))
"""


def baseline_outcomes(
    settings: Any,
    queries: list[LabelledQuery],
    work: Path,
    commit: str = BASELINE_COMMIT,
    script: str = _BASELINE_SCRIPT,
) -> dict[str, Outcome]:
    """Outcomes of the code at `commit` (`script` speaks its module names), run from a
    `git archive` of it in a subprocess on the same store, models and Python."""
    import os
    import subprocess
    import sys
    import tarfile

    repo = Path(__file__).resolve().parent.parent
    tree = work / f"baseline-{commit}"
    tree.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", commit, "core"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    env = {
        **os.environ, "PYTHONPATH": str(tree), "PRODUCTLENS_DB": str(settings.db_path),
        "PRODUCTLENS_CLIP": settings.clip_model, "PRODUCTLENS_TEXT_MODEL": settings.text_model,
        "PRODUCTLENS_MODELS_DIR": str(settings.models_dir),
    }  # fmt: skip
    payload = json.dumps([{"id": q.id, "catalog": q.catalog, "question": q.question}
                          for q in queries])  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", script], input=payload, env=env, cwd=tree,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = json.loads(done.stdout.strip().splitlines()[-1])
    if not str(data.pop("core")).startswith(str(tree)):
        raise RuntimeError("the baseline run imported this build's code, not the archive's")
    return {key: Outcome(v["ranked"], v["recommended"], v["ms"]) for key, v in data.items()}
