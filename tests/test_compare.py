"""Which models the comparison page offers and pairs by default, and what it leaves out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import build_tiny_clip


def _run(runs_dir: Path, run_id: str, base_load: str, checkpoint: Path, split: dict) -> None:
    """A finished run record as the registry writes it, around an existing checkpoint."""
    from core.training.runs import RunRecord, save_run

    record = RunRecord(
        run_id=run_id, name="ft", created_at="2026-11-25T10:00:00",
        base={"spec": "x", "load": base_load, "key": "base", "status": "local"},
        config={}, data={}, status="done", checkpoint=str(checkpoint),
    )  # fmt: skip
    folder = save_run(runs_dir, record)
    (folder / "split.json").write_text(json.dumps({"seed": 0, **split}))
    (folder / "pairs.jsonl").write_text("")
    meta = json.loads((checkpoint / "productlens.json").read_text())
    (checkpoint / "productlens.json").write_text(json.dumps({**meta, "run_id": run_id}))


@pytest.fixture
def two_models(tmp_path):
    """An offline model (with its own split.json) and a run fine-tuned from it."""
    from core.settings import Settings

    settings = Settings(models_dir=tmp_path / "models", runs_dir=tmp_path / "runs")
    offline = build_tiny_clip(settings.models_dir / "offline-clip", key="offline", seed=0)
    (offline / "split.json").write_text(
        json.dumps({"seed": 0, "train": ["s:1"], "val": ["s:2"], "test": ["s:3", "s:4"]})
    )
    tuned = build_tiny_clip(settings.runs_dir / "r1" / "checkpoint", key="run-r1", seed=1)
    split = {"train": ["s:5"], "val": [], "test": ["s:3", "s:4"]}
    _run(settings.runs_dir, "r1", f"local-dir:{offline}", tuned, split)
    return settings, offline


def test_default_pair_is_the_newest_run_and_the_model_it_was_tuned_from(two_models):
    from core.analysis.model_choices import default_pair, model_choices

    settings, _ = two_models
    choices = model_choices(settings)  # HF_HUB_OFFLINE: the configured CLIP is the offline one
    baseline, tuned = default_pair(settings, choices)
    assert choices[tuned].spec == "run:r1"
    assert choices[baseline].label.startswith("Offline CLIP") and baseline != tuned


def test_models_with_identical_weights_are_offered_once(two_models, tmp_path):
    from core.analysis.model_choices import model_choices, same_weights

    settings, offline = two_models
    copy = build_tiny_clip(tmp_path / "copy", key="copy", seed=0)  # same weights, other place
    assert same_weights(settings, str(offline), str(copy))
    assert not same_weights(settings, str(offline), "run:r1")
    # the configured CLIP resolves to the offline model: it is listed once, not twice
    specs = [c.spec for c in model_choices(settings)]
    assert len(specs) == 2 and "run:r1" in specs


def test_a_run_counts_what_its_base_model_trained_on_too(two_models):
    from core.analysis.compare import training_keys

    settings, offline = two_models
    assert training_keys(settings, str(offline)) == {"s:1", "s:2"}
    assert training_keys(settings, "run:r1") == {"s:5", "s:1", "s:2"}


def test_comparison_page_pairs_by_default_and_refuses_a_model_with_itself(
    app_env, tmp_path, monkeypatch
):
    from streamlit.testing.v1 import AppTest

    from core.analysis.labels import label_catalog
    from core.store import Store

    label_catalog(Store(app_env.db_path), "mini")  # rules only: no model needed here
    runs = tmp_path / "runs"
    tuned = build_tiny_clip(runs / "r1" / "checkpoint", key="run-r1", seed=1)
    split = {"train": [], "val": [], "test": []}
    _run(runs, "r1", f"local-dir:{app_env.clip_model}", tuned, split)
    monkeypatch.setenv("PRODUCTLENS_RUNS_DIR", str(runs))
    app = Path(__file__).parent.parent / "streamlit_app.py"
    at = AppTest.from_file(str(app), default_timeout=120)
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    boxes = {box.label: box for box in at.selectbox}
    assert boxes["Fine-tuned"].value.startswith("Fine-tuned “ft”")  # a name, not a run id
    assert "tiny-clip" in boxes["Baseline"].value
    assert at.metric  # the default pair is compared on the first visit
    boxes["Fine-tuned"].set_value(boxes["Baseline"].value)
    at.button[0].click().run()
    assert not at.exception
    assert any("identical weights" in w.value for w in at.warning)
    assert not at.metric  # nothing was compared


def _paired(baseline: list[str], tuned: list[str], truth: list[str]):
    from core.analysis.evaluate import Evaluation
    from core.metrics import classification_report

    def evaluation(predicted: list[str]) -> Evaluation:
        items = [
            {"id": i, "true": t, "pred": p}
            for i, (t, p) in enumerate(zip(truth, predicted, strict=True))
        ]
        report = classification_report(truth, predicted, ["a", "b"])
        return Evaluation("m", "local", "folder:x", "folders", ["a", "b"], [], report, items)

    return evaluation(baseline), evaluation(tuned)


def test_mcnemar_counts_only_disagreements_and_says_whether_it_is_noise():
    from core.analysis.compare import mcnemar

    truth = ["a"] * 14 + ["b"] * 6
    # the fine-tune fixes 12 items and breaks 2: exact two-sided p = 0.0129
    baseline = ["b"] * 12 + ["a"] * 2 + ["b"] * 6
    tuned = ["a"] * 12 + ["b"] * 2 + ["b"] * 6
    test = mcnemar(*_paired(baseline, tuned, truth))
    assert (test.fixed, test.broke, test.n) == (12, 2, 20)
    assert test.p_value == pytest.approx(0.012939453125) and test.significant
    assert "is more than noise" in test.sentence() and "fixed 12 and broke 2" in test.sentence()
    # 5 fixed, 5 broken: the same accuracy, nothing to see
    even = mcnemar(*_paired(["b"] * 5 + ["a"] * 5, ["a"] * 5 + ["b"] * 5, ["a"] * 10))
    assert even.p_value == 1.0 and "is not more than noise" in even.sentence()


def test_precision_recall_table_lists_both_models_per_class():
    from core.analysis.compare import precision_recall_table

    truth = ["a", "a", "b", "b"]
    rows = precision_recall_table(*_paired(["a", "b", "b", "b"], ["a", "a", "b", "b"], truth))
    by_class = {row["class"]: row for row in rows}
    assert by_class["a"]["support"] == 2
    assert by_class["a"]["baseline_recall"] == 0.5 and by_class["a"]["fine_tuned_recall"] == 1.0
    assert by_class["b"]["baseline_precision"] == pytest.approx(2 / 3)
    assert by_class["b"]["fine_tuned_f1"] == 1.0


def test_both_models_are_scored_on_the_same_items():
    """The page once showed 86.4% (222/257) beside a stored 86.8% (223/257): now every
    figure counts only the items both evaluations scored."""
    from dataclasses import replace

    from core.analysis.compare import mcnemar, on_common_items

    truth = ["a", "a", "b", "b", "a"]
    a, b = _paired(["a", "b", "b", "b", "a"], ["a", "a", "b", "a", "b"], truth)
    b = replace(b, items=b.items[:4])  # the fine-tune never scored item 4
    same_a, same_b, only_one = on_common_items(a, b)
    assert only_one == 1
    assert same_a.report.n == same_b.report.n == mcnemar(same_a, same_b).n == 4
    assert same_a.report.accuracy == 3 / 4  # correct / n of the shared items
    assert on_common_items(a, a)[2] == 0 and on_common_items(a, a)[0] is a
