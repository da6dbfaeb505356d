"""The comparison workflow on a registered dataset: `productlens compare` and the page show
the same figures, WiSE-FT's end points are the two models' own scores, regressions and
reversed pairs are said so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import build_tiny_clip, make_photo_folder
from tests.test_compare import _run


@pytest.fixture(scope="module")
def toy_pair(tmp_path_factory):
    """A registered dataset and two tiny CLIPs of one architecture: a base, and a "run"
    said to be fine-tuned from it on that dataset."""
    from core.datasets.registry import register_dataset
    from core.models.activation_cache import ActivationCache
    from core.settings import Settings
    from core.store import Store

    base = tmp_path_factory.mktemp("comparison")
    settings = Settings(
        data_dir=base, db_path=base / "db", models_dir=base / "models", runs_dir=base / "runs"
    )
    folder = make_photo_folder(base / "toy", classes=3, per_class=10, copies=2)
    store = Store(settings.db_path)
    cache = ActivationCache(settings.activation_cache_dir)
    dataset, _ = register_dataset(store, "toy", folder["root"], cache=cache)
    baseline = build_tiny_clip(base / "models" / "base", key="base", seed=0)
    tuned = build_tiny_clip(base / "runs" / "r1" / "checkpoint", key="run-r1", seed=1)
    split = {"train": list(dataset.keys("train")), "val": list(dataset.keys("val")),
             "test": list(dataset.keys("test"))}  # fmt: skip
    _run(settings.runs_dir, "r1", f"local-dir:{baseline}", tuned, split)
    record = json.loads((settings.runs_dir / "r1" / "run.json").read_text())
    record["data"] = {"sources": [f"dataset:toy@{dataset.fingerprint}"]}
    (settings.runs_dir / "r1" / "run.json").write_text(json.dumps(record))
    return settings.with_overrides(clip_model=str(baseline)), dataset


def _compare(settings, **kwargs):
    from core.analysis.comparison import compare
    from core.analysis.model_choices import dataset_choices, default_pair, model_choices
    from core.store import Store

    store = Store(settings.db_path)
    choices = model_choices(settings)
    baseline, tuned = default_pair(settings, choices)
    dataset = next(d for d in dataset_choices(store, []) if d.ident == "dataset:toy")
    return compare(settings, store, choices[baseline], choices[tuned], dataset, **kwargs)


def test_wise_end_points_are_the_two_models_own_scores(toy_pair):
    settings, dataset = toy_pair
    result = _compare(settings)
    assert result.a.report.n == len(dataset.keys("test"))  # the held-out part, nothing else
    assert result.left_out == 0  # the run trained on the other parts
    points = result.wise.points
    assert [p.alpha for p in points] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert points[0].target == result.a.report.accuracy
    assert points[-1].target == result.b.report.accuracy
    assert result.probe is not None and result.probe.n == result.a.report.n
    assert result.verdict in ("gain", "regression", "no difference")


def test_each_blend_is_made_from_the_untouched_fine_tune(tmp_path):
    import torch

    from core.analysis.wise import blended_models
    from core.models.clip import build_clip
    from core.models.sources import resolve_clip
    from core.settings import Settings

    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "models")
    parts = [
        build_clip(resolve_clip(settings.with_overrides(clip_model=str(directory))))
        for directory in (
            build_tiny_clip(tmp_path / name, key=name, seed=seed)
            for name, seed in (("base", 0), ("tuned", 1))
        )
    ]
    base, tuned = (p.model for p in parts)
    tuned_before = {k: v.clone() for k, v in tuned.state_dict().items()}
    for alpha in blended_models(base, tuned, (0.0, 0.5, 1.0)):
        expected = base.state_dict() if alpha == 0 else tuned_before if alpha == 1 else None
        if expected is not None:  # the end points are exactly the two models
            state = tuned.state_dict()
            assert all(torch.equal(state[k], expected[k]) for k in state), alpha


def test_blending_refuses_two_architectures():
    import torch

    from core.analysis.wise import WiseUnavailable, blend_state

    a = {"w": torch.zeros(2, 2), "steps": torch.tensor(3)}
    b = {"w": torch.ones(2, 2), "steps": torch.tensor(5)}
    half = blend_state(a, b, 0.5)
    assert torch.equal(half["w"], torch.full((2, 2), 0.5)) and int(half["steps"]) == 5
    with pytest.raises(WiseUnavailable):
        blend_state(a, {"w": torch.ones(3, 2), "steps": torch.tensor(5)}, 0.5)


def test_cli_compare_prints_what_the_page_shows(toy_pair, capsys, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.cli import main
    from tests.conftest import store_env

    settings, _ = toy_pair
    monkeypatch.setenv("PRODUCTLENS_DATA_DIR", str(settings.data_dir))
    assert main(["--db", str(settings.db_path), "--clip", settings.clip_model, "--json", "-q",
                 "compare"]) == 0  # fmt: skip
    cli = json.loads(capsys.readouterr().out)
    assert cli["dataset"]["ident"] == "dataset:toy"  # the fine-tune's own dataset by default

    for name, value in store_env(settings).items():
        monkeypatch.setenv(name, value)
    app = Path(__file__).parent.parent / "streamlit_app.py"
    at = AppTest.from_file(str(app), default_timeout=180)
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    shown = [m.value for m in at.metric]
    assert shown == [f"{cli['baseline']['accuracy']:.1%}", f"{cli['fine_tuned']['accuracy']:.1%}"]
    page_table = at.dataframe[0].value
    for row in cli["per_class"]:
        page_row = page_table[page_table["class"] == row["class"]].iloc[0]
        assert page_row["support"] == row["support"]
        for column in ("baseline_f1", "fine_tuned_f1", "baseline_recall"):
            assert page_row[column] == pytest.approx(row[column], nan_ok=True)
    headline = cli["headline"].split(" (McNemar")[0]
    assert any(headline in box.value for box in [*at.success, *at.error, *at.info])


def test_a_regression_reads_as_one_and_a_reversed_pair_is_flagged(toy_pair):
    from dataclasses import replace

    from core.analysis.compare import PairedTest
    from core.analysis.comparison import order_warning
    from core.analysis.model_choices import model_choices

    settings, _ = toy_pair
    result = _compare(settings, with_wise=False)
    worse = replace(result, paired=PairedTest(fixed=2, broke=20, n=30, p_value=0.0001))
    assert worse.verdict == "regression" and "WORSE" in worse.headline()
    same = replace(result, paired=PairedTest(fixed=5, broke=6, n=30, p_value=1.0))
    assert same.verdict == "no difference"
    choices = {c.spec: c for c in model_choices(settings)}
    run, base = choices["run:r1"], choices[settings.clip_model]
    assert "looks reversed" in order_warning(settings, run, base)
    assert order_warning(settings, base, run) is None


def test_a_label_fixed_by_hand_changes_the_next_comparisons_labels(toy_pair):
    from core.analysis.comparison import compare
    from core.analysis.issue_sources import correct_photos
    from core.analysis.model_choices import dataset_choices, default_pair, model_choices
    from core.store import Store

    settings, dataset = toy_pair
    store = Store(settings.db_path)
    key = dataset.keys("test")[0]
    given = {p.key: p.label for p in dataset.pairs()}[key]
    fixed_to = next(c for c in dataset.classes if c != given)
    correct_photos(store, dataset, {key: fixed_to})
    choices = model_choices(settings)
    baseline, tuned = default_pair(settings, choices)
    offered = dataset_choices(store, [])
    fixed = next(d for d in offered if "labels fixed by hand" in d.label)
    plain = next(d for d in offered if d.ident == "dataset:toy" and d is not fixed)
    result = compare(settings, store, choices[baseline], choices[tuned], fixed)
    assert result.a.label_set == "folders+human (1 fixed)"  # said on the page beside it
    assert {i["id"]: i["true"] for i in result.a.items}[key] == fixed_to
    before = compare(settings, store, choices[baseline], choices[tuned], plain)
    assert before.a.label_set == "folders"  # the folders' labels are still there to choose
    assert {i["id"]: i["true"] for i in before.a.items}[key] == given
