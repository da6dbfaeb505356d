"""Where the store lives: a local folder or a LanceDB URI (`s3://bucket/prefix`, `gs://…`,
`az://…`), and the storage options (endpoint, region, credentials) that reach it.

Storage options are secrets: they are handed to LanceDB and never printed; `repr` names
the options without their values, and `redacted` strips any credentials from a URI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# A scheme of two or more letters: `C:\data` is a Windows path, not a URI.
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+://")
ENV_PREFIX = "PRODUCTLENS_STORAGE_"  # PRODUCTLENS_STORAGE_AWS_ENDPOINT → aws_endpoint
_SECRET_NAME = re.compile(r"key|secret|token|password|credential|sas|session", re.IGNORECASE)


def is_remote(location: str | Path) -> bool:
    text = str(location)
    return bool(_URI.match(text)) and not text.startswith("file://")


def parse_location(raw: str) -> Path | str:
    """A store setting as typed: a URI stays text, anything else is a path."""
    return raw if is_remote(raw) else Path(raw).expanduser()


def local_path(location: str | Path) -> Path | None:
    """The folder of a local store, None for object storage."""
    if is_remote(location):
        return None
    text = str(location)
    return Path(text.removeprefix("file://")).expanduser()


def redacted(location: str | Path) -> str:
    """The location as it may be shown: a URI loses any user:password part."""
    text = str(location)
    if not is_remote(text):
        return text
    parts = urlsplit(text)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


@dataclass(frozen=True)
class StorageOptions:
    """LanceDB storage options as (name, value) pairs; hashable, and silent about values."""

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, options: Mapping[str, object]) -> StorageOptions:
        return cls(tuple(sorted((str(k).lower(), str(v)) for k, v in options.items())))

    @classmethod
    def from_sources(
        cls, env: Mapping[str, str], secrets: Mapping[str, object] | None = None
    ) -> StorageOptions:
        """`[storage]` in secrets.toml, overlaid by `PRODUCTLENS_STORAGE_<OPTION>` variables."""
        options: dict[str, object] = {}
        table = (secrets or {}).get("storage")
        if isinstance(table, Mapping):
            options.update(table)
        for key, value in env.items():
            if key.startswith(ENV_PREFIX) and value != "":
                options[key[len(ENV_PREFIX) :]] = value
        return cls.of(options)

    def as_dict(self) -> dict[str, str]:
        return dict(self.pairs)

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def __repr__(self) -> str:
        return f"StorageOptions({', '.join(name for name, _ in self.pairs)}; values hidden)"

    __str__ = __repr__

    def scrub(self, text: str) -> str:
        """`text` with every credential's value replaced: for error messages that a
        backend might have built from its configuration."""
        for name, value in self.pairs:
            if _SECRET_NAME.search(name) and value:
                text = text.replace(value, "***")
        return text
