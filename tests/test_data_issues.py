"""Data issues: label errors from out-of-sample predictions, near-duplicates across a
split, outliers; stored and reused; fixes stored as `human` and offered to the comparison."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.analysis.data_issues import find_issues
from tests.conftest import ROOT, label_with_slips, make_photo_folder, needs_pc_parts


def _clusters(classes: int = 4, per_class: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, 32)) * 4
    labels = np.repeat(np.arange(classes), per_class)
    return centres[labels] + rng.normal(size=(len(labels), 32)), labels


def test_flipped_labels_are_found_from_out_of_sample_predictions():
    features, labels = _clusters()
    rng = np.random.default_rng(1)
    flipped = rng.choice(len(labels), size=len(labels) // 10, replace=False)
    given = [f"class {c}" for c in labels]
    for i in flipped:
        given[i] = f"class {(labels[i] + 1) % 4}"
    keys = [str(i) for i in range(len(labels))]
    issues = find_issues("toy", "gaussian", "given", keys, keys, given, features)
    found = {int(i.key) for i in issues.label_issues}
    truth = {int(i) for i in flipped}
    assert len(found & truth) / len(found) >= 0.8 and len(found & truth) / len(truth) >= 0.8
    suggested = {int(i.key): i.suggested for i in issues.label_issues}
    assert all(suggested[i] == f"class {labels[i]}" for i in found & truth)


def test_a_label_the_model_still_finds_likeliest_is_never_called_an_error():
    from core.analysis.data_issues import label_issues

    labels = np.repeat(np.arange(3), 40)
    probabilities = np.full((120, 3), 0.2)
    probabilities[np.arange(120), labels] = 0.6
    doubted = np.arange(0, 120, 10)  # unsure (0.34), but still their likeliest class
    probabilities[doubted] = 0.33
    probabilities[doubted, labels[doubted]] = 0.34
    wrong = doubted + 1  # another class is likelier (0.64 against 0.36)
    probabilities[wrong] = 0.0
    probabilities[wrong, labels[wrong]] = 0.36
    probabilities[wrong, (labels[wrong] + 1) % 3] = 0.64
    keys = [str(i) for i in range(120)]
    found = label_issues(keys, keys, labels, ["a", "b", "c"], probabilities)
    assert {int(i.key) for i in found} == set(wrong.tolist())
    assert all(i.suggested != i.given for i in found)


def test_a_move_between_classes_accepted_for_one_another_is_not_an_error():
    from core.analysis.data_issues import label_issues

    labels = np.repeat(np.arange(3), 40)  # "cable", "general accessory", "stationery"
    probabilities = np.full((120, 3), 0.1)
    probabilities[np.arange(120), labels] = 0.8
    moved = np.arange(41, 80, 4)  # labelled general accessory, likelier stationery
    probabilities[moved] = [0.05, 0.05, 0.9]
    wrong = np.arange(1, 40, 4)  # labelled cable, likelier general accessory
    probabilities[wrong] = [0.05, 0.9, 0.05]
    keys = [str(i) for i in range(120)]
    classes = ["cable", "general accessory", "stationery"]
    strict = label_issues(keys, keys, labels, classes, probabilities)
    assert {int(i.key) for i in strict} == set(moved.tolist()) | set(wrong.tolist())
    lenient = label_issues(keys, keys, labels, classes, probabilities,
                           interchangeable=("general accessory", "stationery"))  # fmt: skip
    assert {int(i.key) for i in lenient} == set(wrong.tolist())


def test_a_name_that_reads_as_its_class_keeps_a_keyword_label_the_model_disputes():
    from core.analysis.data_issues import label_issues

    labels = np.repeat(np.arange(2), 40)  # "flash drive" (a small class), "general accessory"
    probabilities = np.full((80, 2), 0.2)
    probabilities[np.arange(80), labels] = 0.8
    disputed = np.arange(0, 20, 2)  # labelled flash drive, the model likes the big class
    probabilities[disputed] = [0.1, 0.9]
    keys, classes = [str(i) for i in range(80)], ["flash drive", "general accessory"]
    reads_as = np.zeros((80, 2))
    reads_as[disputed[:5]] = [0.6, 0.2]  # "SanDisk USB Flash Drive": reads as its class
    reads_as[disputed[5:]] = [0.2, 0.6]  # "Flash drive case": reads as the suggestion
    plain = {int(i.key) for i in label_issues(keys, keys, labels, classes, probabilities)}
    assert plain & set(disputed[:5].tolist()) and plain & set(disputed[5:].tolist())
    read = label_issues(keys, keys, labels, classes, probabilities, reads_as=reads_as)
    assert {int(i.key) for i in read} == set(disputed[5:].tolist())  # uncapped, as two agree
    # a guess is flagged whatever its name reads as: the guess was made by that reading
    teaches = np.ones(80, bool)
    teaches[disputed[:5]] = False
    guessed = label_issues(keys, keys, labels, classes, probabilities, teaches=teaches,
                           reads_as=reads_as)  # fmt: skip
    assert set(disputed[:5].tolist()) <= {int(i.key) for i in guessed}


def test_a_guessed_label_never_teaches_the_judge_and_is_flagged_when_disputed():
    features, labels = _clusters(classes=3, per_class=60)
    rng = np.random.default_rng(2)
    # A labeller's habit: a tight group near class 0 that it always guesses is class 1.
    # Learning from those guesses, the judge would learn the habit and call them right.
    habit = features[labels == 0].mean(axis=0) + rng.normal(size=32) * 1.5
    features = np.vstack([features, habit + rng.normal(size=(30, 32)) * 0.3])
    given = [f"class {c}" for c in labels] + ["class 1"] * 30
    guessed = np.arange(len(labels), len(given))
    keys = [str(i) for i in range(len(given))]
    learnt = find_issues("toy", "gaussian", "given", keys, keys, given, features)
    teaches = np.ones(len(given), bool)
    teaches[guessed] = False
    judged = find_issues("toy", "gaussian", "given", keys, keys, given, features, teaches=teaches)
    flagged = {int(i.key): i for i in judged.label_issues}
    assert set(guessed.tolist()) <= set(flagged)  # every guess of the habit is flagged
    assert all(flagged[i].guessed and flagged[i].suggested == "class 0" for i in guessed)
    assert len(set(guessed.tolist()) & {int(i.key) for i in learnt.label_issues}) < 15
    assert judged.guessed_labels == 30 and "30 guessed labels" in judged.summary_lines()[1]


def test_duplicates_across_a_split_are_a_leak_and_far_points_are_outliers():
    features, labels = _clusters(classes=2, per_class=30)
    features[1] = features[0]  # one photo twice: once in train, once in test
    features[-1] = 100.0  # nothing like the rest
    keys = [f"p{i}" for i in range(len(labels))]
    parts = {k: "train" for k in keys} | {"p1": "test"}
    given = [f"class {c}" for c in labels]
    issues = find_issues("toy", "gaussian", "given", keys, keys, given, features, parts)
    leak = next(d for d in issues.duplicates if {d.first, d.second} == {"p0", "p1"})
    assert leak.exact and leak.straddles == "test/train" and issues.leaky_pairs == [leak]
    assert issues.outliers[0].key == keys[-1]


@pytest.fixture
def toy_dataset(tmp_path):
    from core.datasets.registry import register_dataset
    from core.models.activation_cache import ActivationCache
    from core.settings import Settings
    from core.store import Store

    settings = Settings(data_dir=tmp_path, db_path=tmp_path / "db", models_dir=tmp_path / "m")
    folder = make_photo_folder(tmp_path / "toy", classes=3, per_class=10, copies=2)
    store = Store(settings.db_path)
    cache = ActivationCache(settings.activation_cache_dir)
    dataset, _ = register_dataset(store, "toy", folder["root"], cache=cache)
    return settings, store, cache, dataset


def test_a_datasets_issues_are_stored_and_a_fix_makes_a_named_label_set(toy_dataset):
    from core.analysis.issue_sources import correct_photos, dataset_issues, with_corrections
    from core.analysis.model_choices import dataset_choices

    _settings, store, cache, dataset = toy_dataset
    first, reused = dataset_issues(store, dataset, cache)
    assert not reused and first.items == sum(dataset.counts.values())
    again, reused = dataset_issues(store, dataset, cache)
    assert reused and again == first  # nothing changed: the stored result
    key = dataset.keys("test")[0]
    other = next(
        c for c in dataset.classes if c != dict((p.key, p.label) for p in dataset.pairs())[key]
    )
    correct_photos(store, dataset, {key: other})
    fixed = with_corrections(store, dataset)
    assert fixed.label_set == "folders+human (1 fixed)"
    assert {p.key: p.label for p in fixed.pairs()}[key] == other
    assert {p.key: p.label for p in dataset.pairs()}[key] != other  # the original stands
    choices = [c.label for c in dataset_choices(store, [])]
    assert any("1 labels fixed by hand" in c for c in choices)
    _, reused = dataset_issues(store, dataset, cache)
    assert not reused  # the labels changed: judged again


def test_a_catalog_fix_is_stored_as_human_and_offered_to_the_comparison(app_env):
    from core.analysis.issue_sources import HUMAN
    from core.analysis.labels import LOCAL_LABELLER, VOCABULARY, vocab_hash
    from core.analysis.model_choices import dataset_choices
    from core.store import Store

    store = Store(app_env.db_path)
    label_with_slips(store, "mini")
    vocab = vocab_hash(VOCABULARY)
    at = AppTest.from_file(str(ROOT / "pages" / "data_issues.py"), default_timeout=120)
    at.session_state["catalog"] = "mini"
    at.run()
    assert not at.exception, at.exception
    assert any(t.label.startswith("Likely label errors") for t in at.tabs)
    original = {
        r["product_id"]: r["label"] for r in store.labels.rows("mini", LOCAL_LABELLER, vocab)
    }
    boxes = {box.label: box for box in at.selectbox}
    assert "Fix one item" in boxes
    boxes["Its label"].set_value("tripod")
    next(b for b in at.button if b.label == "Store this label").click().run()
    assert not at.exception, at.exception
    assert any("Stored as labeller `human`" in s.value for s in at.success)
    human = store.labels.rows("mini", HUMAN, vocab)
    assert len(human) == 1 and human[0]["label"] == "tripod"
    pid = human[0]["product_id"]
    fixed = {
        r["product_id"]: r["label"]
        for r in store.labels.rows("mini", f"{LOCAL_LABELLER}+human", vocab)
    }
    assert fixed == {**original, pid: "tripod"}  # the original set with the one fix
    still = {r["product_id"]: r["label"] for r in store.labels.rows("mini", LOCAL_LABELLER, vocab)}
    assert still == original  # never overwritten
    labels = [c.label for c in dataset_choices(store, [])]
    assert any("pseudo-labels fixed by hand" in label for label in labels)


def test_a_catalogs_guessed_labels_are_judged_apart_and_marked_on_the_page(app_env):
    from core.analysis.issue_sources import catalog_issues, catalog_vector_keys
    from core.analysis.labels import LOCAL_LABELLER, VOCABULARY, label_catalog, vocab_hash
    from core.models.sources import resolve_clip, resolve_text_model
    from core.settings import load_settings
    from core.store import Store

    store = Store(app_env.db_path)
    label_catalog(store, "mini")
    vocab = vocab_hash(VOCABULARY)
    rows = store.labels.rows("mini", LOCAL_LABELLER, vocab)
    named = [r for r in rows if r["method"] == "rule"]
    common = Counter(r["label"] for r in named).most_common(1)[0][0]
    keyword = next(r for r in named if r["label"] == common)
    # the fallback's nearest class for a product no keyword named: a guess, and a wrong one
    store.labels.upsert([{**keyword, "label": "tripod", "method": "similarity", "score": 0.2}])
    settings = load_settings()
    text, clip = resolve_text_model(settings).key, resolve_clip(settings).key
    keys = catalog_vector_keys(store, "mini", text, clip)
    issues, _ = catalog_issues(store, "mini", LOCAL_LABELLER, vocab, keys)
    assert issues.guessed_labels == 1
    flagged = {i.key: i for i in issues.label_issues}
    guess = flagged[str(keyword["product_id"])]
    assert guess.guessed and guess.given == "tripod"
    assert not any(i.guessed for k, i in flagged.items() if k != str(keyword["product_id"]))
    at = AppTest.from_file(str(ROOT / "pages" / "data_issues.py"), default_timeout=120)
    at.session_state["catalog"] = "mini"
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    marked = table.loc[table["item"] == f"#{keyword['product_id']}", "guessed"]
    assert marked.tolist() == [True] and table["guessed"].sum() == 1


def fixed_item(options: list[str], held_out: set[str]) -> tuple[int, str, str]:
    """The first offered fix whose photo is held out (scored by the comparison): its index,
    key and given label, from the form's "key · given → suggested" options."""
    for index, option in enumerate(options):
        key, change = option.split(" · ", 1)
        if key in held_out:
            return index, key, change.split(" → ")[0]
    raise AssertionError(f"no held-out photo among the {len(options)} flagged")


@needs_pc_parts
def test_a_pc_parts_fix_on_the_page_is_stored_as_human_and_scores_the_next_comparison(
    pc_parts_app,
):
    from core.analysis.evaluate import evaluate_cached
    from core.analysis.issue_sources import with_corrections
    from core.models.clip import load_clip

    settings, store, dataset = pc_parts_app
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.switch_page("pages/data_issues.py").run()
    boxes = {box.label: box for box in at.selectbox}
    sources = boxes["Labelled data"].options
    boxes["Labelled data"].select_index(
        next(i for i, o in enumerate(sources) if o.startswith("pc-parts-subset"))
    ).run()
    assert not at.exception, at.exception
    boxes = {box.label: box for box in at.selectbox}
    index, key, given = fixed_item(boxes["Fix one item"].options, set(dataset.keys("test")))
    new = next(c for c in dataset.classes if c != given)
    boxes["Fix one item"].set_value(index)
    boxes["Its label"].set_value(new)
    next(b for b in at.button if b.label == "Store this label").click().run()
    assert not at.exception, at.exception
    assert any("Stored as labeller `human`" in s.value for s in at.success)
    fixed = with_corrections(store, dataset)
    assert fixed.corrections == {key: new} and fixed.label_set == "folders+human (1 fixed)"
    assert {p.key: p.label for p in dataset.pairs()}[key] == given  # the folder label stands

    at.switch_page("pages/compare.py").run()
    boxes = {box.label: box for box in at.selectbox}
    choice = next(o for o in boxes["Labelled data"].options if "1 labels fixed by hand" in o)
    boxes["Labelled data"].set_value(choice)
    next(b for b in at.button if b.label == "Compare").click().run()
    assert not at.exception, at.exception
    assert any("`folders+human (1 fixed)`" in m.value for m in at.markdown)
    scored, reused = evaluate_cached(store, load_clip(settings), dataset=fixed)
    assert reused  # the comparison's own evaluation, read back
    assert {i["id"]: i["true"] for i in scored.items}[key] == new
