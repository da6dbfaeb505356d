"""Model comparison: a baseline and a fine-tuned CLIP on held-out labelled data, side by side.

The figures come from core.analysis.comparison.compare, which `productlens compare` prints."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from core.analysis.compare import cell_items, label_audit, normalised
from core.analysis.comparison import Comparison, ComparisonError, compare
from core.analysis.labels import ANALYSIS_CLASSES, VOCABULARY, distribution, stored_labels
from core.analysis.model_choices import dataset_choices, default_pair, model_choices, run_record
from core.models.zeroshot import DEFAULT_TEMPLATES, PRODUCT_TEMPLATES
from core.offline_clip.recipe import office_items_dir
from pages.common import CHART_CONFIG, open_page, thumbnail

lens, catalog = open_page("Model comparison", needs_catalog=False)  # datasets suffice
settings = lens.settings

models = model_choices(settings)
office = office_items_dir(settings)
datasets = dataset_choices(lens.store, [office] if office else [])

if len(models) < 2:
    st.info(
        "Comparison needs two models: fine-tune one with `productlens finetune` "
        "(it appears here as a run), or build the offline CLIP with `productlens offline-clip`."
    )
if not datasets:
    st.info(
        "No labelled data yet: register a folder of class folders with `productlens dataset "
        "add NAME FOLDER`, or pseudo-label the catalog with `productlens label`."
    )
if len(models) < 2 or not datasets:
    st.stop()

labels = [m.label for m in models]
by_label = {m.label: m for m in models}
default_baseline, default_tuned = default_pair(settings, models)
dataset_labels = [d.label for d in datasets]
tuned_dataset = f"dataset:{models[default_tuned].dataset}"
default_dataset = next((i for i, d in enumerate(datasets) if d.ident == tuned_dataset), 0)

with st.form("compare"):
    left, right = st.columns(2)
    baseline = left.selectbox("Baseline", labels, index=default_baseline)
    tuned = right.selectbox("Fine-tuned", labels, index=default_tuned)
    dataset_label = st.selectbox("Labelled data", dataset_labels, index=default_dataset)
    ensemble = st.toggle("Prompt ensemble (4 templates instead of 'a photo of {label}')")
    classes_text = st.text_input(
        "Classes (comma-separated; empty: every class of the data)", key="compare_classes"
    )
    held_out = st.toggle(
        "Held-out only: leave out items either model was trained or validated on", value=True
    )
    submitted = st.form_submit_button("Compare", type="primary")

if submitted or "comparison" not in st.session_state:
    # The default pair is compared on the first visit (stored evaluations make it quick).
    dataset = datasets[dataset_labels.index(dataset_label)]
    templates = PRODUCT_TEMPLATES if ensemble else DEFAULT_TEMPLATES
    classes = [c.strip() for c in classes_text.split(",") if c.strip()] or None
    with st.status("Scoring both models…", expanded=False) as status:
        bar = st.progress(0.0)

        def progress(done: int, total: int, phase: str, note: str = "") -> None:
            bar.progress(min(1.0, done / max(total, 1)), text=phase)

        try:
            result = compare(
                settings, lens.store, by_label[baseline], by_label[tuned], dataset, templates,
                classes, held_out, progress=progress,
            )  # fmt: skip
        except (ComparisonError, ValueError, FileNotFoundError) as exc:
            status.update(label="Not compared", state="error")
            st.session_state.pop("comparison", None)
            st.warning(str(exc))
            st.stop()
        status.update(label="Scored", state="complete")
    st.session_state["comparison"] = result

result: Comparison = st.session_state["comparison"]
figures = result.as_dict()
a, b = result.a, result.b
ra, rb = a.report, b.report
name_a, name_b = result.baseline.label, result.tuned.label

# --- headline ----------------------------------------------------------------------------
{"gain": st.success, "regression": st.error, "no difference": st.info}[result.verdict](
    result.headline()
)
for warning in result.warnings:
    st.warning(warning)
if result.left_out:
    st.caption(f"{result.left_out} item(s) used in training or validation are left out.")
col_a, col_b = st.columns(2)
for col, name, report in ((col_a, name_a, ra), (col_b, name_b, rb)):
    delta = None if report is ra else f"{(rb.accuracy - ra.accuracy) * 100:+.1f} pts"
    col.metric(f"Accuracy — {name}", f"{report.accuracy:.1%}", delta)
    col.caption(
        f"95% CI {report.ci[0]:.1%}–{report.ci[1]:.1%} · balanced "
        f"{report.balanced_accuracy:.1%} · n={report.n:,} · chance {report.chance:.1%}"
    )
if result.probe:
    st.caption(f"For scale, the {result.probe.sentence()}.")
st.caption(
    f"Every figure counts the same {ra.n:,} held-out items for both models"
    + (f"; {result.only_one} scored by only one are left out." if result.only_one else ".")
)
if a.dataset.startswith("catalog:"):
    st.info(
        "These labels are pseudo-labels made from product names, not ground truth: some "
        "“fixed” or “broken” items are label errors (see the label audit below)."
    )

# --- per class -----------------------------------------------------------------------------
st.subheader("Per class")
table = pd.DataFrame(figures["per_class"])
figure = go.Figure(
    [
        go.Bar(name=name_a, x=table["class"], y=table["baseline_recall"]),
        go.Bar(name=name_b, x=table["class"], y=table["fine_tuned_recall"]),
    ]
)
figure.update_layout(
    barmode="group", yaxis_title="recall (accuracy within the class)", height=360,
    margin={"t": 30}, legend={"orientation": "h", "y": -0.25},
)  # fmt: skip
st.plotly_chart(figure, width="stretch", config=CHART_CONFIG)
st.dataframe(
    table,
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
# Chart titles are written above the charts (a Plotly title sits under its toolbar).


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
for which, tab, report in zip(("a", "b"), st.tabs([name_a, name_b]), (ra, rb), strict=True):
    figure = heatmap(normalised(report.confusion), report.labels, share_and_count(report.confusion))
    tab.plotly_chart(figure, width="stretch", config=CHART_CONFIG, key=f"confusion-{which}")
difference = normalised(rb.confusion) - normalised(ra.confusion)
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

# --- what specialising cost ----------------------------------------------------------------
st.subheader("What specialising cost: WiSE-FT blends")
if result.wise is not None:
    wise = result.wise
    rows = [{"α": p.alpha, "data": f"{wise.target} (held-out)", "accuracy": p.target}
            for p in wise.points]  # fmt: skip
    rows += [
        {"α": p.alpha, "data": f"{name} (zero-shot, held-out)", "accuracy": value}
        for p in wise.points
        for name, value in p.general.items()
    ]
    chart = px.line(pd.DataFrame(rows), x="α", y="accuracy", color="data", markers=True, height=340)
    chart.update_layout(
        yaxis_tickformat=".0%", margin={"t": 30}, legend={"orientation": "h", "y": -0.3}
    )
    st.plotly_chart(chart, width="stretch", config=CHART_CONFIG)
    st.caption(
        "Weights (1 − α)·baseline + α·fine-tuned: α = 0 is the baseline, α = 1 the fine-tune. "
        "A general set that falls as α grows is what the gain cost."
    )
else:
    st.caption(result.wise_note)

tuned_run = run_record(settings, result.tuned)
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
    frame.insert(0, "photo", [thumbnail(p) if p else None for p in frame.pop("image")])
    return frame


st.subheader("What the fine-tune changed")
changes = {key: figures[key] for key in ("fixed", "broke")}
fixed_tab, broke_tab = st.tabs(
    [f"Fixed ({len(changes['fixed'])})", f"Broke ({len(changes['broke'])})"]
)
for tab, rows in ((fixed_tab, changes["fixed"]), (broke_tab, changes["broke"])):
    with tab:
        if rows:
            st.dataframe(
                item_frame(rows[:200]),
                hide_index=True,
                column_config={"photo": st.column_config.ImageColumn()},
            )
        else:
            st.caption("None.")

st.subheader("Items in a confusion cell")
c1, c2, c3 = st.columns(3)
which = c1.radio("Model", [name_a, name_b], horizontal=True)
true_label = c2.selectbox("True class", ra.labels)
pred_label = c3.selectbox("Predicted class", ra.labels)
cell = cell_items(a if which == name_a else b, true_label, pred_label)
st.caption(f"{len(cell)} item(s)")
if cell:
    st.dataframe(
        item_frame(cell[:200]),
        hide_index=True,
        column_config={"photo": st.column_config.ImageColumn()},
    )

st.subheader("Label audit")
audit = label_audit(a, b)
st.dataframe(pd.DataFrame({"case": list(audit), "items": list(audit.values())}), hide_index=True)
st.caption("Where both models agree with each other against the label, suspect the label first.")

with st.expander("Details"):
    st.markdown(
        f"- **Baseline:** {name_a} — `{result.baseline.spec}` ({result.baseline.detail})\n"
        f"- **Fine-tuned:** {name_b} — `{result.tuned.spec}` ({result.tuned.detail})\n"
        f"- **Data:** `{a.dataset}`{f' ({a.part} part)' if a.part else ''} · labels: "
        f"`{a.label_set}` · templates: {', '.join(a.templates)}"
    )
    if a.class_words:
        st.dataframe(
            pd.DataFrame(
                [{"class": c, "prompted as": " | ".join(w)} for c, w in a.class_words.items()]
            ),
            hide_index=True,
        )

# The catalog's pseudo-labels matter only when the comparison is scored on them.
on_catalog = a.dataset.startswith("catalog:")
label_sets = lens.store.labels.labellers(catalog) if catalog and on_catalog else []
if label_sets:
    with st.expander(f"Pseudo-label distribution in {catalog}"):
        labeller = st.selectbox("Label set", [lab for lab, _, _ in label_sets])
        counts = distribution(stored_labels(lens.store, catalog, labeller, VOCABULARY).values())
        frame = pd.DataFrame(counts.most_common(), columns=["class", "products"])
        st.plotly_chart(px.bar(frame, x="class", y="products", height=320), width="stretch")
        st.caption(f"Analysis classes: {', '.join(ANALYSIS_CLASSES)}")
