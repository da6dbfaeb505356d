"""The one progress protocol every long step reports through (CLI bars, page bars)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """`done` of `total` in `phase`; `note` is a short live figure such as a running loss."""

    def __call__(self, done: int, total: int, phase: str, note: str = "") -> None: ...
