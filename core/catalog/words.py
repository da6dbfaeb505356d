"""A product name's words, as every part of the code reads them."""

from __future__ import annotations

import re

WORD = re.compile(r"[a-z0-9][a-z0-9'+&-]*")


def words(text: str) -> list[str]:
    return WORD.findall((text or "").lower().replace("™", "").replace("®", ""))


def compact(text: str) -> str:
    """Lower-case letters and digits only: "WH-1000XM4" and "wh1000xm4" compare equal."""
    return re.sub(r"[^a-z0-9]+", "", (text or "").lower())
