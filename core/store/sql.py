"""The two ways a value enters a where-clause; nothing from outside is pasted in raw."""

from __future__ import annotations

from collections.abc import Iterable


def sql_in(values: Iterable[int]) -> str:
    """An IN list of integers; ints only, so nothing from outside is pasted into SQL."""
    return ", ".join(str(int(v)) for v in values) or "NULL"


def sql_str(value: str) -> str:
    """A SQL string literal, quotes doubled. Used only for validated or internal strings."""
    return "'" + str(value).replace("'", "''") + "'"
