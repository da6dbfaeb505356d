"""A large catalog's facts kept on disk, so the first search after a restart reads a file
instead of reading every name again (a million names take minutes on two cores).

Kept beside the maps, one file per (store, catalog, products version, facts format):
a write to the products makes a new version and so a new file, and the older files of
that catalog are removed when it is written. Small catalogs are built in memory only;
their facts take a second.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path

from core.catalog.facts import CatalogFacts
from core.files import atomic_path

FACTS_FORMAT = 2  # bump when CatalogFacts changes: older files are rebuilt
STORED_FROM = 50_000  # products


def _prefix(location: str, catalog: str) -> str:
    return hashlib.sha256(f"{location}\x1f{catalog}".encode()).hexdigest()[:16]


def facts_file(cache_dir: Path, location: str, catalog: str, version: int) -> Path:
    return Path(cache_dir) / f"{_prefix(location, catalog)}-v{version}-f{FACTS_FORMAT}.pickle"


def stored_facts(
    cache_dir: Path,
    location: str,
    catalog: str,
    version: int,
    products: int,
    build: Callable[[], CatalogFacts],
) -> CatalogFacts:
    """The catalog's facts: from the file when there is one for this version, else built
    (and, for a large catalog, written)."""
    if products < STORED_FROM:
        return build()
    path = facts_file(cache_dir, location, catalog, version)
    if path.is_file():
        try:
            with path.open("rb") as handle:
                found = pickle.load(handle)  # our own file, in our own cache folder
            if isinstance(found, CatalogFacts):
                return found
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
            pass  # a damaged or outdated file is rebuilt, not trusted
    facts = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    for older in path.parent.glob(f"{_prefix(location, catalog)}-*.pickle"):
        older.unlink(missing_ok=True)
    with atomic_path(path) as tmp, Path(tmp).open("wb") as handle:
        pickle.dump(facts, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return facts
