"""Is the model hub reachable, and is a repository already in the local cache? One TCP
connect per process answers the first, so an offline machine learns it in
`hub_probe_timeout_s` instead of after a minute of retries.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from core.net import host_reachable

_probe_lock = threading.Lock()
_probe_results: dict[str, bool] = {}


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def hub_reachable(timeout: float = 2.0) -> bool:
    """One TCP connect to the hub, remembered for the process; HF_HUB_OFFLINE=1 means no."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = hub_endpoint()
    with _probe_lock:
        if endpoint not in _probe_results:
            _probe_results[endpoint] = host_reachable(endpoint, timeout)
            if not _probe_results[endpoint]:
                _go_offline()
        return _probe_results[endpoint]


def _go_offline() -> None:
    """Tell huggingface_hub (and libraries on top) not to retry a network that is not there."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import huggingface_hub.constants as hf_constants

        hf_constants.HF_HUB_OFFLINE = True
    except Exception:  # pragma: no cover - only matters when huggingface_hub is present
        pass


def hf_cached(repo_id: str, filenames: tuple[str, ...]) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return False
    for filename in filenames:
        hit = try_to_load_from_cache(repo_id, filename)
        if isinstance(hit, str) and os.path.exists(hit):
            return True
    return False


def hf_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of a hub repository (found by its modules.json)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    hit = try_to_load_from_cache(repo_id, "modules.json")
    return Path(hit).parent if isinstance(hit, str) and os.path.exists(hit) else None


def quiet_transformers() -> None:
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
