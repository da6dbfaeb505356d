"""UMAP's numba kernels compiled once per machine instead of once per process.

umap-learn compiles most of its kernels without numba's on-disk cache, so every fresh
process spends ~10 s (44–66 s on a busy machine) compiling before it lays out 294 points
in 0.4 s. Turning the cache on for those kernels before their first use keeps the
compiled code in `__pycache__` beside umap (or `NUMBA_CACHE_DIR`), keyed by numba on the
kernel's source and signature, so a new umap-learn compiles afresh.

`make data` compiles them in the background (`python -m core.analysis.projection`)
while the catalog is ingested and the offline CLIP is built, so the default map that
`productlens embed` draws finds them ready.
"""

from __future__ import annotations

from functools import lru_cache

_MODULES = ("umap.umap_", "umap.layouts", "umap.utils", "umap.distances", "umap.spectral")


@lru_cache(maxsize=1)
def cache_kernels() -> list:
    """Turn numba's disk cache on for umap's kernels (once per process, before they are
    first compiled); the dispatchers it turned on."""
    import importlib

    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    turned_on = []
    for name in _MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, Dispatcher) and isinstance(value._cache, NullCache):
                value.enable_caching()
                turned_on.append(value)
    return turned_on


def cache_hits() -> int:
    """How many kernels this process loaded from the disk cache instead of compiling."""
    return sum(len(d.stats.cache_hits) for d in cache_kernels())
