"""The `productlens` command line (`core.cli.app`), its commands in one module per area."""

from core.cli.app import main

__all__ = ["main"]
