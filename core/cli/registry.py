"""How a command is declared: its name, help, arguments and handler, registered in one
table; the errors a command reports as one line; progress bars on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.progress import Progress
from core.settings import Settings
from core.store import Store

Handler = Callable[[argparse.Namespace, Settings, Store], tuple[Any, str]]
Arguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    handler: Handler
    arguments: Arguments | None = None  # adds the command's own arguments to its parser


COMMANDS: dict[str, Command] = {}  # in registration order: the order `--help` lists them


class CliError(RuntimeError):
    """A failure to report as one line, exit code 2, no traceback."""


def command(
    name: str, help: str, arguments: Arguments | None = None
) -> Callable[[Handler], Handler]:
    """Register `handler` as the sub-command `name`; it returns (JSON payload, text)."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(name, help, handler, arguments)
        return handler

    return register


def tqdm_progress(quiet: bool = False) -> Progress | None:
    """A progress callback drawing one tqdm bar per phase, on stderr."""
    if quiet:
        return None
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def update(done: int, total: int, phase: str, note: str = "") -> None:
        bar = bars.get(phase)
        if bar is None:
            bar = bars[phase] = tqdm(total=total, desc=phase, unit="it", file=sys.stderr)
        bar.total = total
        bar.n = done
        if note:
            bar.set_postfix_str(note, refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def resolve_catalog(store: Store, settings: Settings, requested: str | None) -> str:
    if requested:
        if requested not in store.catalogs.names():
            known = ", ".join(store.catalogs.names()) or "none yet"
            raise CliError(f"no catalog named {requested!r} (catalogs: {known})")
        return requested
    name = store.catalogs.default(settings.catalog)
    if name is None:
        raise CliError(
            f"the store at {store.shown_as} has no catalog yet: run `productlens ingest`"
        )
    return name
