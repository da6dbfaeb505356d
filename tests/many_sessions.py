"""Several people on one running app at once: each session asks its own questions (some
with a filter, some on another catalog), opens the Catalog and comes back, and everything
it was shown is checked against what it asked: no other session's question, filter or
catalog may appear in it. Used by the load benchmark (bench/load.py) and its short twin
in the default test run.
"""

from __future__ import annotations

import itertools
import re
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.app_session import AppSession, RunResult, search_for

# Distinct questions, so that one session's words in another session's page is a leak.
QUESTIONS = [
    "wireless mouse for laptop", "noise cancelling headphones", "usb c fast charging cable",
    "smart watch for fitness", "bluetooth speaker for parties", "gaming keyboard with rgb",
    "power bank 20000mah", "hdmi cable for tv", "laptop backpack waterproof",
    "memory card 128gb", "wifi router dual band", "tripod for phone", "webcam for meetings",
    "earbuds with long battery", "led smart tv 43 inch", "printer ink cartridge",
    "phone case shockproof", "screen protector tempered glass", "car charger dual port",
    "extension board with surge protection", "monitor 24 inch full hd", "usb hub for macbook",
    "soundbar with subwoofer", "trimmer for men", "electric kettle steel", "air fryer",
    "ceiling fan remote", "table lamp led", "gaming mouse pad large", "ssd 1tb",
    "graphics tablet for drawing", "selfie ring light",
]  # fmt: skip
ID_CITED = re.compile(r"\*\*#(\d+)\*\*")  # "Why these results" names every hit so
SEARCH_PAGE, CATALOG_PAGE = "Search & Chat", "Catalog"


@dataclass
class Plan:
    """What one session asks: its questions, its own filter (or none) and its catalog."""

    index: int
    questions: list[str]
    min_rating: float | None
    catalog: str | None  # None: the app's default


@dataclass
class SessionLog:
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)  # a traceback, an st.error, a failed run
    leaks: list[str] = field(default_factory=list)  # another session's state on this page
    inconsistent: list[str] = field(default_factory=list)  # a result row without its record
    # (when, the sidebar's product count) per run: a count between two ingests' is a
    # reader that saw half a write
    products_seen: list[tuple[float, int]] = field(default_factory=list)


def plans(sessions: int, rounds: int, other_catalog: str | None) -> list[Plan]:
    """Every second session filters on its own minimum rating; every fourth browses
    `other_catalog` (when the store has one)."""
    if sessions * rounds > len(QUESTIONS):
        raise ValueError(f"{sessions} sessions × {rounds} rounds needs more distinct questions")
    return [
        Plan(
            index=i,
            questions=[QUESTIONS[i * rounds + r] for r in range(rounds)],
            min_rating=3.0 + 0.5 * (i % 4) if i % 2 else None,
            catalog=other_catalog if other_catalog and i % 4 == 3 else None,
        )
        for i in range(sessions)
    ]


def drive(
    url: str,
    plan: Plan,
    everyone: list[Plan],
    start: threading.Barrier,
    until: threading.Event | None = None,
) -> SessionLog:
    """One session: open, then per question search → Catalog → back to search; with
    `until`, round its questions again and again until that is set."""
    log = SessionLog()
    others = [q for p in everyone if p is not plan for q in p.questions]
    try:
        start.wait(timeout=300)
        with AppSession(url, timeout_s=300) as session:
            _step(log, "open", session.run(), others, plan, None)
            if plan.catalog:
                _step(log, "open", session.run(widgets={"Catalog": plan.catalog}), others,
                      plan, None)  # fmt: skip
            questions = itertools.cycle(plan.questions) if until else plan.questions
            for question in questions:
                if until is not None and until.is_set():
                    break
                filters = {} if plan.min_rating is None else {"Min rating (★)": plan.min_rating}
                run = search_for(session, question, **filters)
                _step(log, "search", run, others, plan, question)
                _step(log, "catalog", session.run(page=CATALOG_PAGE), others, plan, None)
                _step(log, "back", session.run(page=SEARCH_PAGE), others, plan, question)
    except Exception as exc:  # a dropped connection or a run that never finished
        log.errors.append(f"session {plan.index}: {type(exc).__name__}: {exc}")
    return log


def _step(
    log: SessionLog, action: str, run: RunResult, others: list[str], plan: Plan, asked: str | None
) -> None:
    log.seconds[action].append(run.seconds)
    where = f"session {plan.index} {action}"
    if run.status != "FINISHED_SUCCESSFULLY":
        log.errors.append(f"{where}: the run ended {run.status}")
    log.errors += [f"{where}: {text}" for text in run.exceptions + run.errors]
    text = run.text
    log.leaks += [f"{where}: shows {q!r}" for q in others if q in text]
    if asked is not None and asked not in text:
        log.leaks.append(f"{where}: its own question {asked!r} is not on its page")
    chips = [t for t in run.texts if "· Filters" in t]
    if asked is not None and run.tables:
        wanted = plan.min_rating is not None
        if wanted != bool(chips):
            log.leaks.append(f"{where}: filter chips {chips} for a min rating of {plan.min_rating}")
    products = _sidebar_count(run)
    if products is not None:
        # the sidebar is drawn as the run starts: that is when the count was read
        log.products_seen.append((time.monotonic() - run.seconds, products))
    results = [t for t in run.tables if t and {"ID", "Name", "Found by"} <= set(t[0])]
    for table in results[:1]:
        cited = {int(i) for i in ID_CITED.findall(text)}
        for row in table:
            if not row.get("Name") or row.get("ID") not in cited:
                log.inconsistent.append(f"{where}: result row {row}")


def _sidebar_count(run: RunResult) -> int | None:
    """The sidebar's "Products" metric, when the run drew it."""
    shown = run.metrics.get("Products")
    return int(shown.replace(",", "")) if shown else None


def run_sessions(
    url: str,
    sessions: int,
    rounds: int,
    other_catalog: str | None = None,
    until: threading.Event | None = None,
) -> list[SessionLog]:
    """`sessions` sessions at once (threads released together), each `rounds` questions
    (over and over until `until` is set, when given)."""
    everyone = plans(sessions, rounds, other_catalog)
    start = threading.Barrier(sessions)
    logs: list[SessionLog | None] = [None] * sessions

    def work(plan: Plan) -> None:
        logs[plan.index] = drive(url, plan, everyone, start, until)

    threads = [threading.Thread(target=work, args=(p,), daemon=True) for p in everyone]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=1800)
    return [log or SessionLog(errors=["a session never returned"]) for log in logs]


def summary(logs: list[SessionLog], sessions: int) -> list[dict[str, Any]]:
    """One row per action: how many runs, p50/p95/max seconds, errors and leaks."""
    actions = sorted({a for log in logs for a in log.seconds})
    rows = []
    for action in actions:
        seconds = np.array([s for log in logs for s in log.seconds[action]])
        rows.append({
            "sessions": sessions, "action": action, "runs": len(seconds),
            "p50_s": round(float(np.percentile(seconds, 50)), 3),
            "p95_s": round(float(np.percentile(seconds, 95)), 3),
            "max_s": round(float(seconds.max()), 3),
            "errors": sum(len(log.errors) for log in logs),
            "leaks": sum(len(log.leaks) for log in logs),
            "inconsistent": sum(len(log.inconsistent) for log in logs),
        })  # fmt: skip
    return rows


@dataclass
class WriteLog:
    """When each write command finished (monotonic seconds) and how it ended."""

    finished: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def sessions_during_writes(
    url: str, sessions: int, commands: dict[str, list[str]], env: dict[str, str]
) -> tuple[list[SessionLog], WriteLog]:
    """`sessions` sessions searching and browsing while `commands` (name → argv, run one
    after the other in their own processes, as a person would run the CLI) write to the
    store; the sessions stop after one more round once the last write is done."""
    import os
    import subprocess

    until, writes = threading.Event(), WriteLog()

    def write() -> None:
        try:
            for name, argv in commands.items():
                done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True,
                                      text=True, timeout=1800)  # fmt: skip
                writes.finished[name] = time.monotonic()
                if done.returncode:
                    writes.failures.append(f"{name}: exit {done.returncode}: {done.stderr[-500:]}")
        finally:
            time.sleep(5)  # a last round after the writes, to see their result
            until.set()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    logs = run_sessions(url, sessions, 8, until=until)
    writer.join()
    return logs, writes


def ingest_then_embed(source: Path, catalog: str) -> dict[str, list[str]]:
    """The CLI commands that grow `catalog` from `source` and embed its new texts, as a
    person runs them, for `sessions_during_writes`."""
    cli = [sys.executable, "-m", "core.cli"]
    return {
        "ingest": [*cli, "ingest", str(source), "--catalog", catalog, "--quiet"],
        "embed": [*cli, "embed", "--catalog", catalog, "--what", "text", "--no-map", "-q"],
    }


def torn_reads(logs: list[SessionLog], before: int, after: int) -> list[str]:
    """Product counts a session saw that belong to neither store version, or that went
    back to the old one after the new one was shown."""
    problems = []
    for index, log in enumerate(logs):
        counts = [count for _, count in log.products_seen]
        torn = [c for c in counts if c not in (before, after)]
        problems += [f"session {index} saw {c:,} products" for c in torn]
        if after in counts and before in counts[counts.index(after) :]:
            problems.append(f"session {index} saw {before:,} again after {after:,}")
    return problems


def first_seen(logs: list[SessionLog], count: int) -> float | None:
    """When any session first showed `count` products (monotonic seconds)."""
    seen = [when for log in logs for when, shown in log.products_seen if shown == count]
    return min(seen) if seen else None
