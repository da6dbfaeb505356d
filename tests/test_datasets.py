"""Labelled photo datasets: near-duplicate groups, the split that keeps them together, the
registry in the store, and `productlens dataset`."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_photo_folder


@pytest.fixture
def photo_folder(tmp_path):
    return make_photo_folder(tmp_path / "toy")


@pytest.fixture
def store(tmp_path):
    from core.store import Store

    return Store(tmp_path / "db")


def _part_of(split) -> dict[str, str]:
    return {key: part for part in ("train", "val", "test") for key in getattr(split, part)}


def test_near_duplicates_share_a_group_and_a_part(photo_folder, store, tmp_path):
    """Resized and mirrored copies are found, and each copy sits on its original's side."""
    from core.datasets.registry import register_dataset
    from core.models.activation_cache import ActivationCache
    from core.training.pairs import folder_pairs, split_pairs

    cache = ActivationCache(tmp_path / "activations")
    dataset, reused = register_dataset(store, "toy", photo_folder["root"], cache=cache)
    assert not reused
    found = {(p["key_a"], p["key_b"]) for p in dataset.duplicate_pairs}
    found |= {(b, a) for a, b in found}
    assert set(photo_folder["copies"]) <= found  # every copy, the mirrored ones too
    part = _part_of(dataset.split)
    assert all(part[a] == part[b] for a, b in photo_folder["copies"])
    assert dataset.duplicates["straddling"] == 0
    assert dataset.duplicates["merged_groups"] >= len(photo_folder["copies"])
    assert sum(dataset.split.counts().values()) == sum(dataset.counts.values()) == 36
    # the check has teeth: a split by file, as before datasets, puts copies on both sides
    by_file = _part_of(split_pairs(folder_pairs(photo_folder["root"]), seed=0))
    assert any(by_file[a] != by_file[b] for a, b in photo_folder["copies"])


def test_group_split_is_deterministic_stratified_and_keeps_a_training_group():
    from core.datasets.split import group_split

    keys = [f"k{i:03d}" for i in range(100)]
    labels = ["a" if i < 60 else "b" for i in range(100)]
    groups = [i // 2 for i in range(100)]  # pairs
    split = group_split(keys, labels, groups, seed=3)
    again = group_split(keys[::-1], labels[::-1], groups[::-1], seed=3)
    assert split == again  # independent of input order (and of hash seeds)
    part = _part_of(split)
    assert all(part[keys[i]] == part[keys[i + 1]] for i in range(0, 100, 2))
    test_a = sum(part[k] == "test" for k, lab in zip(keys, labels, strict=True) if lab == "a")
    assert test_a == 12  # 20% of class a, in whole groups
    one_group = group_split(["x", "y"], ["c", "c"], [0, 0])
    assert one_group.train == ("x", "y")  # a class's last group always trains


def test_an_unchanged_folder_is_reused_without_reading_a_photo(photo_folder, store, tmp_path):
    from core.datasets.registry import load_dataset, register_dataset
    from core.models.activation_cache import ActivationCache

    cache_dir = tmp_path / "activations"
    first, _ = register_dataset(
        store, "toy", photo_folder["root"], cache=ActivationCache(cache_dir)
    )
    shards = sorted(cache_dir.rglob("*.npz"))
    words = {"class_0": ["a first kind", "kind zero"]}
    second, reused = register_dataset(
        store, "toy", photo_folder["root"], words, cache=ActivationCache(tmp_path / "other")
    )
    assert reused and second.split == first.split  # no regrouping for new words
    assert not (tmp_path / "other").exists()  # no photo was read
    assert load_dataset(store, "toy").words["class 0"] == ["a first kind", "kind zero"]
    assert load_dataset(store, "toy").words["class 1"] == ["class 1"]
    # a new photo changes the fingerprint: grouped and split anew, from the cache
    (photo_folder["root"] / "class_1" / "extra.jpg").write_bytes(
        (photo_folder["root"] / "class_0" / "00.jpg").read_bytes()
    )
    third, reused = register_dataset(
        store, "toy", photo_folder["root"], cache=ActivationCache(cache_dir)
    )
    assert not reused and third.fingerprint != first.fingerprint
    assert len(sorted(cache_dir.rglob("*.npz"))) == len(shards) + 1  # only the new photo


def test_words_for_a_missing_class_and_unknown_datasets_are_refused(photo_folder, store):
    from core.datasets.registry import DatasetError, load_dataset, register_dataset

    with pytest.raises(DatasetError, match=r"ram.*class 0, class 1, class 2"):
        register_dataset(store, "toy", photo_folder["root"], {"ram": ["RAM module"]})
    with pytest.raises(DatasetError, match="no dataset 'nope'"):
        load_dataset(store, "nope")
    with pytest.raises(DatasetError, match="invalid dataset name"):
        register_dataset(store, "Bad Name", photo_folder["root"])


def test_cli_adds_lists_and_shows_a_dataset(photo_folder, tmp_path, capsys, monkeypatch):
    from core.cli import main

    monkeypatch.setenv("PRODUCTLENS_DATA_DIR", str(tmp_path))
    words = tmp_path / "words.json"
    words.write_text(json.dumps({"class_2": ["a third kind"]}))
    db = str(tmp_path / "db")
    args = ["--db", db, "--json", "-q", "dataset", "add", "toy", str(photo_folder["root"])]
    assert main([*args, "--words-file", str(words), "--words", "class_0=zero|nought"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert added["classes"]["class 0"] == ["zero", "nought"]  # by folder or class name
    assert added["classes"]["class 2"] == ["a third kind"]
    assert added["duplicates"]["straddling"] == 0 and not added["reused"]
    assert main(["--db", db, "dataset", "list"]) == 0
    assert "dataset 'toy': 36 photos, 3 classes" in capsys.readouterr().out
    assert main(["--db", db, "dataset", "show", "toy"]) == 0
    shown = capsys.readouterr().out
    assert "pairs across parts: 0" in shown and "prompted as: zero | nought" in shown
    assert main(["--db", db, "dataset", "show", "missing"]) == 2
    assert "no dataset 'missing'" in capsys.readouterr().err


def test_the_offline_clip_holds_out_exactly_the_registered_test_part(photo_folder, store, tmp_path):
    """The offline CLIP splits its class-labelled photos as `dataset add` does, so a
    registered dataset's held-out part was never in its training data."""
    from core.datasets.registry import register_dataset
    from core.models.activation_cache import ActivationCache
    from core.offline_clip.recipe import training_data
    from core.settings import Settings

    settings = Settings(
        data_dir=tmp_path, db_path=tmp_path / "db", office_items_dir=photo_folder["root"]
    )
    data = training_data(settings)
    cache = ActivationCache(settings.activation_cache_dir)
    dataset, _ = register_dataset(store, "office", photo_folder["root"], cache=cache)
    assert data.splits["office_items"] == dataset.split
