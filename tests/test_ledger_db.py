"""One ledger schema and one set of queries on SQLite (embedded) and PostgreSQL (``DATABASE_URL``):
forward-only migrations run at start, on both; and two workers on one PostgreSQL, each with its
own data directory, seeing each other's calls, jobs and outcomes.

PostgreSQL is a real server (tests/postgres.py: Debian's ``postgresql``, a fresh database per
test); without it these tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.store.backends import ledger_kind, open_ledger
from bot.store.ledger import Call, Ledger
from bot.store.migrations import LATEST, MIGRATIONS, current_version, migrate
from bot.store.outcome_log import Outcome
from bot.store.sqldb import Database, DatabaseError, redacted
from tests.conftest import TEST_MODELS
from tests.fakes.fixtures import payload
from tests.fakes.github import ACTION_TOKEN, FakeGitHub
from tests.fakes.llm import FakeLLM
from tests.outcome_scene import REPO, SPEC_REPLY, Scene

CLI = Path(sys.executable).with_name("model-routing")
# the ledger as the release before migrations created it (bot/store/ledger.py's SCHEMA then)
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, at REAL NOT NULL, repo TEXT NOT NULL,
    job TEXT NOT NULL, phase TEXT NOT NULL, profile TEXT NOT NULL, model TEXT NOT NULL,
    reason TEXT NOT NULL, tokens_in INTEGER NOT NULL DEFAULT 0, tokens_out INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0, latency_s REAL NOT NULL DEFAULT 0, outcome TEXT NOT NULL, error TEXT);
CREATE INDEX IF NOT EXISTS calls_repo_at ON calls (repo, at);
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, at REAL NOT NULL, repo TEXT NOT NULL, phase TEXT NOT NULL,
    target TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT, latency_s REAL);
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty ledger database of each kind."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite3")
    return str(request.getfixturevalue("pg_url"))


def call(job: str, model: str = "openai/fast-a", cost: float = 0.25, outcome: str = "ok") -> Call:
    return Call(REPO, job, "implement", "high-throughput", model, "phase implement", 1_000, 200, cost, 1.5, outcome)


def test_the_migrations_run_once_and_only_forward(where: str) -> None:
    db = Database.open(where)
    assert migrate(db, upto=1) == [1]
    db.run("INSERT INTO calls (at, repo, job, phase, profile, model, reason, tokens_in, tokens_out, cost_usd,"
           " latency_s, outcome) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
           (1.7e9, REPO, "j1", "spec", "high-reasoning", "openai/reason-a", "why", 10, 5, 0.5, 1.0, "ok"))
    db.run("INSERT INTO jobs (id, at, repo, phase, target, outcome) VALUES (?,?,?,?,?,?)",
           ("j1", 1.7e9, REPO, "spec", "#1", "ok"))
    assert migrate(db) == [m.version for m in MIGRATIONS if m.version > 1]
    assert migrate(db) == []
    assert current_version(db) == LATEST
    # the rows written before are kept, with the new columns at their defaults
    assert db.run("SELECT job, tokens_cached, cost_usd FROM calls") == [("j1", 0, 0.5)]
    assert db.run("SELECT id, event, url FROM jobs") == [("j1", "", "")]
    versions = db.run("SELECT version, name FROM schema_version ORDER BY version")
    assert versions == [(m.version, m.name) for m in MIGRATIONS]
    db.close()


def test_a_ledger_the_previous_release_wrote_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(OLD_SCHEMA)
    old.execute("INSERT INTO calls (at, repo, job, phase, profile, model, reason, tokens_in, tokens_out, cost_usd,"
                " latency_s, outcome) VALUES (1.7e9, ?, 'j0', 'spec', 'p', 'm', 'r', 1, 1, 0.75, 1, 'ok')", (REPO,))
    old.commit()
    old.close()
    ledger = Ledger(path)
    assert current_version(ledger.db) == LATEST
    assert ledger.spend(REPO, since=0) == 0.75
    ledger.close()


def test_a_database_newer_than_this_code_is_refused(where: str) -> None:
    ledger = Ledger(where)
    ledger.db.run("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)", (LATEST + 1, "later", 0.0))
    ledger.close()
    with pytest.raises(DatabaseError, match=rf"schema version {LATEST + 1}, newer than .* knows \({LATEST}\)"):
        Ledger(where)


def test_processes_starting_together_migrate_once(where: str) -> None:
    errors: list[BaseException] = []
    opened: list[Ledger] = []

    def start() -> None:
        try:
            opened.append(Ledger(where))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert opened[0].db.run("SELECT COUNT(*) FROM schema_version") == [(len(MIGRATIONS),)]
    for ledger in opened:
        ledger.close()


def _open_together(kind: str, path: str, start: Any) -> str:
    """One process's start on a SQLite file that does not exist yet (run in a child process)."""
    from bot.store.deliveries_sqlite import SqliteDeliveryStore

    start.wait()
    try:
        store = Ledger(path) if kind == "ledger" else SqliteDeliveryStore(path)
        store.close()
    except Exception as exc:  # noqa: BLE001 - reported to the test
        return f"{type(exc).__name__}: {exc}"
    return "ok"


@pytest.mark.parametrize("kind", ["ledger", "deliveries"])
def test_processes_opening_a_new_sqlite_file_together_all_start(kind: str, tmp_path: Path) -> None:
    """Worker processes started together on one data directory: each switches the new file to
    WAL, which SQLite refuses at once (SQLITE_BUSY, without waiting in the busy handler) while
    another process holds a lock. Seen as a `worker` that died at start."""
    spawn = multiprocessing.get_context("spawn")
    outcomes: list[str] = []
    with spawn.Manager() as manager, spawn.Pool(4) as pool:
        for round_no in range(12):
            start = manager.Barrier(4)
            path = str(tmp_path / f"{kind}-{round_no}.sqlite3")
            outcomes += pool.starmap(_open_together, [(kind, path, start)] * 4)
    assert [o for o in outcomes if o != "ok"] == []
    assert len(outcomes) == 48


def test_the_same_queries_give_the_same_answers(where: str) -> None:
    ledger = Ledger(where)
    ledger.start_job("j1", REPO, "implement", "#1", event="issues.labeled")
    ledger.record_call(call("j1", "openai/fast-b", 0.0, "error"))
    ledger.record_call(call("j1", "openai/fast-a", 0.25))
    ledger.finish_job("j1", "ok", "draft PR #2 opened", 3.0, "https://github.com/acme/widgets/pull/2")
    ledger.start_job("j1", REPO, "implement", "#1", event="issue_comment.created")  # run again: afresh
    ledger.finish_job("j1", "ok", None, 1.0, "https://github.com/acme/widgets/pull/2")

    assert ledger.spend(REPO) == 0.25 and ledger.job_spend("j1") == 0.25
    assert ledger.cost_by_phase_model(REPO) == [
        {"phase": "implement", "model": "openai/fast-a", "calls": 1, "tokens_in": 1000, "tokens_out": 200, "cost_usd": 0.25},
        {"phase": "implement", "model": "openai/fast-b", "calls": 1, "tokens_in": 1000, "tokens_out": 200, "cost_usd": 0.0},
    ]
    assert {type(v) for r in ledger.cost_by_phase_model(REPO) for v in r.values()} == {str, int, float}
    assert ledger.job("j1") == {"id": "j1", "repo": REPO, "phase": "implement", "target": "#1", "outcome": "ok", "detail": None}
    producer = ledger.outcomes.latest_job(REPO, ["implement"], ["#1"], url_suffix="/pull/2")
    assert producer is not None and (producer.model, producer.profile) == ("openai/fast-a", "high-throughput")
    merged = Outcome(REPO, "pr.merged", "pr.merged:acme/widgets#2", "#2", producer, value=0.5)
    assert ledger.outcomes.record(merged) is True
    assert ledger.outcomes.record(merged) is False  # the same fact twice: one row
    [row] = ledger.outcomes.rows(REPO)
    assert (row.kind, row.job, row.model, row.value) == ("pr.merged", "j1", "openai/fast-a", 0.5)
    assert sorted(ledger.totals()["calls"]) == [("high-throughput", "openai/fast-a", "ok", 1, 1000, 200, 0.25),
                                                ("high-throughput", "openai/fast-b", "error", 1, 1000, 200, 0.0)]
    ledger.close()


def test_a_bad_database_url_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="must be a postgresql:// URL, not mysql://u:\\*\\*\\*@h/db"):
        Database.open("mysql://u:secret@h/db")
    with pytest.raises(DatabaseError, match=r"cannot connect to postgresql://u:\*\*\*@127.0.0.1:1/db"):
        Database.open("postgresql://u:secret@127.0.0.1:1/db")
    assert redacted("postgresql://me:pa:ss@db:5432/x") == "postgresql://me:***@db:5432/x"


# -- two workers, one PostgreSQL -------------------------------------------------------------


def replay(tmp: Path, github: FakeGitHub, llm: FakeLLM, database_url: str, event: str,
           body: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """``model-routing replay`` in its own process, data directory and ledger connection."""
    config = tmp / "operator.yml"
    profiles = {p: [{"api_base": llm.url, "api_key": "test-key-not-secret", **m} for m in ms]
                for p, ms in TEST_MODELS.items()}
    config.write_text(yaml.safe_dump({"retries": 0, "timeout": 20.0, "profiles": profiles}))
    path = tmp / "payload.json"
    path.write_text(json.dumps(body))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "GITHUB_API_URL": github.url, "GITHUB_TOKEN": ACTION_TOKEN, "GITHUB_WEBHOOK_SECRET": "test-webhook-secret",
           "MODEL_ROUTING_DATA_DIR": str(tmp / "data"), "MODEL_ROUTING_CONFIG": str(config),
           "DATABASE_URL": database_url}
    return subprocess.run([str(CLI), "replay", event, str(path)], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp)


def test_two_workers_on_one_postgresql_see_each_others_calls_and_outcomes(
        tmp_path: Path, github: FakeGitHub, llm: FakeLLM, settings: Any, make_dispatcher: Any, pg_url: str) -> None:
    here = dataclasses.replace(settings, data_dir=tmp_path / "b", database_url=pg_url)
    assert ledger_kind(here) == "postgresql"
    scene = Scene.start(github, llm, make_dispatcher(here))
    number = scene.issue()
    (tmp_path / "a").mkdir()

    # worker A (another process) writes the spec
    llm.script("reason-a", SPEC_REPLY)
    design = payload("issues", "labeled", repo=REPO, sender="alice", issue={"number": number}, label={"name": "design"})
    done = replay(tmp_path / "a", github, llm, pg_url, "issues", design)
    assert done.returncode == 0, done.stderr[-2000:]

    # worker B sees A's spec job and call: the approval is credited to A's model
    assert [(c.phase, c.model) for c in scene.dispatcher.ledger.calls()] == [("spec", "openai/reason-a")]
    pull = scene.approve(number)
    scene.ci(number, "success")
    scene.close(pull, merged=True)
    kinds = [(r.kind, r.phase, r.model) for r in scene.dispatcher.ledger.outcomes.rows(REPO)]
    assert kinds == [("spec.approved", "spec", "openai/reason-a"), ("ci.green", "implement", "openai/fast-a"),
                     ("pr.merged", "implement", "openai/fast-a")]

    # A again, asked for /stats: B's implementation and outcomes are in its table
    comment = github.add_comment(REPO, number, "/stats", user="alice")
    stats = payload("issue_comment", "created", repo=REPO, sender="alice", issue={"number": number},
                    comment={"id": comment.id, "body": "/stats", "user": {"login": "alice", "type": "User"}})
    done = replay(tmp_path / "a", github, llm, pg_url, "issue_comment", stats)
    assert done.returncode == 0, done.stderr[-2000:]
    body = [c.body for c in github.comments(REPO, number) if c.user.login.endswith("[bot]")][-1]
    assert "| spec | `openai/reason-a` | 1 | $0.0600 | approved 1 of 1 (100%)" in body
    assert ("| implement | `openai/fast-a` | 1 | $0.0022 | CI green first try 1 of 1 (100%); "
            "PRs merged 1 of 1 (100%); 100% of its lines kept at merge |") in body
    assert "Cost per merged PR: **$0.0622** over 1 merged pull request" in body
    # neither worker kept a ledger of its own
    assert not (tmp_path / "a" / "data" / "ledger.sqlite3").exists()
    assert not (tmp_path / "b" / "ledger.sqlite3").exists()
    third = open_ledger(dataclasses.replace(here, data_dir=tmp_path / "c"))
    assert [r.kind for r in third.outcomes.rows(REPO)] == [k for k, _, _ in kinds]
    third.close()
