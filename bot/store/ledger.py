"""The ledger: every model call and every job, and (``self.outcomes``) what happened to each
job's output. In SQLite in the data directory, or in PostgreSQL with ``DATABASE_URL`` so every
machine shares one (``bot.store.sqldb``; the schema is ``bot.store.migrations``).

It answers the budget check (spend this month per repository), ``/cost``, ``/stats``, the
dashboard and the metrics. With workers on several machines and only ``REDIS_URL`` (no
database), this month's spend is also kept in Redis (``bot.store.spend_redis``), and the budget
check and ``/cost`` read it from there; with PostgreSQL the ledger itself is shared.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from bot.store.migrations import migrate
from bot.store.outcome_log import OutcomeLog
from bot.store.sqldb import Database


class SharedSpend(Protocol):
    """This month's spend per repository, kept where every machine sees it (``bot.store.spend_redis``)."""

    def add(self, call: Call, at: float) -> None: ...
    def by_phase_model(self, repo: str, at: float) -> list[dict[str, Any]]: ...
    def month_total(self, repo: str, at: float) -> float: ...
    def close(self) -> None: ...

log = logging.getLogger("model_routing.ledger")


@dataclass(frozen=True)
class Call:
    repo: str
    job: str
    phase: str
    profile: str
    model: str
    reason: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    latency_s: float
    outcome: str  # "ok", "error", "skipped"
    error: str | None = None
    tokens_cached: int = 0  # of tokens_in, read from the provider's prompt cache


def month_start(now: float | None = None) -> float:
    dt = datetime.fromtimestamp(now if now is not None else time.time(), tz=UTC)
    return dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


class Ledger:
    """``where``: a SQLite file, a PostgreSQL URL, or an open ``Database``; the schema is
    migrated forward before the first row is written (``bot.store.migrations``)."""

    def __init__(self, where: Path | str | Database, shared: SharedSpend | None = None) -> None:
        self.db = where if isinstance(where, Database) else Database.open(where)
        self.shared = shared
        try:
            migrate(self.db)
        except BaseException:
            self.close()
            raise
        self.outcomes = OutcomeLog(self.db)

    def close(self) -> None:
        self.db.close()
        if self.shared is not None:
            self.shared.close()

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.db.run(sql, args)

    def record_call(self, call: Call, at: float | None = None) -> None:
        at = at if at is not None else time.time()
        self._run(
            "INSERT INTO calls (at, repo, job, phase, profile, model, reason, tokens_in, tokens_out,"
            " cost_usd, latency_s, outcome, error, tokens_cached) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                at, call.repo, call.job, call.phase, call.profile,
                call.model, call.reason, call.tokens_in, call.tokens_out, call.cost_usd,
                call.latency_s, call.outcome, call.error, call.tokens_cached,
            ),
        )
        if self.shared is not None:
            try:
                self.shared.add(call, at)
            except Exception:
                log.exception("could not add a %s call's cost to the shared monthly spend", call.repo)

    def calls(self, job: str | None = None) -> list[Call]:
        sql = ("SELECT repo, job, phase, profile, model, reason, tokens_in, tokens_out, cost_usd,"
               " latency_s, outcome, error, tokens_cached FROM calls")
        rows = self._run(sql + " WHERE job = ? ORDER BY id", (job,)) if job else self._run(sql + " ORDER BY id")
        return [Call(*row) for row in rows]

    def spend(self, repo: str, since: float | None = None) -> float:
        if self.shared is not None and since is None:
            return self.shared.month_total(repo, time.time())
        since = month_start() if since is None else since
        rows = self._run("SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE repo = ? AND at >= ?", (repo, since))
        return float(rows[0][0])

    def job_spend(self, job: str) -> float:
        return float(self._run("SELECT COALESCE(SUM(cost_usd), 0) FROM calls WHERE job = ?", (job,))[0][0])

    def cost_by_phase_model(self, repo: str, since: float | None = None) -> list[dict[str, Any]]:
        """This month's calls, tokens and cost by phase and model (``since`` another start: this
        machine's ledger only)."""
        if self.shared is not None and since in (None, month_start()):
            return self.shared.by_phase_model(repo, time.time())
        since = month_start() if since is None else since
        rows = self._run(
            "SELECT phase, model, COUNT(*), SUM(tokens_in), SUM(tokens_out), SUM(cost_usd) FROM calls"
            " WHERE repo = ? AND at >= ? GROUP BY phase, model ORDER BY SUM(cost_usd) DESC",
            (repo, since),
        )
        keys = ("phase", "model", "calls", "tokens_in", "tokens_out", "cost_usd")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def start_job(self, job: str, repo: str, phase: str, target: str, event: str = "", at: float | None = None) -> None:
        """``event``: what triggered it (``issues.labeled``); a job run again starts afresh."""
        self._run(
            "INSERT INTO jobs (id, at, repo, phase, target, outcome, event) VALUES (?,?,?,?,?,?,?)"
            " ON CONFLICT (id) DO UPDATE SET at = excluded.at, repo = excluded.repo, phase = excluded.phase,"
            " target = excluded.target, outcome = excluded.outcome, event = excluded.event,"
            " detail = NULL, latency_s = NULL, url = ''",
            (job, time.time() if at is None else at, repo, phase, target, "running", event),
        )

    def finish_job(self, job: str, outcome: str, detail: str | None = None, latency_s: float | None = None,
                   url: str = "") -> None:
        """``url``: where the job's output is (its comment, pull request or review)."""
        self._run("UPDATE jobs SET outcome = ?, detail = ?, latency_s = ?, url = ? WHERE id = ?",
                  (outcome, detail, latency_s, url, job))

    def job(self, job: str) -> dict[str, Any] | None:
        rows = self._run("SELECT id, repo, phase, target, outcome, detail FROM jobs WHERE id = ?", (job,))
        keys = ("id", "repo", "phase", "target", "outcome", "detail")
        return dict(zip(keys, rows[0], strict=True)) if rows else None

    def totals(self) -> dict[str, list[tuple[Any, ...]]]:
        """Aggregates for /metrics."""
        return {
            "calls": self._run(
                "SELECT profile, model, outcome, COUNT(*), SUM(tokens_in), SUM(tokens_out), SUM(cost_usd)"
                " FROM calls GROUP BY profile, model, outcome"
            ),
            "jobs": self._run("SELECT phase, outcome, COUNT(*), SUM(latency_s) FROM jobs GROUP BY phase, outcome"),
        }
