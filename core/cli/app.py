"""The `productlens` command line: global options, the sub-commands registered by the
command modules, and one error discipline.

Every command prints a human summary, or with --json one JSON document on stdout.
Progress bars go to stderr so that --json output stays machine-readable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from core.catalog.parse import CatalogFormatError

# Importing the command modules registers their commands, in this order in `--help`.
from core.cli import (  # noqa: F401
    catalog_commands,
    comparison_commands,
    dataset_commands,
    issue_commands,
    model_commands,
    search_commands,
    training_commands,
)
from core.cli.registry import COMMANDS, CliError
from core.datasets.registry import DatasetError
from core.models.sources import ModelUnavailable
from core.run_ids import RunError
from core.settings import ENCODERS, load_settings, read_secrets_file
from core.store import Store, StoreError
from core.store.faults import store_fault
from core.store.filters import QueryError
from core.store_location import parse_location


def build_parser() -> argparse.ArgumentParser:
    # Global options are accepted before or after the sub-command; SUPPRESS keeps the
    # sub-parser from overwriting a value given before it with its own default.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--db", help="LanceDB directory (env PRODUCTLENS_DB)")
    common.add_argument("--json", action="store_true", help="print one JSON document")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    common.add_argument("--clip", help="CLIP: NAME/TAG, hf-hub:ORG/REPO or a checkpoint dir")
    common.add_argument("--text-model", help="Sentence-BERT model id or local path")
    common.add_argument(
        "--encoder", choices=ENCODERS,
        help="text encoders' runtime (env PRODUCTLENS_ENCODER; default auto: ONNX Runtime)",
    )  # fmt: skip
    common.add_argument(
        "--mlflow", metavar="URI",
        help="track fine-tuning in MLflow at URI (env PRODUCTLENS_MLFLOW_TRACKING_URI)",
    )  # fmt: skip

    parser = argparse.ArgumentParser(
        prog="productlens", description="ProductLens catalog tools", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    for spec in COMMANDS.values():
        p = sub.add_parser(spec.name, parents=[common], help=spec.help)
        if spec.arguments:
            spec.arguments(p)
    return parser


_GLOBAL_DEFAULTS = {
    "db": None, "json": False, "quiet": False, "clip": None, "text_model": None, "mlflow": None,
    "encoder": None,
}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name, default in _GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        settings = load_settings(secrets=read_secrets_file()).with_overrides(
            db_path=parse_location(args.db) if args.db else None,
            clip_model=args.clip,
            text_model=args.text_model,
            encoder=args.encoder,
            mlflow_tracking_uri=args.mlflow,
        )
    except ValueError as exc:  # a malformed PRODUCTLENS_* variable
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = Store(settings.db_path, settings.storage_options)
    try:
        payload, text = COMMANDS[args.command].handler(args, settings, store)
    except (
        CliError,
        CatalogFormatError,
        DatasetError,
        StoreError,
        ModelUnavailable,
        QueryError,
        RunError,
        OSError,
    ) as exc:
        fault = store_fault(exc, store.database.location)
        return _failed(args, settings.storage_options.scrub(str(fault or exc)))
    except RuntimeError as exc:  # how LanceDB reports a storage failure
        fault = store_fault(exc, store.database.location)
        if fault is None:
            raise  # a bug, not a store failure: keep its traceback
        return _failed(args, settings.storage_options.scrub(str(fault)))
    if args.json:
        print(json.dumps(payload, indent=2, default=str, ensure_ascii=False))
    else:
        print(text)
    return 0


def _failed(args: argparse.Namespace, message: str) -> int:
    if args.json:
        print(json.dumps({"error": message}))
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
