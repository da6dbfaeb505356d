"""Experiment tracking against a real MLflow tracking server on 127.0.0.1 (sqlite
backend, artifacts served by the server), and against one that is down."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import free_port, serving
from tests.conftest import needs_office

pytestmark = needs_office


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    pytest.importorskip("mlflow", reason="make installs the mlflow extra with dev")
    base = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}",
        "--artifacts-destination", str(base / "artifacts"), "--workers", "1",
    ]  # fmt: skip
    with open(base / "server.log", "wb") as log_file:
        # No background job workers (MLflow 3 starts several, which outlive the server),
        # and a session of its own so that stopping it stops everything it started.
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        server = subprocess.Popen(
            command, cwd=base, stdout=log_file, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            with serving(server, f"{url}/health", timeout_s=180):
                yield url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)  # the uvicorn workers too


def _sweep(tmp_path, tracker, epochs: int = 2):
    from core.training.config import TrainConfig
    from core.training.sweep import run_sweep, sweep_configs
    from tests.test_finetune import office_subset, tiny_vit_parts

    configs = sweep_configs(TrainConfig(epochs=epochs, lr=1e-3), {"batch_size": [4, 8]})
    base = {"spec": "tiny", "key": "tiny-vit", "status": "untrained"}
    return run_sweep(
        tiny_vit_parts, base, office_subset(4), configs, tmp_path / "runs", "office",
        tracker=tracker,
    )  # fmt: skip


def test_a_sweep_is_a_parent_run_with_one_child_per_config_holding_run_json(
    mlflow_server, tmp_path, capsys, monkeypatch
):
    from mlflow.tracking import MlflowClient

    from core.cli.app import main
    from core.training.tracking import MlflowTracker, metric_name

    records, failures = _sweep(tmp_path, MlflowTracker(mlflow_server))
    assert not failures and len(records) == 2
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("productlens")
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [r for r in runs if r.data.tags.get("productlens.kind") == "sweep"]
    assert parent.info.run_name == "office" and parent.info.status == "FINISHED"
    parent_id = parent.info.run_id
    children = {
        r.info.run_id: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id
    }
    assert len(children) == 2
    for record in records:
        saved = json.loads((tmp_path / "runs" / record.run_id / "run.json").read_text())
        child = children[saved["tracking"]["run_id"]]
        assert child.info.status == "FINISHED"
        assert child.data.tags["productlens.run_id"] == record.run_id
        assert child.data.params["config.batch_size"] == str(saved["config"]["batch_size"])
        assert saved["history"][0]["train_loss"] is not None
        for key in ("train_loss", "val_loss", "val_accuracy", "val_recall@1"):
            history = client.get_metric_history(child.info.run_id, metric_name(key))
            logged = [m.value for m in sorted(history, key=lambda m: m.step)]
            expected = [e[key] for e in saved["history"] if e[key] is not None]
            assert logged == pytest.approx(expected), key  # a figure run.json lacks is not made up
        after = saved["after"]["classification"]
        metrics = child.data.metrics
        assert metrics["test_accuracy_after"] == pytest.approx(after["accuracy"])
        for row in after["per_class"]:
            if row["f1"] is not None:
                assert metrics[f"f1.{row['label']}"] == pytest.approx(row["f1"])
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"split.json", "run.json", "checkpoint"} <= artifacts
        split = Path(client.download_artifacts(child.info.run_id, "split.json", str(tmp_path)))
        local = tmp_path / "runs" / record.run_id / "split.json"
        assert json.loads(split.read_text()) == json.loads(local.read_text())
        assert saved["tracking"]["url"].startswith(f"{mlflow_server}/#/experiments/")
    # the Model comparison page links a run to its MLflow run
    from core.analysis.model_choices import ModelChoice, run_record
    from core.settings import Settings

    settings = Settings(runs_dir=tmp_path / "runs")
    choice = ModelChoice("run", f"run:{records[0].run_id}", records[0].run_id)
    assert run_record(settings, choice).tracking["url"] == records[0].tracking["url"]
    # `productlens runs` shows each run's MLflow link
    monkeypatch.setenv("PRODUCTLENS_RUNS_DIR", str(tmp_path / "runs"))
    assert main(["runs", "--db", str(tmp_path / "db")]) == 0
    listed = capsys.readouterr().out
    assert listed.count(f"MLflow: {mlflow_server}/#/experiments/") == 2


def test_a_tracking_server_that_is_down_costs_one_warning_and_nothing_else(tmp_path, caplog):
    pytest.importorskip("mlflow", reason="make installs the mlflow extra with dev")
    from core.training.tracking import MlflowTracker

    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="core.training.tracking"):
        records, failures = _sweep(tmp_path, MlflowTracker(down), epochs=1)
    assert not failures and [r.status for r in records] == ["done", "done"]
    warnings = [r for r in caplog.records if r.name == "core.training.tracking"]
    assert len(warnings) == 1 and "saved locally" in warnings[0].getMessage()
    for record in records:
        saved = json.loads((tmp_path / "runs" / record.run_id / "run.json").read_text())
        assert saved["tracking"] is None and len(saved["history"]) == 1
        assert (tmp_path / "runs" / record.run_id / "checkpoint").is_dir()
