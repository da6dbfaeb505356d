"""A tower cut after its frozen blocks, their outputs kept on disk, and fine-tuning that
computes them once: the same numbers as the whole tower, at a fraction of the work."""

from __future__ import annotations

import pytest

from tests.conftest import make_photo_folder

SMALL_TIMM = {
    "timm_model_name": "efficientnet_lite0", "timm_model_pretrained": False,
    "timm_pool": "avg", "timm_proj": "linear", "image_size": 64,
}  # fmt: skip


def timm_parts():
    """open_clip with a small random EfficientNet-Lite0 image tower and the packaged MiniLM."""
    from dataclasses import asdict

    import open_clip
    import torch
    from open_clip.transform import PreprocessCfg, image_transform_v2

    from core.models.clip import ClipParts
    from core.models.sources import packaged_minilm_path
    from core.offline_clip.recipe import offline_model_cfg

    text_dir = packaged_minilm_path()
    torch.manual_seed(0)
    cfg = {**offline_model_cfg(text_dir), "vision_cfg": SMALL_TIMM}
    text_cfg = {**cfg["text_cfg"], "hf_model_pretrained": True}
    model = open_clip.CustomTextCLIP(cfg["embed_dim"], SMALL_TIMM, text_cfg)
    preprocess = PreprocessCfg(size=64, mean=(0.5,) * 3, std=(0.5,) * 3)
    open_clip.model.set_model_preprocess_cfg(model, asdict(preprocess))
    tokenizer = open_clip.tokenizer.HFTokenizer(str(text_dir), context_length=77)
    transform = image_transform_v2(preprocess, is_train=False)
    return ClipParts(model.eval(), cfg, transform, tokenizer, text_assets=text_dir)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    from core.training.pairs import folder_pairs

    folder = make_photo_folder(tmp_path_factory.mktemp("photos") / "toy", per_class=6, copies=0)
    return folder_pairs(folder["root"])


def _batch(parts, pairs):
    import torch

    from core.catalog.images import load_rgb

    return torch.stack([parts.preprocess(load_rgb(p.image)) for p in pairs])


@pytest.mark.parametrize("frozen", [1, 5, 8])
def test_prefix_then_suffix_is_the_whole_tower(photos, frozen):
    import torch

    from core.models.vision_stages import split_vision

    parts = timm_parts()
    stages = split_vision(parts.model, frozen)
    batch = _batch(parts, photos[:4])
    with torch.no_grad():
        whole = parts.model.encode_image(batch)
        cut = stages.suffix(stages.prefix(batch))
    assert torch.allclose(whole, cut, atol=1e-5)
    assert split_vision(parts.model, 0) is None


def test_cached_activations_are_read_back_and_recomputed_only_when_a_photo_changes(
    photos, tmp_path
):
    import open_clip
    import torch

    from core.models.activation_cache import ActivationCache, shared_activations
    from core.models.vision_stages import split_vision

    parts = timm_parts()
    preprocess = open_clip.get_model_preprocess_cfg(parts.model)
    cache = ActivationCache(tmp_path / "cache")
    items = [(p.key, p.image) for p in photos]
    whole = split_vision(parts.model, 8)  # pooled features: read at the shared depth (6)
    first, failed = shared_activations(cache, whole, preprocess, items)
    assert not failed and len(first) == len(items)
    assert len(list((tmp_path / "cache").iterdir())) == 1  # one entry: the shared depth
    again, _ = shared_activations(cache, whole, preprocess, items)
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1  # nothing computed again
    assert all(torch.equal(first[k], again[k]) for k in first)
    with torch.no_grad():
        expected = whole.prefix(_batch(parts, photos[:2]))
    assert torch.allclose(first[photos[0].key].float(), expected[0], atol=2e-2, rtol=1e-2)
    # a rewritten photo is computed again; an unreadable one is reported, not fatal
    from PIL import Image

    Image.open(photos[1].image).rotate(90).save(photos[1].image)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    _, failed = shared_activations(
        cache, whole, preprocess, [*items, ("bad", str(tmp_path / "broken.jpg"))]
    )
    assert list(failed) == ["bad"]
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 2  # just the rewritten photo


def test_a_fine_tune_with_cached_views_trains_only_what_is_unfrozen(photos, tmp_path):
    import torch
    import torch.nn.functional as F

    from core.models.activation_cache import ActivationCache
    from core.training.config import TrainConfig
    from core.training.finetune import fine_tune
    from core.training.pairs import split_pairs
    from core.training.session import open_session

    config = TrainConfig(
        epochs=2, batch_size=8, lr=1e-3, freeze_text=True, freeze_vision=5, cached_views=2,
        templates=("a photo of {label}",),
    )  # fmt: skip
    cache = ActivationCache(tmp_path / "cache")
    split = split_pairs(photos, seed=0)
    parts = timm_parts()
    session = open_session(parts, photos, split, config, None, cache)
    assert {len(session.views[k]) for k in split.train} == {2}  # evaluation view + 1 augmented
    assert {len(session.views[k]) for k in (*split.val, *split.test)} == {1}
    assert not session.bank.images  # decoded photos are let go once cached
    keys = list(split.test)
    with torch.no_grad():
        expected = F.normalize(
            parts.model.encode_image(_batch(parts, [session.pairs[k] for k in keys])), dim=-1
        )
    got = session.image_features(keys, train=False)
    assert torch.allclose(got, expected, atol=2e-3)

    parts = timm_parts()
    before = {k: v.clone() for k, v in parts.model.state_dict().items()}
    record = fine_tune(
        parts, {"spec": "x"}, photos, config, tmp_path / "runs", "cached", cache=cache
    )
    after = parts.model.state_dict()
    assert torch.equal(
        before["visual.trunk.blocks.4.0.conv_pw.weight"],
        after["visual.trunk.blocks.4.0.conv_pw.weight"],
    )
    assert not torch.equal(
        before["visual.trunk.blocks.5.0.conv_pw.weight"],
        after["visual.trunk.blocks.5.0.conv_pw.weight"],
    )
    assert record.status == "done" and "classification" in record.after
    assert record.timings["train_images"] == 2 * len(split.train)  # one view per photo per epoch
