"""One typed settings object, read from the environment (and Streamlit secrets in the app).

Every path comes from here. They all default to folders of one data directory:
`PRODUCTLENS_DATA_DIR`, else `./data` when the working directory has one (a checkout, or
any project folder), else the user's data folder (`$XDG_DATA_HOME/productlens`), so an
installed package works from anywhere and a checkout keeps its data beside the code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.store_location import StorageOptions, parse_location

DEFAULT_CLIP = "ViT-B-32/openai"
DEFAULT_TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("PRODUCTLENS_DATA_DIR"):
        return Path(env["PRODUCTLENS_DATA_DIR"]).expanduser()
    local = Path.cwd() / "data"
    if local.is_dir():
        return local.resolve()
    user_data = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return user_data / "productlens"


# Text encoders' runtimes: auto and onnx mean ONNX Runtime in fp32 (PyTorch when no export
# can be made), onnx-int8 its quantised variant, torch the PyTorch models themselves.
ENCODERS = ("auto", "onnx", "onnx-int8", "torch")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    # Unset paths are folders of data_dir (filled in by __post_init__).
    # The store: a local folder, or a LanceDB URI such as s3://bucket/prefix.
    db_path: Path | str = None  # type: ignore[assignment]
    image_cache_dir: Path = None  # type: ignore[assignment]
    models_dir: Path = None  # type: ignore[assignment]
    runs_dir: Path = None  # type: ignore[assignment]  # fine-tuning runs
    sample_dir: Path = None  # type: ignore[assignment]  # the shipped sample catalog
    # The class-labelled photos (Phone, Keyboard, Laptop, Mouse) the offline CLIP and the
    # comparison use when present; None: data_dir/office_items if it exists.
    office_items_dir: Path | None = None
    catalog: str | None = None  # None: the most recently ingested catalog
    clip_model: str = DEFAULT_CLIP
    text_model: str = DEFAULT_TEXT_MODEL
    top_k: int = 5
    llm_model: str | None = None
    llm_api_base: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)  # never printed
    llm_timeout_s: float = 30.0
    mlflow_tracking_uri: str | None = None  # e.g. http://127.0.0.1:5000; None: no MLflow
    hub_probe_timeout_s: float = 2.0
    encoder: str = "auto"  # one of ENCODERS
    warm_up: bool = True  # the app loads the query encoders in the background at start
    # Markers an Embedding map draws (each with its hover); a larger map is drawn as a
    # picture of every point under a sample of this many. At a million points 20,000 drew
    # a colour switch and a zoom ~15% sooner than 30,000 in Chromium (median of 6 each).
    map_markers: int = 20_000
    # Endpoint, region, credentials for an object-storage store; never printed.
    storage_options: StorageOptions = field(default_factory=StorageOptions, repr=False)

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder {self.encoder!r} is not one of {', '.join(ENCODERS)}")
        defaults = {
            "db_path": "lancedb",
            "image_cache_dir": "cache/images",
            "models_dir": "models",
            "runs_dir": "runs",
            "sample_dir": "sample",
        }
        for name, folder in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, self.data_dir / folder)
        if self.office_items_dir is None and (self.data_dir / "office_items").is_dir():
            object.__setattr__(self, "office_items_dir", self.data_dir / "office_items")

    @property
    def map_cache_dir(self) -> Path:
        """Computed UMAP maps, beside the image cache (both can be deleted safely)."""
        return self.image_cache_dir.parent / "projections"

    @property
    def facts_cache_dir(self) -> Path:
        """Large catalogs' facts (brands, listings, names' words), beside the maps (safe to
        delete: they are built again)."""
        return self.image_cache_dir.parent / "facts"

    @property
    def activation_cache_dir(self) -> Path:
        """Photos' activations after frozen image-tower blocks (core.models.activation_cache),
        beside the image cache (safe to delete: they are computed again)."""
        return self.image_cache_dir.parent / "activations"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_ENV_KEYS: dict[str, str] = {
    "PRODUCTLENS_DATA_DIR": "data_dir",
    "PRODUCTLENS_DB": "db_path",
    "PRODUCTLENS_CATALOG": "catalog",
    "PRODUCTLENS_CLIP": "clip_model",
    "PRODUCTLENS_TEXT_MODEL": "text_model",
    "PRODUCTLENS_IMAGE_CACHE": "image_cache_dir",
    "PRODUCTLENS_MODELS_DIR": "models_dir",
    "PRODUCTLENS_RUNS_DIR": "runs_dir",
    "PRODUCTLENS_SAMPLE_DIR": "sample_dir",
    "PRODUCTLENS_OFFICE_ITEMS": "office_items_dir",
    "PRODUCTLENS_TOP_K": "top_k",
    "PRODUCTLENS_MAP_MARKERS": "map_markers",
    "PRODUCTLENS_LLM_MODEL": "llm_model",
    "PRODUCTLENS_LLM_API_BASE": "llm_api_base",
    "PRODUCTLENS_LLM_API_KEY": "llm_api_key",
    "PRODUCTLENS_LLM_TIMEOUT": "llm_timeout_s",
    "PRODUCTLENS_MLFLOW_TRACKING_URI": "mlflow_tracking_uri",
    "PRODUCTLENS_ENCODER": "encoder",
    "PRODUCTLENS_WARM_UP": "warm_up",
}

_PATH_FIELDS = {
    "data_dir", "db_path", "image_cache_dir", "models_dir", "runs_dir", "sample_dir",
    "office_items_dir",
}  # fmt: skip
_INT_FIELDS = {"top_k", "map_markers"}
_FLOAT_FIELDS = {"llm_timeout_s"}


def _coerce(name: str, raw: str) -> object:
    if name == "db_path":
        return parse_location(raw)
    if name in _PATH_FIELDS:
        return Path(raw).expanduser()
    if name in _INT_FIELDS:
        return int(raw)
    if name in _FLOAT_FIELDS:
        return float(raw)
    if name == "warm_up":
        return raw.strip().lower() not in ("0", "false", "no", "off")
    return raw


def read_secrets_file(path: Path = Path(".streamlit/secrets.toml")) -> dict[str, object]:
    """The app's secrets file, for the CLI: one place configures both (LLM, storage)."""
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - 3.10 reads secrets through the app only
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError:
        return {}  # no secrets file is the normal case
    except ValueError as exc:
        print(f"warning: {path} is not valid TOML ({exc}); ignored", file=sys.stderr)
        return {}


def load_settings(
    env: Mapping[str, str] | None = None, secrets: Mapping[str, object] | None = None
) -> Settings:
    """Settings from secrets (lower precedence) then environment variables.

    `secrets` uses the same names as the env vars (e.g. PRODUCTLENS_LLM_MODEL) so one
    `.streamlit/secrets.toml` line is enough to pick an LLM; object-storage options come
    from its `[storage]` table and `PRODUCTLENS_STORAGE_<OPTION>` variables.
    """
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for source in (secrets or {}, env):
        for key, name in _ENV_KEYS.items():
            raw = source.get(key)
            if raw not in (None, ""):
                values[name] = _coerce(name, str(raw))
    values["storage_options"] = StorageOptions.from_sources(env, secrets)
    return Settings(**values)  # type: ignore[arg-type]
