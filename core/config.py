"""One typed settings object, read from the environment (and Streamlit secrets in the app)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"

DEFAULT_CLIP = "ViT-B-32/openai"
DEFAULT_TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Settings:
    db_path: Path = DATA_DIR / "lancedb"
    catalog: str | None = None  # None: the most recently ingested catalog
    clip_model: str = DEFAULT_CLIP
    text_model: str = DEFAULT_TEXT_MODEL
    image_cache_dir: Path = DATA_DIR / "cache" / "images"
    models_dir: Path = DATA_DIR / "models"
    runs_dir: Path = DATA_DIR / "runs"  # fine-tuning runs: records and checkpoints
    top_k: int = 5
    llm_model: str | None = None
    llm_api_base: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)  # never printed
    llm_timeout_s: float = 30.0
    hub_probe_timeout_s: float = 2.0

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_ENV_KEYS: dict[str, str] = {
    "PRODUCTLENS_DB": "db_path",
    "PRODUCTLENS_CATALOG": "catalog",
    "PRODUCTLENS_CLIP": "clip_model",
    "PRODUCTLENS_TEXT_MODEL": "text_model",
    "PRODUCTLENS_IMAGE_CACHE": "image_cache_dir",
    "PRODUCTLENS_MODELS_DIR": "models_dir",
    "PRODUCTLENS_RUNS_DIR": "runs_dir",
    "PRODUCTLENS_TOP_K": "top_k",
    "PRODUCTLENS_LLM_MODEL": "llm_model",
    "PRODUCTLENS_LLM_API_BASE": "llm_api_base",
    "PRODUCTLENS_LLM_API_KEY": "llm_api_key",
    "PRODUCTLENS_LLM_TIMEOUT": "llm_timeout_s",
}

_PATH_FIELDS = {"db_path", "image_cache_dir", "models_dir", "runs_dir"}
_INT_FIELDS = {"top_k"}
_FLOAT_FIELDS = {"llm_timeout_s"}


def _coerce(name: str, raw: str) -> object:
    if name in _PATH_FIELDS:
        return Path(raw).expanduser()
    if name in _INT_FIELDS:
        return int(raw)
    if name in _FLOAT_FIELDS:
        return float(raw)
    return raw


def load_settings(
    env: Mapping[str, str] | None = None, secrets: Mapping[str, object] | None = None
) -> Settings:
    """Settings from secrets (lower precedence) then environment variables.

    `secrets` uses the same names as the env vars (e.g. PRODUCTLENS_LLM_MODEL) so one
    `.streamlit/secrets.toml` line is enough to pick an LLM.
    """
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for source in (secrets or {}, env):
        for key, name in _ENV_KEYS.items():
            raw = source.get(key)
            if raw not in (None, ""):
                values[name] = _coerce(name, str(raw))
    return Settings(**values)  # type: ignore[arg-type]
