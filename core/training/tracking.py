"""Experiment tracking in MLflow: one MLflow run per fine-tuning run, and a sweep as a
parent run with one child per configuration, so the MLflow UI compares them.

Off unless a tracking URI is set (`PRODUCTLENS_MLFLOW_TRACKING_URI` or `--mlflow URI`).
The local run folder stays the record: a tracking server that is down, or goes down,
costs one warning and nothing else (the run trains and is saved as always).
"""

from __future__ import annotations

import logging
import os
import re
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXPERIMENT = "productlens"
PROBE_TIMEOUT_S = 3.0


class MlflowTracker:
    def __init__(self, uri: str, experiment: str = EXPERIMENT) -> None:
        self.uri = uri.rstrip("/")
        self.experiment = experiment
        self._client: Any = None
        self._experiment_id: str | None = None
        self._parent: str | None = None
        self._off = False
        # A client retries a dead server for minutes by default; a run should not wait.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        # MLflow prints run links to stdout, which would break `--json`; we report them.
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

    @property
    def is_http(self) -> bool:
        return self.uri.startswith(("http://", "https://"))

    def run_url(self, run_id: str) -> str | None:
        """The run's page in the MLflow UI (for an HTTP tracking server)."""
        if not self.is_http or self._experiment_id is None:
            return None
        return f"{self.uri}/#/experiments/{self._experiment_id}/runs/{run_id}"

    # --- a sweep ----------------------------------------------------------------------

    @contextmanager
    def sweep(self, name: str, configs: int) -> Iterator[None]:
        """Runs started inside are children of one parent run named `name`."""
        parent = self._call(lambda: self._create_run(name, {"productlens.kind": "sweep"}))
        if parent is not None:
            self._call(lambda: self._client.log_param(parent, "configs", configs))
        self._parent = parent
        status = "FAILED"
        try:
            yield
            status = "FINISHED"
        finally:
            self._parent = None
            if parent is not None:
                self._call(lambda: self._client.set_terminated(parent, status))

    # --- one fine-tuning run ---------------------------------------------------------

    def start(self, record: Any) -> None:
        """Open the MLflow run of `record` (a RunRecord) and log its parameters."""
        tags = {"productlens.run_id": record.run_id, "productlens.kind": "finetune"}
        run_id = self._call(lambda: self._create_run(record.run_id, tags))
        if run_id is None:
            return
        params = {f"config.{k}": v for k, v in record.config.items()}
        params |= {"base": record.base.get("key"), "pairs": record.data.get("pairs")}
        params |= {f"split.{k}": v for k, v in (record.data.get("split") or {}).items()}
        self._call(lambda: self._log(run_id, params=params))
        record.tracking = {
            "uri": self.uri,
            "experiment_id": self._experiment_id,
            "run_id": run_id,
            "url": self.run_url(run_id),
        }

    def epoch(self, record: Any, entry: dict[str, Any]) -> None:
        run_id = (record.tracking or {}).get("run_id")
        if run_id:
            numbers = {k: v for k, v in entry.items() if k not in ("epoch", "val_per_class")}
            per_class = entry.get("val_per_class") or {}
            numbers |= {f"val_accuracy.{label}": v for label, v in per_class.items()}
            self._call(lambda: self._log(run_id, metrics=numbers, step=int(entry["epoch"])))

    def finish(self, record: Any, folder: Path) -> None:
        """Final test metrics (overall and per class), the split, the record and the
        checkpoint as artifacts, then the run's status."""
        run_id = (record.tracking or {}).get("run_id")
        if not run_id:
            return
        metrics = final_metrics(record)
        self._call(lambda: self._log(run_id, metrics=metrics, step=record.epochs_done))
        for name in ("split.json", "run.json"):
            if (folder / name).is_file():
                self._call(lambda name=name: self._client.log_artifact(run_id, str(folder / name)))
        if (folder / "checkpoint").is_dir():
            self._call(
                lambda: self._client.log_artifacts(run_id, str(folder / "checkpoint"), "checkpoint")
            )
        status = "FINISHED" if record.status == "done" else "FAILED"
        self._call(lambda: self._client.set_terminated(run_id, status))

    # --- plumbing ---------------------------------------------------------------------

    def _call(self, action: Callable[[], Any]) -> Any:
        """Run one MLflow call; the first failure warns once and turns tracking off."""
        if self._off or not self._connect():
            return None
        try:
            return action()
        except Exception as exc:  # tracking must never cost a run
            self._turn_off(f"{type(exc).__name__}: {exc}")
            return None

    def _connect(self) -> bool:
        if self._client is not None:
            return True
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            self._turn_off("mlflow is not installed (pip install 'productlens[mlflow]')")
            return False
        if self.is_http and not _server_answers(self.uri):
            self._turn_off("the tracking server does not answer")
            return False
        try:
            client = MlflowClient(tracking_uri=self.uri)
            found = client.get_experiment_by_name(self.experiment)
            self._experiment_id = (
                found.experiment_id if found else client.create_experiment(self.experiment)
            )
        except Exception as exc:
            self._turn_off(f"{type(exc).__name__}: {exc}")
            return False
        self._client = client
        return True

    def _turn_off(self, why: str) -> None:
        if not self._off:
            log.warning("MLflow tracking at %s is off for this process: %s. The run is "
                        "saved locally as always.", self.uri, why)  # fmt: skip
        self._off = True

    def _create_run(self, name: str, tags: dict[str, str]) -> str:
        if self._parent is not None:
            tags = {**tags, "mlflow.parentRunId": self._parent}
        run = self._client.create_run(self._experiment_id, run_name=name, tags=tags)
        return run.info.run_id

    def _log(
        self,
        run_id: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        step: int = 0,
    ) -> None:
        import time

        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        self._client.log_batch(
            run_id,
            params=[Param(k, str(v)[:500]) for k, v in (params or {}).items() if v is not None],
            metrics=[
                Metric(metric_name(k), float(v), now, step)
                for k, v in (metrics or {}).items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            ],
        )


def metric_name(name: str) -> str:
    """MLflow's spelling of a metric name: "val_recall@1" → "val_recall_at_1"."""
    return re.sub(r"[^\w\-. /]", "_", name.replace("@", "_at_"))


def final_metrics(record: Any) -> dict[str, float]:
    """The run's held-out test figures, flat: test accuracy before and after, and
    precision, recall and F1 per class after."""
    metrics: dict[str, float] = {}
    for when, result in (("before", record.before), ("after", record.after)):
        classification = (result or {}).get("classification") or {}
        if classification.get("accuracy") is not None:
            metrics[f"test_accuracy_{when}"] = classification["accuracy"]
    for row in ((record.after or {}).get("classification") or {}).get("per_class", []):
        # a class's "accuracy" in the report is its recall
        for metric, key in (("precision", "precision"), ("recall", "accuracy"), ("f1", "f1")):
            if row.get(key) is not None:
                metrics[f"{metric}.{row['label']}"] = row[key]
    return metrics


def _server_answers(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=PROBE_TIMEOUT_S) as response:
            return response.status == 200
    except OSError:
        return False


def tracker_for(uri: str | None) -> MlflowTracker | None:
    return MlflowTracker(uri) if uri else None
