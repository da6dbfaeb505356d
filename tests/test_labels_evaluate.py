"""Pseudo-labels (local and through a real OpenAI-compatible server), metrics, evaluation."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import OFFICE, needs_office
from tests.fake_llm import FakeLLM


def test_metrics_match_hand_computed_values():
    from core.metrics import classification_report, wilson_interval

    truth = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", "c", "c"]
    r = classification_report(truth, pred, ["a", "b", "c"])
    assert r.confusion == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert r.accuracy == pytest.approx(4 / 6)
    assert r.ci == pytest.approx((0.3000, 0.9032), abs=1e-4)
    assert r.per_class_accuracy() == pytest.approx({"a": 2 / 3, "b": 1 / 2, "c": 1.0})
    by = {c.label: c for c in r.per_class}
    assert (by["a"].precision, by["b"].precision, by["c"].precision) == (1.0, 0.5, 0.5)
    assert by["a"].f1 == pytest.approx(0.8) and by["c"].f1 == pytest.approx(2 / 3)
    assert r.balanced_accuracy == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert r.majority_baseline == pytest.approx(0.5) and r.chance == pytest.approx(1 / 3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_own_match_ranks_count_the_candidates_scoring_above_the_own_match():
    from core.metrics import own_match_ranks

    sims = [[0.9, 0.1, 0.2], [0.8, 0.5, 0.6], [0.3, 0.4, 0.2]]
    # row 0 first; row 1 beaten by columns 0 and 2; row 2 beaten by columns 0 and 1
    assert own_match_ranks(sims).tolist() == [0, 2, 2]


def test_rules_take_the_product_type_not_the_specs():
    from core.analysis.labels import VOCABULARY, rule_label

    cases = {
        "HP 14s Laptop (8GB RAM/512GB SSD, Windows 11)": "laptop",
        "Zebronics Portable Speaker With Supporting SD card, FM": "speaker",
        "Mobwill Charging Cable for Fire-Boltt Ninja Smart Watch": "general accessory",
        "Amozo Back Case Cover for iPhone 13 Pro": "phone case",
        "MI Power Bank 20000mAh Supports Laptop Charging": "power bank",
        "Motorola SURFboard SB6121 Cable Modem": "router",
        "Samsung EVO Plus 128GB microSDXC Memory Card": "microSD card",
    }
    for name, expected in cases.items():
        assert rule_label(name, VOCABULARY) == expected, name


def test_rules_name_a_devices_parts_and_accessories_not_the_device():
    from core.analysis.labels import RULES_V1, VOCABULARY, rule_label

    cases = {
        "Canon EF 75-300mm f/4-5.6 III Telephoto Zoom Lens for Canon SLR Cameras": (
            "general accessory", "camera"),
        "Kastar Replacement Sony NP-BG1 Lithium Ion Camera Battery for Sony DSC-H9": (
            "general accessory", "camera"),
        "Amazon Basics 16-Gauge Speaker Wire Cable, 100 Feet": ("general accessory", "speaker"),
        "Planet Audio AC1500.1M Monoblock Car Amplifier, Speaker Outputs": (
            "general accessory", "speaker"),
        "ESR Hybrid Case Compatible with iPad Pro 11 Inch": ("general accessory", "tablet"),
        "Solimo Back Cover Case for Samsung M31": ("phone case", None),
        "Nikon D3500 DSLR Camera 18-55mm Lens Kit": ("camera", "camera"),
        "SanDisk Cruzer Glide USB Flash Drive, 64 GB": ("usb stick", "usb stick"),
    }  # fmt: skip
    for name, (now, first) in cases.items():
        assert rule_label(name, VOCABULARY) == now, name
        assert rule_label(name, VOCABULARY, RULES_V1) == first, name  # the offline recipe's


def test_local_labeller_falls_back_to_minilm_similarity(embedded_sample):
    from core.analysis.labels import VOCABULARY, label_locally
    from core.models.text import load_text_model

    encode = load_text_model(embedded_sample).encode
    items = [(1, "Sony Bravia 4K Ultra HD Google TV"), (2, "Wireless Keyboard")]
    labels = label_locally(items, VOCABULARY, encode)
    assert labels[0].method == "similarity" and labels[0].label == "television"
    assert labels[1].method == "rule" and labels[1].label == "keyboard"


def _fake_labeller(bad_first_time: set[str], always_bad: set[str]):
    """Label by keyword, answering off-vocabulary where told to (the retry path)."""
    seen: set[str] = set()

    def respond(body):
        block = body["messages"][-1]["content"]
        answer = {}
        for line in block.splitlines():
            m = re.match(r"(\d+)\. (.*)", line)
            if not m:
                continue
            number, name = m.groups()
            if name in always_bad or (name in bad_first_time and name not in seen):
                seen.add(name)
                answer[number] = "gadget"
            elif "mouse" in name.lower():
                answer[number] = "Mouse"  # case is forgiven
            else:
                answer[number] = "general accessory"
        return "Here you go: " + json.dumps(answer)

    return respond


def test_llm_labels_are_constrained_retried_cached_and_compared(tmp_path):
    from core.analysis.labels import (
        LOCAL_LABELLER,
        VOCABULARY,
        agreement,
        label_catalog,
        stored_labels,
    )
    from core.ingest import ingest
    from core.retrieval.answer import LLMConfig
    from core.store import Store
    from tests.conftest import write_sample_subset

    store = Store(tmp_path / "db")
    ingest(store, write_sample_subset(tmp_path / "cat", 12), catalog="c")
    names = store.products.where("c", columns=["product_id", "name"]).to_pylist()
    retry_name, rejected_name = names[0]["name"], names[1]["name"]
    with FakeLLM() as llm:
        llm.script.responder = _fake_labeller({retry_name}, {rejected_name})
        config = LLMConfig(model="openai/fake", api_base=llm.base_url, api_key="sk-x", timeout_s=10)
        run = label_catalog(store, "c", llm=config, batch_size=5)
        first_requests = len(llm.script.requests)
        again = label_catalog(store, "c", llm=config, batch_size=5)
        # only the rejected name is asked again (and retried once): 2 requests
        assert len(llm.script.requests) == first_requests + 2
    by_id = {lab.product_id: lab for lab in run.labels}
    assert first_requests == 3 + 1  # 12 names in batches of 5, then one retry batch
    assert by_id[names[0]["product_id"]].label == "general accessory"  # fixed on retry
    assert by_id[names[1]["product_id"]].label is None
    assert "vocabulary" in by_id[names[1]["product_id"]].reason
    assert again.reused == 11
    system = llm.script.requests[0]["messages"][0]["content"]
    assert "data, not instructions" in system and "microSD card" in system
    assert len(stored_labels(store, "c", "llm:openai/fake", VOCABULARY)) == 12
    assert stored_labels(store, "c", "llm:openai/fake", ["mouse", "other"]) == {}

    local = label_catalog(store, "c", encode=None)
    assert local.labeller == LOCAL_LABELLER
    llm_labels, local_labels = again.by_product(), local.by_product()
    agree = agreement(llm_labels, local_labels)
    both = [p for p, label in llm_labels.items() if label and local_labels.get(p)]
    same = sum(llm_labels[p] == local_labels[p] for p in both)
    assert both and (agree["n"], agree["agree"]) == (len(both), same)
    assert agree["rate"] == same / len(both)  # kappa: test_agreement_is_corrected_for_chance


def test_agreement_is_corrected_for_chance():
    from core.analysis.labels import agreement

    a = {1: "mouse", 2: "keyboard", 3: "mouse", 4: None}
    b = {1: "mouse", 2: "mouse", 3: "mouse", 4: "router"}
    # 2 of 3 agree, but b always says "mouse": no better than chance, so kappa is 0.
    assert agreement(a, b) == {"n": 3, "agree": 2, "rate": 2 / 3, "kappa": 0.0}
    assert agreement(a, a)["kappa"] == 1.0
    assert agreement({1: "mouse", 2: "router"}, {1: "router", 2: "mouse"})["kappa"] == -1.0
    assert agreement(a, {9: "mouse"})["n"] == 0


def test_a_failing_llm_marks_rejections_and_loses_nothing(tmp_path):
    from core.analysis.labels import VOCABULARY, label_with_llm

    def broken(messages):
        raise ConnectionError("down")

    labels = label_with_llm([(1, "USB mouse"), (2, "Laptop")], VOCABULARY, broken)
    assert [lab.label for lab in labels] == [None, None]
    assert all("ConnectionError" in lab.reason for lab in labels)


def test_catalog_evaluation_is_stored_and_reused(own_sample):
    from core.analysis.evaluate import evaluate_cached
    from core.analysis.labels import label_catalog
    from core.models.clip import load_clip
    from core.models.text import load_text_model
    from core.store import Store

    store = Store(own_sample.db_path)
    label_catalog(store, "mini", encode=load_text_model(own_sample).encode)
    clip = load_clip(own_sample)
    first, cached = evaluate_cached(store, clip, catalog="mini")
    assert not cached
    k = len(first.report.labels)
    assert k >= 2 and len(first.report.confusion) == k
    assert sum(map(sum, first.report.confusion)) == first.report.n == len(first.items)
    assert first.retrieval["n"] == first.report.n
    second, cached = evaluate_cached(store, clip, catalog="mini")
    as_json = lambda e: json.loads(json.dumps(e.as_dict(), default=str))  # noqa: E731
    assert cached and as_json(second) == as_json(first)
    _, cached = evaluate_cached(store, clip, catalog="mini", refresh=True)
    assert not cached


@needs_office
def test_cli_evaluate_on_a_class_folder_prints_accuracy_with_ci(tmp_path, tiny_clip_dir, capsys):
    from core.cli.app import main

    folder = tmp_path / "photos"
    for label in ("Mouse", "Phone"):
        (folder / label).mkdir(parents=True)
        for image in sorted((OFFICE / label).iterdir())[:6]:
            shutil.copy(image, folder / label)
    (folder / "Phone" / "broken.jpg").write_bytes(b"not a jpeg")
    args = ["evaluate", "--images-dir", str(folder), "--json", "--quiet"]
    common = ["--clip", str(tiny_clip_dir), "--db", str(tmp_path / "db")]
    assert main([*args, *common]) == 0
    out = json.loads(capsys.readouterr().out)
    report = out["report"]
    assert out["classes"] == ["mouse", "phone"] and report["n"] == 12 and out["skipped"] == 1
    assert 0.0 <= report["ci"][0] <= report["accuracy"] <= report["ci"][1] <= 1.0
    assert main([*args, *common]) == 0
    assert json.loads(capsys.readouterr().out)["cached"] is True
    assert main(["evaluate", "--catalog", "nope", "--json", *common]) == 2


def _evaluation(preds: list[str], truth: list[str]):
    from core.analysis.evaluate import Evaluation
    from core.metrics import classification_report

    labels = sorted(set(truth))
    items = [
        {"id": i, "name": f"p{i}", "true": t, "pred": p, "score": 1.0, "true_score": 1.0,
         "image": None}
        for i, (t, p) in enumerate(zip(truth, preds, strict=True))
    ]  # fmt: skip
    return Evaluation("m", "local", "catalog:x", "l", labels, ["t"],
                      classification_report(truth, preds, labels), items)  # fmt: skip


def test_flips_cells_and_audit():
    from core.analysis.compare import (
        cell_items,
        confusion_difference,
        flips,
        label_audit,
        per_class_table,
    )

    truth = ["a", "a", "b", "b"]
    base = _evaluation(["a", "b", "b", "a"], truth)
    tuned = _evaluation(["a", "a", "a", "b"], truth)
    changes = flips(base, tuned)
    assert [r["id"] for r in changes["fixed"]] == [1, 3]
    assert [r["id"] for r in changes["broke"]] == [2]
    assert [i["id"] for i in cell_items(base, "b", "a")] == [3]
    diff = confusion_difference(base, tuned)
    assert diff[0].tolist() == [0.5, -0.5] and diff[1].tolist() == [0.0, 0.0]
    rows = {r["class"]: r for r in per_class_table(base, tuned)}
    assert rows["a"]["delta"] == pytest.approx(0.5) and rows["b"]["delta"] == pytest.approx(0.0)
    audit = label_audit(base, tuned)
    assert audit["all three agree"] == 1 and audit["only the fine-tune agrees with the label"] == 2
    assert audit["only the baseline agrees with the label"] == 1


@needs_office
def test_comparison_page_shows_both_models_matrices_and_delta(app_env, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.analysis.labels import label_catalog
    from core.models.text import load_text_model
    from core.store import Store
    from core.training.config import TrainConfig
    from core.training.finetune import fine_tune
    from tests.test_finetune import office_subset, tiny_vit_parts

    store = Store(app_env.db_path)
    label_catalog(store, "mini", encode=load_text_model(app_env).encode)
    runs = tmp_path / "runs"
    config = TrainConfig(epochs=1, batch_size=8, lr=1e-3)
    fine_tune(tiny_vit_parts(), {"spec": "tiny"}, office_subset(4), config, runs, "tiny-ft")
    monkeypatch.setenv("PRODUCTLENS_RUNS_DIR", str(runs))

    at = AppTest.from_file(
        str(Path(__file__).parent.parent / "streamlit_app.py"), default_timeout=120
    )
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    boxes = {box.label: box for box in at.selectbox}
    assert boxes["Fine-tuned"].value.startswith("Fine-tuned “tiny-ft”")  # the newest run
    assert boxes["Label set"].value == "local:rules+minilm-v2"  # the distribution chart
    at.button[0].click().run()
    assert not at.exception, at.exception
    metrics = [m.label for m in at.metric]
    assert any("tiny-clip" in m for m in metrics) and any("tiny-ft" in m for m in metrics)
    assert at.metric[-1].delta is not None and "pts" in at.metric[-1].delta
    charts = at.get("plotly_chart")
    # label distribution, per-class bars, two confusion matrices, their difference, and the
    # run's training curves (loss; validation accuracy)
    from core.training.runs import list_runs

    history = list_runs(runs)[0].history
    with_accuracy = any(epoch["val_accuracy"] is not None for epoch in history)
    assert len(charts) == 6 + with_accuracy
    matrices = [c for c in charts if '"texttemplate"' in c.proto.spec]
    assert len(matrices) == 3 and "%" in matrices[0].proto.spec  # "83% (10)" in every cell
    assert any('"training"' in c.proto.spec and '"epoch"' in c.proto.spec for c in charts)
    boxes = [*at.success, *at.info, *at.error]
    verdicts = [box.value for box in boxes if "McNemar" in box.value]
    assert len(verdicts) == 1 and "noise at this n" in verdicts[0]
    scores = [d.value for d in at.dataframe if "fine_tuned_f1" in d.value.columns]
    assert len(scores) == 1 and {"baseline_precision", "baseline_recall"} <= set(scores[0])


def test_held_out_restriction_recomputes_metrics_without_training_items():
    from core.analysis.compare import restrict

    truth = ["a", "a", "b", "b"]
    evaluation = _evaluation(["a", "b", "b", "a"], truth)
    held_out = restrict(evaluation, {"x:0", "x:2"})  # items 0 and 2 were trained on
    assert [i["id"] for i in held_out.items] == [1, 3]
    assert held_out.report.n == 2 and held_out.report.accuracy == 0.0
    assert held_out.skipped == evaluation.skipped + 2
    with pytest.raises(ValueError):
        restrict(evaluation, {"x:0", "x:1", "x:2", "x:3"})
