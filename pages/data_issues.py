"""Data issues: likely label errors, near-duplicates (and leaky splits) and outliers of a
labelled photo dataset or a labelled catalog, found by core.analysis.issue_sources (what
`productlens issues` prints). A fix is stored as labeller `human`, never over the
originals; the comparison can then score on the fixed labels."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.analysis.data_issues import DataIssues
from core.analysis.issue_sources import (
    HUMAN,
    catalog_corrected_labeller,
    catalog_issues,
    catalog_vector_keys,
    correct_photos,
    correct_products,
    dataset_issues,
)
from core.analysis.labels import VOCABULARY, vocab_hash
from core.datasets.registry import datasets
from core.models.activation_cache import ActivationCache
from pages.common import open_page, thumbnail

lens, catalog = open_page("Data issues", needs_catalog=False)
store = lens.store
vocab = vocab_hash(VOCABULARY)

# What can be checked: registered photo datasets, and catalogs' label sets. A set with
# fixes is checked with them (its "<labeller>+human" copy), under the same entry, so the
# choice stays put when the first fix makes that copy.
sources: dict[tuple[str, str], str] = {}  # (kind, name) → its entry in the list
checked: dict[tuple[str, str], str] = {}  # a catalog's entry → the label set looked at
registered = {dataset.name: dataset for dataset in datasets(store)}
for dataset in registered.values():
    photo_count = sum(dataset.counts.values())
    sources[("dataset", dataset.name)] = f"{dataset.name} (photo dataset, {photo_count:,} photos)"
for name in store.catalogs.names():
    sets = {who: count for who, label_vocab, count in store.labels.labellers(name)
            if label_vocab == vocab}  # fmt: skip
    for labeller, count in sets.items():
        if labeller == HUMAN or labeller.endswith(f"+{HUMAN}"):
            continue
        fixed = catalog_corrected_labeller(labeller)
        sources[(name, labeller)] = f"{name} catalog · labels {labeller} ({count:,})" + (
            ", with the fixes made by hand" if fixed in sets else ""
        )
        checked[(name, labeller)] = fixed if fixed in sets else labeller
if not sources:
    st.info(
        "Nothing labelled to check yet: register a photo dataset (`productlens dataset add`) "
        "or label a catalog (`productlens label`)."
    )
    st.stop()
entry = st.selectbox(
    "Labelled data", list(sources), format_func=sources.__getitem__, key="issues-source"
)
chosen = "/".join(entry)  # the widgets below are keyed by the entry, not its wording
kind, name = entry[0], checked.get(entry, entry[1])  # ("dataset", its name) or (catalog, set)
photo_set = registered.get(name) if kind == "dataset" else None


def find() -> tuple[DataIssues, bool, dict[str, str]]:
    """The issues (stored when nothing changed), and each item's photo path."""
    if photo_set is not None:
        cache = ActivationCache(lens.settings.activation_cache_dir)
        issues, reused = dataset_issues(store, photo_set, cache)
        return issues, reused, {p.key: p.image for p in photo_set.pairs()}
    keys = catalog_vector_keys(store, kind, lens.text_source.key, lens.clip_source.key)
    encode = lambda texts: lens.text_model().encode(texts)  # noqa: E731 (loads only to compute)
    issues, reused = catalog_issues(store, kind, name, vocab, keys, encode)
    rows = store.products.where(kind, columns=["product_id", "image_path", "image_status"])
    photos = {
        str(r["product_id"]): r["image_path"] for r in rows.to_pylist()
        if r["image_status"] == "ok" and r["image_path"]
    }  # fmt: skip
    return issues, reused, photos


with st.spinner("Looking for issues (a first look at 3,000 photos takes about a minute)…"):
    issues, reused, photos = find()
st.caption(
    " · ".join(issues.summary_lines())
    + (" · stored result (nothing changed)" if reused else f" · {issues.seconds:.1f} s")
)
st.caption(
    "Label errors are judged by a model that never saw the item's own label (5-fold "
    "out-of-sample predictions, cleanlab's confident learning); with many wrong labels, "
    "some are missed."
    + (
        " Labels the labeller only guessed never teach that model; they are flagged "
        "whenever it finds another class likelier (column *Guessed*)."
        if issues.guessed_labels
        else ""
    )
    + (
        " A label a keyword named is kept when the name reads at least as much like its "
        "class as like the suggestion (by the class descriptions), so a rule's consistent "
        "mistakes are mostly missed."
        if photo_set is None
        else ""
    )
)


def photo_cell(key: str) -> str | None:
    path = photos.get(key)
    return thumbnail(path) if path and Path(path).is_file() else None


errors, duplicates, outliers = st.tabs(
    [f"Likely label errors ({len(issues.label_issues):,})",
     f"Near-duplicates ({len(issues.duplicates):,}, {len(issues.leaky_pairs):,} across the "
     "split)",
     f"Outliers ({len(issues.outliers):,})"]
)  # fmt: skip

with errors:
    classes = st.multiselect("Given class", issues.classes, key=f"issue-classes-{chosen}")
    shown = [i for i in issues.label_issues if not classes or i.given in classes]
    table = pd.DataFrame(
        {
            "photo": [photo_cell(i.key) for i in shown],
            "item": [i.key if photo_set else f"#{i.key}" for i in shown],
            "name": [Path(i.key).name if photo_set else i.name for i in shown],
            "given": [i.given for i in shown],
            **({"guessed": [i.guessed for i in shown]} if issues.guessed_labels else {}),
            "suggested": [i.suggested for i in shown],
            "confidence": [i.confidence for i in shown],
        }
    )
    picked = st.dataframe(
        table, hide_index=True, width="stretch", row_height=56, on_select="rerun",
        selection_mode="multi-row", key=f"issue-table-{chosen}",
        column_config={
            "photo": st.column_config.ImageColumn("Photo", width="small"),
            "name": st.column_config.TextColumn("name", width="medium"),
            "confidence": st.column_config.ProgressColumn(
                "Confidence", min_value=0.0, max_value=1.0, format="%.2f"
            ),
            "guessed": st.column_config.CheckboxColumn(
                "Guessed", help="The labeller only guessed this label (no keyword named the "
                "class); such flags are the most often right"
            ),
        },
    )  # fmt: skip
    rows = picked.selection.rows if picked else []
    labels = sorted(photo_set.words) if photo_set is not None else list(VOCABULARY)

    def store_fixes(fixes: dict[str, str]) -> None:
        if photo_set is not None:
            correct_photos(store, photo_set, fixes)
        else:
            correct_products(store, kind, name, vocab, {int(k): v for k, v in fixes.items()})
        st.session_state["issue-fixed"] = len(fixes)

    if st.button(f"Accept the suggestion for the {len(rows)} selected", disabled=not rows):
        store_fixes({shown[r].key: shown[r].suggested for r in rows})
        st.rerun()
    if shown:
        with st.form(f"fix-{chosen}", border=True):
            item, label, _ = st.columns([3, 2, 1], vertical_alignment="bottom")
            described = [
                f"{t} · {i.given} → {i.suggested}"
                for t, i in zip(table["item"], shown, strict=True)
            ]
            which = item.selectbox(
                "Fix one item", range(len(shown)), format_func=described.__getitem__
            )
            value = label.selectbox("Its label", ["(the suggestion)", *labels])
            if st.form_submit_button("Store this label"):
                chosen_label = shown[which].suggested if value == "(the suggestion)" else value
                store_fixes({shown[which].key: chosen_label})
                st.rerun()
    if st.session_state.pop("issue-fixed", 0):
        st.success(
            "Stored as labeller `human` (the original labels are kept). The Model comparison "
            "now offers the fixed label set, named as such."
        )

with duplicates:
    st.dataframe(
        pd.DataFrame(
            {
                "first": [photo_cell(d.first) for d in issues.duplicates],
                "second": [photo_cell(d.second) for d in issues.duplicates],
                "items": [f"{d.first} · {d.second}" for d in issues.duplicates],
                "cosine": [d.similarity for d in issues.duplicates],
                "exact copy": [d.exact for d in issues.duplicates],
                "across the split": [d.straddles or "–" for d in issues.duplicates],
            }
        ),
        hide_index=True, width="stretch", row_height=56,
        column_config={"first": st.column_config.ImageColumn("First", width="small"),
                       "second": st.column_config.ImageColumn("Second", width="small")},
    )  # fmt: skip

with outliers:
    st.dataframe(
        pd.DataFrame(
            {
                "photo": [photo_cell(o.key) for o in issues.outliers],
                "item": [o.key for o in issues.outliers],
                "name": [o.name for o in issues.outliers],
                "label": [o.label for o in issues.outliers],
                "typicality": [o.score for o in issues.outliers],
            }
        ),
        hide_index=True, width="stretch", row_height=56,
        column_config={"photo": st.column_config.ImageColumn("Photo", width="small")},
    )  # fmt: skip
