"""Model comparison: zero-shot accuracy of a baseline and a fine-tuned CLIP, side by side."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.analysis.compare import (
    cell_items,
    confusion_difference,
    flips,
    item_key,
    label_audit,
    mcnemar,
    normalised,
    on_common_items,
    per_class_table,
    precision_recall_table,
    restrict,
    training_keys,
)
from core.analysis.evaluate import evaluate_cached
from core.analysis.labels import ANALYSIS_CLASSES, VOCABULARY, distribution, stored_labels
from core.analysis.model_choices import (
    dataset_choices,
    default_pair,
    model_choices,
    run_record,
    same_weights,
)
from core.models.clip import load_clip
from core.models.zeroshot import DEFAULT_TEMPLATES, PRODUCT_TEMPLATES
from core.offline_clip.recipe import office_items_dir
from pages.common import CHART_CONFIG, open_page, thumbnail

lens, catalog = open_page("Model comparison")
settings = lens.settings


models = model_choices(settings)
office = office_items_dir(lens.settings)
datasets = dataset_choices(lens.store, [office] if office else [])

if len(models) < 2:
    st.info(
        "Comparison needs two models: fine-tune one with `productlens finetune` "
        "(it appears here as a run), or build the offline CLIP with `productlens offline-clip`."
    )
if not datasets:
    st.info("No labelled data yet: run `productlens label` to pseudo-label the catalog.")

label_sets = lens.store.labels.labellers(catalog)
if label_sets:
    with st.expander(f"Pseudo-label distribution in {catalog}"):
        labeller = st.selectbox("Label set", [lab for lab, _, _ in label_sets])
        counts = distribution(stored_labels(lens.store, catalog, labeller, VOCABULARY).values())
        frame = pd.DataFrame(counts.most_common(), columns=["class", "products"])
        st.plotly_chart(px.bar(frame, x="class", y="products", height=320), width="stretch")

if len(models) < 2 or not datasets:
    st.stop()

labels = [m.label for m in models]
choices = {m.label: m for m in models}
default_baseline, default_tuned = default_pair(settings, models)
with st.form("compare"):
    left, right = st.columns(2)
    baseline = left.selectbox("Baseline", labels, index=default_baseline)
    tuned = right.selectbox("Fine-tuned", labels, index=default_tuned)
    dataset_label = st.selectbox("Dataset", [d[0] for d in datasets])
    ensemble = st.toggle("Prompt ensemble (4 templates instead of 'a photo of {label}')")
    classes_text = st.text_input(
        "Classes (comma-separated; empty: the analysis classes present in the labels)"
    )
    held_out = st.toggle(
        "Held-out only: leave out items either model was trained or validated on", value=True
    )
    submitted = st.form_submit_button("Compare", type="primary")

spec = {m.label: m.spec for m in models}
dataset_kwargs = dict(datasets)[dataset_label]
if submitted and same_weights(settings, spec[baseline], spec[tuned]):
    st.warning(
        f"“{baseline}” and “{tuned}” have identical weights: every figure would be the same. "
        "Pick two different models."
    )
    st.session_state.pop("comparison", None)
elif submitted:
    templates = PRODUCT_TEMPLATES if ensemble else DEFAULT_TEMPLATES
    # None: the analysis classes present in the labels (or every class folder)
    classes = [c.strip() for c in classes_text.split(",") if c.strip()] or None
    results = []
    for label in (baseline, tuned):
        with st.status(f"Evaluating {label}…", expanded=False) as status:
            bar = st.progress(0.0)

            def progress(done: int, total: int, phase: str, note: str = "", bar=bar) -> None:
                bar.progress(min(1.0, done / max(total, 1)), text=phase)

            try:
                clip = load_clip(settings.with_overrides(clip_model=spec[label]))
                evaluation, cached = evaluate_cached(
                    lens.store, clip, classes=classes, templates=templates,
                    progress=progress, **dataset_kwargs,
                )  # fmt: skip
            except Exception as exc:  # shown to the user, the page stays usable
                status.update(label=f"{label}: {exc}", state="error")
                st.stop()
            status.update(label=f"{label}: done{' (stored result)' if cached else ''}")
        results.append(evaluation)
    seen = training_keys(settings, spec[baseline]) | training_keys(settings, spec[tuned])
    overlap = sum(item_key(results[0], i) in seen for i in results[0].items)
    if held_out and overlap:
        try:
            results = [restrict(e, seen) for e in results]
        except ValueError as exc:
            st.error(str(exc))
            st.stop()
    try:  # one count for the whole page: the items both models were scored on
        *results, only_one = on_common_items(*results)
    except ValueError as exc:
        st.error(f"The two evaluations share no items: {exc}")
        st.stop()
    st.session_state["comparison"] = (baseline, tuned, results)
    st.session_state["comparison_overlap"] = (overlap, held_out)
    st.session_state["comparison_only_one"] = only_one

if "comparison" not in st.session_state:
    st.caption(f"Analysis classes: {', '.join(ANALYSIS_CLASSES)}")
    st.stop()

name_a, name_b, (a, b) = st.session_state["comparison"]
ra, rb = a.report, b.report
overlap, held_out = st.session_state.get("comparison_overlap", (0, False))
if overlap and held_out:
    st.info(f"{overlap} item(s) used in training or validation are left out of every figure.")
elif overlap:
    st.warning(
        f"{overlap} of the evaluated items were used to train or validate one of the models: "
        "these figures flatter it. Turn on *Held-out only* for a fair comparison."
    )

# --- headline ----------------------------------------------------------------------------
col_a, col_b = st.columns(2)
for col, name, ev in ((col_a, name_a, a), (col_b, name_b, b)):
    r = ev.report
    delta = None if ev is a else f"{(r.accuracy - ra.accuracy) * 100:+.1f} pts"
    col.metric(f"Accuracy — {name}", f"{r.accuracy:.1%}", delta)
    col.caption(
        f"95% CI {r.ci[0]:.1%}–{r.ci[1]:.1%} · balanced {r.balanced_accuracy:.1%} · "
        f"n={r.n} · chance {r.chance:.1%} · majority class {r.majority_baseline:.1%}"
    )
    if ev.retrieval and "recall@1" in ev.retrieval:
        rr = ev.retrieval
        col.caption(
            f"name→image recall@1 {rr['recall@1']:.1%} · @5 {rr['recall@5']:.1%} · "
            f"@10 {rr['recall@10']:.1%} (n={rr['n']})"
        )
test = mcnemar(a, b)
only_one = st.session_state.get("comparison_only_one", 0)
st.caption(
    f"Every figure below counts the same {ra.n:,} items for both models"
    + (f"; {only_one} item(s) scored by only one of them are left out." if only_one else ".")
)
(st.success if test.significant else st.info)(test.sentence())
st.caption(f"Dataset: {a.dataset} · labels: {a.label_set} · templates: {a.templates}")

# --- per class -----------------------------------------------------------------------------
table = pd.DataFrame(per_class_table(a, b))
figure = go.Figure(
    [
        go.Bar(name=name_a, x=table["class"], y=table["baseline"]),
        go.Bar(name=name_b, x=table["class"], y=table["fine_tuned"]),
    ]
)
figure.update_layout(barmode="group", yaxis_title="accuracy", height=360, margin={"t": 30})
st.subheader("Per-class accuracy")
st.plotly_chart(figure, width="stretch")
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "baseline": st.column_config.NumberColumn(format="%.2f"),
        "fine_tuned": st.column_config.NumberColumn("fine-tuned", format="%.2f"),
        "delta": st.column_config.NumberColumn(format="%+.2f"),
    },
)

st.subheader("Precision, recall and F1 per class")
st.dataframe(
    pd.DataFrame(precision_recall_table(a, b)),
    hide_index=True,
    column_config={
        "support": st.column_config.NumberColumn("items", format="%d"),
        **{
            f"{prefix}_{metric}": st.column_config.NumberColumn(
                f"{who} {metric.replace('f1', 'F1')}", format="%.2f"
            )
            for prefix, who in (("baseline", "baseline"), ("fine_tuned", "fine-tuned"))
            for metric in ("precision", "recall", "f1")
        },
    },
)

# --- confusion matrices ---------------------------------------------------------------

# Chart titles are written above the charts (a Plotly title sits under its toolbar), and
# the heatmaps' top margin keeps the toolbar off their cells.


def heatmap(matrix, labels, text, diverging: bool = False) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=matrix, x=labels, y=labels, text=text, texttemplate="%{text}",
            textfont={"size": 11}, colorscale="RdBu" if diverging else "Blues",
            zmid=0 if diverging else None, zmin=-1 if diverging else 0, zmax=1,
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        height=max(380, 30 * len(labels) + 180), margin={"t": 40},
        xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed",
        yaxis_dtick=1, xaxis_dtick=1,
    )  # fmt: skip
    return fig


def share_and_count(confusion) -> list[list[str]]:
    """Each non-empty cell as its share of the true class (row) over its item count."""
    shares = normalised(confusion)
    return [
        [f"{share:.0%}<br>{count}" if count else "" for share, count in zip(srow, row, strict=True)]
        for srow, row in zip(shares, confusion, strict=True)
    ]


st.subheader("Confusion matrices")
st.caption("Each cell: the share of its true class (row), and below it the number of items.")
for tab, report in zip(st.tabs([name_a, name_b]), (ra, rb), strict=True):
    figure = heatmap(normalised(report.confusion), report.labels, share_and_count(report.confusion))
    tab.plotly_chart(figure, width="stretch", config=CHART_CONFIG)
difference = confusion_difference(a, b)
st.markdown("**Difference (fine-tuned − baseline), in points of each true class's share**")
st.plotly_chart(
    heatmap(
        difference,
        ra.labels,
        [[f"{v * 100:+.0f}" if v else "" for v in row] for row in difference],
        diverging=True,
    ),
    width="stretch",
    config=CHART_CONFIG,
)

tuned_run = run_record(settings, choices[name_b]) if name_b in choices else None
history = tuned_run.history if tuned_run else []
if tuned_run and (tuned_run.tracking or {}).get("url"):
    url = tuned_run.tracking["url"]
    st.markdown(f"[{name_b} in MLflow]({url}): its parameters, curves, split and checkpoint")
if history:
    st.subheader(f"Training curves of {name_b}")
    curves = pd.DataFrame(history)
    loss_col, accuracy_col = st.columns(2)
    losses = curves.melt("epoch", ["train_loss", "val_loss"], "split", "loss").dropna()
    losses["split"] = losses["split"].map({"train_loss": "training", "val_loss": "validation"})
    loss_col.plotly_chart(
        px.line(losses, x="epoch", y="loss", color="split", markers=True, height=320),
        width="stretch",
        config=CHART_CONFIG,
    )
    if curves["val_accuracy"].notna().any():
        accuracy_col.plotly_chart(
            px.line(curves, x="epoch", y="val_accuracy", markers=True, height=320,
                    labels={"val_accuracy": "validation accuracy"}).update_yaxes(tickformat=".0%"),
            width="stretch",
            config=CHART_CONFIG,
        )  # fmt: skip
    else:
        accuracy_col.caption("This run's validation items carry no class labels: no accuracy.")


def item_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame.insert(0, "thumbnail", [thumbnail(p) if p else None for p in frame.pop("image")])
    return frame


st.subheader("Products in a confusion cell")
c1, c2, c3 = st.columns(3)
which = c1.radio("Model", [name_a, name_b], horizontal=True)
true_label = c2.selectbox("True class", ra.labels)
pred_label = c3.selectbox("Predicted class", ra.labels)
chosen = a if which == name_a else b
cell = cell_items(chosen, true_label, pred_label)
st.caption(f"{len(cell)} item(s)")
if cell:
    st.dataframe(
        item_frame(cell[:200]),
        hide_index=True,
        column_config={"thumbnail": st.column_config.ImageColumn()},
    )

st.subheader("What the fine-tune changed")
changes = flips(a, b)
fixed_tab, broke_tab = st.tabs(
    [f"Fixed ({len(changes['fixed'])})", f"Broke ({len(changes['broke'])})"]
)
for tab, rows in ((fixed_tab, changes["fixed"]), (broke_tab, changes["broke"])):
    with tab:
        if rows:
            st.dataframe(
                item_frame(rows[:200]),
                hide_index=True,
                column_config={"thumbnail": st.column_config.ImageColumn()},
            )
        else:
            st.caption("None.")

st.subheader("Label audit")
audit = label_audit(a, b)
st.dataframe(pd.DataFrame({"case": list(audit), "items": list(audit.values())}), hide_index=True)
if a.label_set != "folders":
    st.caption(
        "Labels here are pseudo-labels from product names; where both models agree with "
        "each other against the label, the label is the first suspect."
    )
