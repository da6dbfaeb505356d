"""Fine-tuning on real photos with real (tiny) open_clip models; the run registry."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import OFFICE, TINY_CLIP_CFG, needs_office

SMALL_VISION = {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16}

pytestmark = needs_office


def office_subset(per_class: int):
    from core.training.pairs import folder_pairs

    by_label: dict[str, list] = {}
    for pair in folder_pairs(OFFICE):
        by_label.setdefault(pair.label, []).append(pair)
    return [p for label in sorted(by_label) for p in by_label[label][:per_class]]


def tiny_vit_parts():
    import open_clip
    import torch

    from core.models.clip import ClipParts

    torch.manual_seed(0)
    model = open_clip.CLIP(**TINY_CLIP_CFG)
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=32)
    return ClipParts(model, TINY_CLIP_CFG, None, tokenizer)


def small_locked_text_parts():
    """The packaged MiniLM text tower with a small random ResNet image tower."""
    from dataclasses import asdict

    import open_clip
    import torch
    from open_clip.transform import PreprocessCfg, image_transform_v2

    from core.models.clip import ClipParts
    from core.models.sources import packaged_minilm_path
    from core.offline_clip.recipe import offline_model_cfg

    text_dir = packaged_minilm_path()
    torch.manual_seed(0)
    cfg = {**offline_model_cfg(text_dir), "vision_cfg": SMALL_VISION}
    text_cfg = {**cfg["text_cfg"], "hf_model_pretrained": True}
    model = open_clip.CustomTextCLIP(cfg["embed_dim"], SMALL_VISION, text_cfg)
    preprocess = PreprocessCfg(size=SMALL_VISION["image_size"])
    open_clip.model.set_model_preprocess_cfg(model, asdict(preprocess))
    tokenizer = open_clip.tokenizer.HFTokenizer(str(text_dir), context_length=77)
    transform = image_transform_v2(preprocess, is_train=False)
    return ClipParts(model, cfg, transform, tokenizer, text_assets=text_dir)


def test_contrastive_loss_counts_shared_texts_as_positives():
    import torch

    from core.training.session import contrastive_loss

    images = torch.eye(3)
    texts_feats = torch.eye(3)
    # images 0 and 1 share a text: each should count the other's text as a positive
    loss = contrastive_loss(images, texts_feats, ["a", "a", "b"], torch.tensor(1.0))
    logits = images @ texts_feats.T
    log_p = torch.log_softmax(logits, dim=1)
    expected_rows = [
        -(log_p[0, 0] + log_p[0, 1]) / 2,
        -(log_p[1, 0] + log_p[1, 1]) / 2,
        -log_p[2, 2],
    ]
    expected = torch.stack(expected_rows).mean()  # logits are symmetric, so both halves agree
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_split_is_seeded_stratified_and_disjoint():
    from core.training.pairs import split_pairs

    pairs = office_subset(50)
    a = split_pairs(pairs, seed=1)
    assert a == split_pairs(pairs, seed=1)
    assert a != split_pairs(pairs, seed=2)
    train, val, test = set(a.train), set(a.val), set(a.test)
    assert not (train & val or train & test or val & test)
    assert len(train | val | test) == len(pairs)
    labels_in_test = {p.label for p in pairs if p.key in test}
    assert labels_in_test == {"keyboard", "laptop", "mouse", "phone"}


def test_training_lowers_loss_and_raises_held_out_accuracy(tmp_path):
    from core.training.config import TrainConfig
    from core.training.finetune import fine_tune

    config = TrainConfig(
        epochs=10, batch_size=32, lr=2e-3, weight_decay=0.0, augment="none",
        test_frac=0.25, freeze_text=True,
    )  # fmt: skip
    record = fine_tune(
        small_locked_text_parts(), {"spec": "scratch"}, office_subset(60), config, tmp_path
    )
    before, after = record.before["classification"], record.after["classification"]
    assert after["n"] == before["n"] == 60
    assert record.after["loss"] < record.before["loss"] - 0.1
    assert after["accuracy"] >= before["accuracy"] + 0.2
    assert after["accuracy"] > after["chance"]
    assert {c["label"] for c in after["per_class"]} == {"keyboard", "laptop", "mouse", "phone"}
    assert [h["epoch"] for h in record.history] == list(range(1, 11))
    assert record.history[-1]["train_loss"] < record.history[0]["train_loss"]
    assert record.status == "done" and Path(record.checkpoint, "open_clip_config.json").is_file()
    assert record.timings["train_images_per_s"] > 0


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_frozen_vit_blocks_and_text_tower_do_not_change(tmp_path):
    import torch

    from core.training.config import TrainConfig
    from core.training.finetune import fine_tune

    parts = tiny_vit_parts()
    start = _state(parts.model)
    config = TrainConfig(epochs=1, batch_size=8, lr=1e-2, freeze_vision=1, freeze_text=True)
    fine_tune(parts, {"spec": "tiny"}, office_subset(6), config, tmp_path)
    end = _state(parts.model)
    frozen = [
        k
        for k in start
        if k.startswith(("visual.conv1", "visual.transformer.resblocks.0.", "visual.ln_pre"))
        or not k.startswith(("visual.", "logit_"))
    ]
    trained = [k for k in start if k.startswith("visual.transformer.resblocks.1.")]
    assert frozen and trained
    assert all(torch.equal(start[k], end[k]) for k in frozen)
    assert any(not torch.equal(start[k], end[k]) for k in trained)


def test_frozen_resnet_blocks_keep_batchnorm_statistics(tmp_path):
    import torch

    from core.training.config import TrainConfig
    from core.training.finetune import fine_tune

    parts = small_locked_text_parts()
    start = _state(parts.model)
    config = TrainConfig(epochs=1, batch_size=8, lr=1e-2, freeze_vision=2, freeze_text=True)
    fine_tune(parts, {"spec": "scratch"}, office_subset(6), config, tmp_path)
    end = _state(parts.model)
    frozen = [k for k in start if k.startswith(("visual.bn1.", "visual.layer1.", "visual.layer2."))]
    assert any(k.endswith("running_mean") for k in frozen)
    assert all(torch.equal(start[k], end[k]) for k in frozen)
    assert any(not torch.equal(start[k], end[k]) for k in start if k.startswith("visual.layer4."))


def test_freezing_more_blocks_than_exist_is_a_clear_error(tmp_path):
    from core.training.config import TrainConfig
    from core.training.finetune import fine_tune

    config = TrainConfig(epochs=1, batch_size=8, freeze_vision=5)
    with pytest.raises(ValueError, match="2 blocks"):
        fine_tune(tiny_vit_parts(), {"spec": "tiny"}, office_subset(4), config, tmp_path)


def test_resume_matches_an_uninterrupted_run(tmp_path):
    import torch
    from safetensors.torch import load_file

    from core.training.config import TrainConfig
    from core.training.finetune import fine_tune, resume
    from core.training.runs import load_run

    pairs = office_subset(8)
    config = TrainConfig(epochs=3, batch_size=8, lr=1e-3, schedule="constant", augment="none")
    straight = fine_tune(tiny_vit_parts(), {"spec": "tiny"}, pairs, config, tmp_path / "a")
    short = fine_tune(
        tiny_vit_parts(), {"spec": "tiny"}, pairs, replace(config, epochs=2), tmp_path / "b"
    )
    resumed = resume(tmp_path / "b", short.run_id, epochs=3)
    assert resumed.epochs_done == 3 and len(resumed.history) == 3
    assert load_run(tmp_path / "b", short.run_id).status == "done"
    a = load_file(Path(straight.checkpoint) / "open_clip_model.safetensors")
    b = load_file(Path(resumed.checkpoint) / "open_clip_model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_wise_alpha_zero_gives_back_the_starting_weights(tmp_path):
    import torch
    from safetensors.torch import load_file

    from core.training.config import TrainConfig
    from core.training.finetune import fine_tune

    parts = tiny_vit_parts()
    start = _state(parts.model)
    config = TrainConfig(epochs=1, batch_size=8, lr=1e-2, wise_alpha=0.0)
    record = fine_tune(parts, {"spec": "tiny"}, office_subset(4), config, tmp_path)
    saved = load_file(Path(record.checkpoint) / "open_clip_model.safetensors")
    assert all(torch.allclose(saved[k], start[k]) for k in start if start[k].is_floating_point())


def test_run_record_round_trips_and_is_usable_as_the_clip_model(tmp_path):
    from core.models.clip import load_clip
    from core.models.sources import LOCAL, resolve_clip
    from core.settings import Settings
    from core.training.config import TrainConfig
    from core.training.finetune import fine_tune
    from core.training.runs import list_runs, load_run, read_inputs

    pairs = office_subset(4)
    config = TrainConfig(epochs=1, batch_size=8)
    record = fine_tune(tiny_vit_parts(), {"spec": "tiny", "key": "tiny"}, pairs, config, tmp_path)
    as_json = json.loads(json.dumps(record.as_dict(), default=str))
    assert load_run(tmp_path, record.run_id).as_dict() == as_json
    assert [r.run_id for r in list_runs(tmp_path)] == [record.run_id]
    saved_pairs, split = read_inputs(tmp_path, record.run_id)
    assert saved_pairs == pairs and len(split.test) == record.data["split"]["test"]
    assert TrainConfig.from_dict(record.config) == config

    settings = Settings(runs_dir=tmp_path, clip_model=record.clip_spec)
    source = resolve_clip(settings)
    assert source.status == LOCAL and source.key == f"run-{record.run_id}".lower()
    clip = load_clip(settings)
    assert clip.dim == TINY_CLIP_CFG["embed_dim"]


def test_cli_sweep_runs_every_config_and_lists_them(tmp_path, tiny_clip_dir, capsys, monkeypatch):
    from core.cli.app import main

    folder = tmp_path / "photos"
    for pair in office_subset(5):
        label_dir = folder / Path(pair.image).parent.name
        label_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(pair.image, label_dir)
    monkeypatch.setenv("PRODUCTLENS_RUNS_DIR", str(tmp_path / "runs"))
    common = ["--quiet", "--json", "--clip", str(tiny_clip_dir), "--db", str(tmp_path / "db")]
    args = ["finetune", "--images-dir", str(folder), "--epochs", "1", "--batch-size", "4,8"]
    assert main([*args, *common, "--freeze-vision", "none"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [r["config"]["batch_size"] for r in payload["runs"]] == [4, 8]
    assert main(["runs", *common]) == 0
    listed = json.loads(capsys.readouterr().out)["runs"]
    assert {r["batch_size"] for r in listed} == {4, 8}
    assert all(r["status"] == "done" for r in listed)
    assert main(["finetune", "--resume", "no-such-run", *common]) == 2
    assert main([*args, *common, "--freeze-vision", "9"]) == 2  # tiny ViT has 2 blocks

    # --if-missing (what `make data` uses): the first call trains, the second one does not
    capsys.readouterr()
    once = ["finetune", "--images-dir", str(folder), "--epochs", "1", "--name", "once"]
    assert main([*once, *common, "--if-missing"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main([*once, *common, "--if-missing"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["skipped"] and second["runs"][0]["run_id"] == first["runs"][0]["run_id"]
    assert main(["runs", *common]) == 0
    listed = json.loads(capsys.readouterr().out)["runs"]
    assert [r["name"] for r in listed].count("once") == 1
