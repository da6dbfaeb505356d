"""Short twins of the bench suites `load` and `writes_while_reading` (bench/load.py):
the same sessions, checks and writer on the tiny sample, so that the default run fails
when one session's question, filter or catalog shows up in another's, or when a reader
sees half a write. The curve itself is measured by `python -m bench --only load`."""

from __future__ import annotations

from tests.browser import running_app
from tests.conftest import store_env, write_sample_subset
from tests.many_sessions import (
    first_seen,
    ingest_then_embed,
    run_sessions,
    sessions_during_writes,
    summary,
    torn_reads,
)


def test_two_sessions_at_once_each_see_only_their_own(own_sample):
    env = {**store_env(own_sample), "PRODUCTLENS_WARM_UP": "0"}
    with running_app(env, timeout_s=120) as url:
        logs = run_sessions(url, 2, 2)
    problems = [p for log in logs for p in log.errors + log.leaks + log.inconsistent]
    assert not problems, problems
    rows = summary(logs, 2)
    assert {row["action"] for row in rows} == {"open", "search", "catalog", "back"}
    assert all(row["runs"] > 0 for row in rows)
    # The session with a rating filter and the one without both ran their searches.
    assert sum(row["runs"] for row in rows if row["action"] == "search") == 4


def test_an_ingest_and_embed_while_two_sessions_read(settings_for, tmp_path):
    """20 products, then the CLI ingests 40 and embeds them while two sessions search:
    every count shown is 20 or 40, never between, and 40 is shown before the end."""
    from core.embed import embed_texts
    from core.ingest import ingest
    from core.models.text import load_text_model
    from core.store import Store

    settings = settings_for()
    store = Store(settings.db_path)
    ingest(store, write_sample_subset(tmp_path / "first", 20), catalog="mini")
    embed_texts(store, "mini", load_text_model(settings))
    grown = write_sample_subset(tmp_path / "grown", 40)
    env = {**store_env(settings), "PRODUCTLENS_WARM_UP": "0"}
    with running_app(env, timeout_s=120) as url:
        logs, writes = sessions_during_writes(url, 2, ingest_then_embed(grown, "mini"), env)
    assert not writes.failures, writes.failures
    problems = [p for log in logs for p in log.errors + log.leaks + log.inconsistent]
    assert not problems, problems
    assert torn_reads(logs, 20, 40) == []
    assert first_seen(logs, 40) is not None  # the new products, without a restart
