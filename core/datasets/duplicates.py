"""Near-duplicate photos: the same shot saved twice, resized, recompressed, mirrored or put
on another background. Either of two signals joins a pair:

- perceptual hashes (pHash of the photo, and of its mirror image) at most
  `HASH_DISTANCE` bits apart: copies, whatever their size or compression;
- the ImageNet trunk's pooled features at cosine ≥ `FEATURE_COSINE`: the same shot cropped,
  mirrored or re-backgrounded, which a hash of the pixels misses.

Groups are the connected components of those pairs. The thresholds were read off pc_parts'
pairs by eye (contact sheets of every pair near them). They lean towards joining: a pair
of look-alike products wrongly joined only makes a group a little larger, while a copy
missed sits on both sides of a split and flatters held-out accuracy. At 0.87 the largest
group of pc_parts holds 6 photos; below 0.85 chains of look-alikes start to grow (19, 36).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.progress import Progress

HASH_DISTANCE = 6  # of 64 bits
FEATURE_COSINE = 0.87  # EfficientNet-Lite1's pooled features, at its input size
_BLOCK = 2048  # rows per block of the pairwise comparisons: memory stays O(block × n)


@dataclass(frozen=True)
class DuplicatePair:
    a: int  # item indices, a < b
    b: int
    hash_distance: int
    cosine: float

    @property
    def signal(self) -> str:
        return "copy" if self.hash_distance <= HASH_DISTANCE else "same shot"


@dataclass(frozen=True)
class DuplicateGroups:
    group: tuple[int, ...]  # a group id per item; items of one group are near-duplicates
    pairs: tuple[DuplicatePair, ...]

    def sizes(self) -> np.ndarray:
        return np.bincount(np.asarray(self.group, dtype=np.int64))

    def summary(self) -> dict[str, int]:
        """What a person needs to judge the split: how much was merged, and why."""
        sizes = self.sizes()
        merged = sizes[sizes > 1]
        return {
            "items": len(self.group),
            "groups": len(sizes),
            "merged_groups": len(merged),
            "items_in_merged_groups": int(merged.sum()),
            "largest_group": int(sizes.max()) if len(sizes) else 0,
            "copy_pairs": sum(p.signal == "copy" for p in self.pairs),
            "same_shot_pairs": sum(p.signal == "same shot" for p in self.pairs),
        }

    def pair_rows(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        return [{**asdict(p), "key_a": keys[p.a], "key_b": keys[p.b]} for p in self.pairs]


def hamming_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between every hash of `a` and every hash of `b` (0/1 rows)."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    same = a @ b.T + (1 - a) @ (1 - b).T
    return (a.shape[1] - same).round().astype(np.int32)


def near_duplicates(
    hashes: np.ndarray,
    features: np.ndarray,
    mirrored: np.ndarray | None = None,
    hash_distance: int = HASH_DISTANCE,
    cosine: float = FEATURE_COSINE,
) -> DuplicateGroups:
    """Near-duplicate pairs and groups among n items.

    hashes: n × bits (0/1) perceptual hashes; mirrored: the same of the mirror images;
    features: n × d unit-length vectors."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(hashes)
    features = np.asarray(features, dtype=np.float32)
    pairs: list[DuplicatePair] = []
    for start in range(0, n, _BLOCK):
        rows = slice(start, min(start + _BLOCK, n))
        distance = hamming_distances(hashes[rows], hashes)
        if mirrored is not None:  # a photo against every other's mirror image
            distance = np.minimum(distance, hamming_distances(hashes[rows], mirrored))
        similarity = features[rows] @ features.T
        hits = (distance <= hash_distance) | (similarity >= cosine)
        for i, j in zip(*np.nonzero(hits), strict=True):
            a = start + int(i)
            if a < j:
                pairs.append(DuplicatePair(a, int(j), int(distance[i, j]), float(similarity[i, j])))
    edges = coo_matrix(
        (np.ones(len(pairs)), ([p.a for p in pairs], [p.b for p in pairs])), shape=(n, n)
    )
    _, labels = connected_components(edges, directed=False)
    return DuplicateGroups(tuple(int(g) for g in labels), tuple(pairs))


def perceptual_hashes(
    paths: Sequence[str], progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """pHash bits of each photo and of its mirror image (unreadable photos: all ones, so they
    match nothing by hash)."""
    import imagehash
    from PIL import ImageOps

    from core.catalog.images import ImageError, load_rgb

    plain = np.ones((len(paths), 64), dtype=bool)
    mirror = np.ones((len(paths), 64), dtype=bool)
    for i, path in enumerate(paths):
        try:
            image = load_rgb(path, min_side=64)
        except (ImageError, OSError):
            continue
        plain[i] = imagehash.phash(image).hash.ravel()
        mirror[i] = imagehash.phash(ImageOps.mirror(image)).hash.ravel()
        if progress and (i % 200 == 0 or i == len(paths) - 1):
            progress(i + 1, len(paths), "perceptual hashes")
    return plain, mirror


def trunk_features(
    photos: Sequence[tuple[str, str]], cache: Any, progress: Progress | None = None
) -> np.ndarray:
    """Unit-length pooled features of (key, path) photos from the offline CLIP's ImageNet
    trunk, at its input size, as that model sees them (unreadable photos: zero rows,
    similar to nothing). Lower resolutions were measured: at 160 px look-alikes and copies
    overlap. `cache`: a core.models.activation_cache.ActivationCache."""
    from core.models.activation_cache import pooled_features
    from core.models.imagenet_trunk import load_imagenet_classifier, preprocess_cfg

    trunk = load_imagenet_classifier()
    found, _ = pooled_features(cache, trunk, preprocess_cfg(), photos, progress)
    out = np.zeros((len(photos), trunk.num_features), dtype=np.float32)
    for i, (key, _) in enumerate(photos):
        if key in found:
            row = found[key].float().numpy()
            out[i] = row / max(float(np.linalg.norm(row)), 1e-12)
    return out
