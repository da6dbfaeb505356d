"""`run:NAME` names a run by its name (the newest finished one), as `make data` uses it."""

from __future__ import annotations

import pytest

from core.run_ids import RunError, latest_named, run_dir


def test_a_run_name_means_its_newest_run_with_a_checkpoint(tmp_path):
    for run_id, finished in (
        ("20261201-101010-pc-parts-aaaaaa", True),
        ("20261202-101010-pc-parts-bbbbbb", True),
        ("20261203-101010-pc-parts-cccccc", False),  # still training: no checkpoint yet
        ("20261204-101010-pc-parts-extra-dddddd", True),  # another name
    ):
        (tmp_path / run_id).mkdir()
        if finished:
            (tmp_path / run_id / "checkpoint").mkdir()
    assert latest_named(tmp_path, "pc-parts") == "20261202-101010-pc-parts-bbbbbb"
    assert latest_named(tmp_path, "sample-labels") is None
    assert latest_named(tmp_path / "missing", "pc-parts") is None
    with pytest.raises(RunError):
        run_dir(tmp_path, "../elsewhere")
