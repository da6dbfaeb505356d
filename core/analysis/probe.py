"""The bar a fine-tune must clear: a logistic-regression probe on the frozen ImageNet
trunk's pooled features, trained on a dataset's training part and scored on its held-out
part (the same photos the comparison scores). A fine-tune that cannot beat it has not
earned its place; the Model comparison page and `productlens compare` show it beside it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.datasets.registry import PhotoDataset
from core.datasets.split import PARTS
from core.metrics import wilson_interval
from core.models.activation_cache import ActivationCache
from core.progress import Progress

PROBE_CS = (0.003, 0.01, 0.03, 0.1)
DEFAULT_C = 0.01  # when a dataset has no validation part


@dataclass(frozen=True)
class ProbeResult:
    trunk: str
    accuracy: float
    ci: tuple[float, float]
    n: int  # held-out photos scored
    trained_on: int
    regularisation: float  # logistic regression's C, chosen on the validation part

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        return (
            f"frozen-trunk probe ({self.trunk} features, logistic regression on "
            f"{self.trained_on:,} training photos): {self.accuracy:.3f} (95% CI "
            f"{self.ci[0]:.3f}–{self.ci[1]:.3f}) on the same {self.n:,} held-out photos"
        )


def stored_probe(
    store: Any,
    dataset: PhotoDataset,
    cache: ActivationCache,
    exclude: set[str] | frozenset[str] = frozenset(),
    progress: Progress | None = None,
) -> ProbeResult:
    """`linear_probe`, stored with the evaluations and reused while the dataset, its split,
    the excluded photos and the trunk stay the same (a page visit should not refit it)."""
    import sklearn

    from core.models.imagenet_trunk import DEFAULT_TRUNK

    decides = [
        "probe", dataset.name, dataset.fingerprint, [dataset.keys(p) for p in PARTS],
        sorted(exclude), DEFAULT_TRUNK.arch, PROBE_CS, sklearn.__version__,
    ]  # fmt: skip
    key = hashlib.sha256(json.dumps(decides).encode()).hexdigest()[:24]
    if (stored := store.evaluations.load(key)) is not None:
        return ProbeResult(**{**stored["probe"], "ci": tuple(stored["probe"]["ci"])})
    result = linear_probe(dataset, cache, exclude, progress)
    store.evaluations.save(
        key,
        {"model_key": f"probe:{DEFAULT_TRUNK.arch}", "dataset": dataset.ident,
         "label_set": "folders", "probe": result.as_dict()},
    )  # fmt: skip
    return result


def linear_probe(
    dataset: PhotoDataset,
    cache: ActivationCache,
    exclude: set[str] | frozenset[str] = frozenset(),
    progress: Progress | None = None,
) -> ProbeResult:
    """Fit on the training part, score on the test part minus `exclude` (the photos the
    comparison left out), from the trunk features every reader of the cache shares."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from core.models.activation_cache import pooled_features
    from core.models.imagenet_trunk import DEFAULT_TRUNK, load_imagenet_classifier, preprocess_cfg

    pairs = {p.key: p for p in dataset.pairs()}
    parts = {
        "train": [k for k in dataset.keys("train") if k in pairs],
        "val": [k for k in dataset.keys("val") if k in pairs],
        "test": [k for k in dataset.keys("test") if k in pairs and k not in exclude],
    }
    photos = [(k, pairs[k].image) for keys in parts.values() for k in keys]
    found, _ = pooled_features(
        cache, load_imagenet_classifier(), preprocess_cfg(), photos, progress
    )

    def rows(part: str) -> tuple[np.ndarray, np.ndarray]:
        keys = [k for k in parts[part] if k in found]
        if not keys:
            return np.empty((0, 0)), np.empty(0)
        features = np.stack([found[k].float().numpy() for k in keys])
        return features, np.asarray([pairs[k].label or "" for k in keys])

    def fitted(c: float) -> Any:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
        return model.fit(x_train, y_train)

    x_train, y_train = rows("train")
    x_val, y_val = rows("val")
    x_test, y_test = rows("test")
    # The regularisation is chosen on the validation part, never on the scored photos.
    if len(y_val):
        candidates = {c: fitted(c) for c in PROBE_CS}
        c = max(PROBE_CS, key=lambda c: float((candidates[c].predict(x_val) == y_val).mean()))
        model = candidates[c]
    else:
        c, model = DEFAULT_C, fitted(DEFAULT_C)
    correct = int((model.predict(x_test) == y_test).sum())
    return ProbeResult(
        DEFAULT_TRUNK.arch, correct / len(y_test), wilson_interval(correct, len(y_test)),
        len(y_test), len(y_train), c,
    )  # fmt: skip
