"""Every cache in the code states its policy in `core.caches`, and every entry there exists."""

from __future__ import annotations

import ast
from pathlib import Path

from core.caches import CACHES, policy_table

ROOT = Path(__file__).resolve().parent.parent
CACHE_DECORATORS = {"lru_cache", "cache", "cached_property", "cache_data", "cache_resource"}


def _decorator_name(node: ast.expr) -> str:
    node = node.func if isinstance(node, ast.Call) else node
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _cached(node: ast.AST) -> bool:
    return isinstance(node, ast.FunctionDef) and any(
        _decorator_name(d) in CACHE_DECORATORS for d in node.decorator_list
    )


def caches_in_code() -> set[str]:
    """file:name of each cached function, each class with a cached member, each class
    named *Cache, and each module holding a weak-key map."""
    found = set()
    files = [*ROOT.glob("core/**/*.py"), *ROOT.glob("pages/*.py"), ROOT / "streamlit_app.py"]
    for path in files:
        where = path.relative_to(ROOT).as_posix()
        if where == "core/caches.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if (
                isinstance(node, ast.ClassDef)
                and (node.name.endswith("Cache") or any(_cached(item) for item in node.body))
            ) or _cached(node):
                found.add(f"{where}:{node.name}")
        if any(isinstance(n, ast.Name) and n.id == "WeakKeyDictionary" for n in ast.walk(tree)):
            found.add(f"{where}:WeakKeyDictionary")
    return found


def test_every_cache_in_the_code_states_its_policy():
    listed = {c.where for c in CACHES}
    listed_owners = {w.rsplit(".", 1)[0] for w in listed} | listed
    missing = set()
    for site in caches_in_code():
        path, name = site.split(":")
        if name == "WeakKeyDictionary":
            if not any(w.startswith(f"{path}:") for w in listed):
                missing.add(site)
        elif site not in listed_owners and not any(w.startswith(f"{site}.") for w in listed):
            missing.add(site)
    assert not missing, f"caches without a policy in core/caches.py: {sorted(missing)}"


def test_every_listed_cache_exists():
    for cache in CACHES:
        path, name = cache.where.split(":")
        source = (ROOT / path).read_text(encoding="utf-8")
        assert name.split(".")[-1] in source, f"{cache.where} is not in the code"
    assert policy_table().count("\n") == len(CACHES) + 1
