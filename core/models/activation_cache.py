"""Frozen-prefix activations of photos, computed once and kept on disk.

A photo's activations after an image tower's frozen blocks depend only on the photo file,
the preprocessing and the prefix's weights. Kept under a digest of the last two, they serve
every later reader whose prefix is the same: registering a dataset (near-duplicates), the
offline CLIP's build, a fine-tune freezing those blocks (its evaluation view), and the
evaluation of any model sharing them (the offline CLIP, its fine-tunes, WiSE-FT blends).
On EfficientNet-Lite the prefix is ~80% of a forward pass, so each of those costs a fraction
of a full pass once the first has run.

Photos are identified by path, size and modification time: a rewritten file is computed
again. Each call that computes something writes one shard (atomically), so concurrent
writers never clobber each other; a reader merges the shards of its digest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.models.vision_stages import VisionStages
from core.progress import Progress

log = logging.getLogger(__name__)

# The depth shared by every reader: the first six blocks of EfficientNet-Lite (its
# high-resolution stages). A reader freezing more continues from there; one freezing
# fewer keeps its own entry. See core.training.freezing for how blocks are counted.
SHARED_DEPTH = 6
FORMAT = 1  # bump when what a stored row means changes (decoding, layout)
BATCH = 8  # depthwise-convolution towers are fastest on CPU at small batches


def photo_identity(path: str) -> str:
    stat = os.stat(path)
    return f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}"


def preprocess_digest(cfg: Mapping[str, Any]) -> str:
    """Equal for equal preprocessing, however spelled (open_clip says 240 or (240, 240))."""
    size = cfg["size"]
    canonical = {**cfg, "size": [size, size] if isinstance(size, int) else list(size)}
    text = json.dumps(canonical, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def eval_transform(cfg: Mapping[str, Any]) -> Any:
    """open_clip's evaluation transform for a preprocessing config."""
    from open_clip.transform import PreprocessCfg, image_transform_v2

    return image_transform_v2(PreprocessCfg(**cfg), is_train=False)


class ActivationCache:
    """Activations on disk under `folder`; with no folder, computed and not kept."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None

    def _entry(self, stages: VisionStages, preprocess: Mapping[str, Any]) -> Path | None:
        if self.folder is None:
            return None
        name = f"v{FORMAT}-{stages.prefix_digest()}-{preprocess_digest(preprocess)}"
        return self.folder / name

    def _read(self, entry: Path | None) -> dict[str, np.ndarray]:
        stored: dict[str, np.ndarray] = {}
        for shard in sorted(entry.glob("*.npz")) if entry is not None else ():
            try:
                with np.load(shard) as data:
                    for identity, row in zip(data["ids"], data["activations"], strict=True):
                        stored[str(identity)] = row
            except (OSError, ValueError, KeyError) as exc:  # a damaged shard is computed again
                log.warning("activation cache shard %s unreadable (%s): ignored", shard, exc)
        return stored

    def _write(self, entry: Path, ids: list[str], rows: list[np.ndarray]) -> None:
        entry.mkdir(parents=True, exist_ok=True)
        final = entry / f"{uuid.uuid4().hex}.npz"
        partial = entry / f".{final.name}.tmp"
        with partial.open("wb") as handle:
            np.savez(handle, ids=np.array(ids), activations=np.stack(rows))
        os.replace(partial, final)

    def activations(
        self,
        stages: VisionStages,
        preprocess: Mapping[str, Any],
        photos: Sequence[tuple[str, str]],
        progress: Progress | None = None,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """{key: activations (a float16 tensor)} of (key, path) photos after the prefix,
        and {key: why} for the unreadable ones."""
        import torch

        from core.catalog.images import ImageError, load_rgb

        entry = self._entry(stages, preprocess)
        stored = self._read(entry)
        identity: dict[str, str] = {}
        failed: dict[str, str] = {}
        for key, path in photos:
            try:
                identity[key] = photo_identity(path)
            except OSError as exc:
                failed[key] = str(exc)
        missing = [(k, p) for k, p in photos if k in identity and identity[k] not in stored]
        transform = eval_transform(preprocess)
        new_ids, new_rows = [], []
        for start in range(0, len(missing), BATCH):
            tensors, keys = [], []
            for key, path in missing[start : start + BATCH]:
                try:
                    # decoded whole, as every other reader decodes (no reduced-scale JPEG)
                    tensors.append(transform(load_rgb(path)))
                    keys.append(key)
                except (ImageError, OSError) as exc:
                    failed[key] = str(exc)
            if tensors:
                out = stages.prefix(torch.stack(tensors)).half().numpy()
                for key, row in zip(keys, out, strict=True):
                    stored[identity[key]] = row
                    new_ids.append(identity[key])
                    new_rows.append(row)
            if progress:
                done = min(start + BATCH, len(missing))
                progress(done, len(missing), "photos through the frozen trunk")
        if new_rows and entry is not None:
            self._write(entry, new_ids, new_rows)
        found = {
            key: torch.from_numpy(stored[identity[key]])
            for key, _ in photos
            if key in identity and key not in failed
        }
        return found, failed


def shared_activations(
    cache: ActivationCache,
    stages: VisionStages,
    preprocess: Mapping[str, Any],
    photos: Sequence[tuple[str, str]],
    progress: Progress | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Activations after `stages.frozen` blocks, read at the shared depth when the prefix
    goes at least that deep (and continued through the remaining frozen blocks here), so
    every reader of one trunk shares one entry."""
    import torch

    depth = min(SHARED_DEPTH, stages.depth - 1)
    if stages.frozen <= depth:
        return cache.activations(stages, preprocess, photos, progress)
    shared = VisionStages(stages.trunk, depth)
    found, failed = cache.activations(shared, preprocess, photos, progress)
    keys = list(found)
    with torch.no_grad():
        for start in range(0, len(keys), 64):
            chunk = keys[start : start + 64]
            x = torch.stack([found[k] for k in chunk]).float()
            deeper = stages.run(x, depth, stages.frozen).half()
            found.update(zip(chunk, deeper, strict=True))
    return found, failed


def pooled_features(
    cache: ActivationCache,
    trunk: Any,
    preprocess: Mapping[str, Any],
    photos: Sequence[tuple[str, str]],
    progress: Progress | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """{key: the trunk's pooled features (float16)} of (key, path) photos, and failures."""
    whole = VisionStages(trunk, len(trunk.blocks) + 1)
    return shared_activations(cache, whole, preprocess, photos, progress)
