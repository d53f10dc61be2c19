"""What the dashboard and ``GET /api/stats`` show, as plain data (one function, so the page and
the JSON cannot disagree): this month's spend by repository, phase and model against the
budgets, the model switches (escalations, fallbacks, failed attempts), the last jobs with their
model, tokens, cost and outcomes, and each model's track record (``bot.store.track_record``)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.store.ledger import Ledger, month_start
from bot.store.outcome_log import DAY
from bot.store.track_record import Track, stats

RECENT_JOBS = 100
OUTCOME_DAYS = 30


def _ranked(totals: dict[str, list[float]], key: str) -> list[dict[str, Any]]:
    return [{key: name, "cost_usd": round(cost, 6), "calls": int(calls)}
            for name, (cost, calls) in sorted(totals.items(), key=lambda kv: (-kv[1][0], kv[0]))]


def switches(reason: str, outcome: str) -> tuple[bool, bool]:
    """(escalated, fell back) for one call, from the reason the model router wrote for it
    (``bot.llm.plan`` and ``bot.prompts.edit_attempts`` say "escalated", ``ModelRouter._call``
    says "fallback:")."""
    return outcome == "ok" and "escalated" in reason, outcome == "ok" and "; fallback:" in reason


def spend(ledger: Ledger, since: float, monthly_usd: float | None) -> dict[str, Any]:
    by: dict[str, dict[str, list[float]]] = {k: defaultdict(lambda: [0.0, 0]) for k in ("repo", "phase", "model")}
    counted: Counter[str] = Counter()
    per_model: dict[str, Counter[str]] = defaultdict(Counter)
    for repo, phase, model, cost, reason, outcome in ledger.db.run(
            "SELECT repo, phase, model, cost_usd, reason, outcome FROM calls WHERE at >= ?", (since,)):
        for key, name in (("repo", repo), ("phase", phase), ("model", model)):
            by[key][name][0] += float(cost or 0)
            by[key][name][1] += 1
        escalated, fell_back = switches(str(reason), str(outcome))
        for name, hit in (("calls", True), ("escalations", escalated), ("fallbacks", fell_back),
                          ("failed_attempts", outcome == "error")):
            counted[name] += hit
            per_model[model][name] += hit
    repos = _ranked(by["repo"], "repo")
    for row in repos:
        row["budget_usd"] = monthly_usd
        row["budget_share"] = round(row["cost_usd"] / monthly_usd, 4) if monthly_usd else None
    return {
        "total_usd": round(sum(r["cost_usd"] for r in repos), 6),
        "by_repo": repos, "by_phase": _ranked(by["phase"], "phase"), "by_model": _ranked(by["model"], "model"),
        "switches": {**{k: counted[k] for k in ("calls", "escalations", "fallbacks", "failed_attempts")},
                     "by_model": [{"model": m, **{k: c[k] for k in ("calls", "escalations", "fallbacks", "failed_attempts")}}
                                  for m, c in sorted(per_model.items())]},
    }


def recent_jobs(ledger: Ledger, limit: int = RECENT_JOBS) -> list[dict[str, Any]]:
    """The newest jobs, each with the model whose answer was its output and what became of it."""
    jobs = ledger.db.run("SELECT id, at, repo, event, phase, target, outcome, detail, url FROM jobs"
                         " ORDER BY at DESC, id LIMIT ?", (limit,))
    ids = [j[0] for j in jobs]
    calls: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    found: dict[str, list[str]] = defaultdict(list)
    if ids:
        marks = ",".join("?" * len(ids))
        for row in ledger.db.run("SELECT job, profile, model, reason, outcome, tokens_in, tokens_out, cost_usd"
                                 f" FROM calls WHERE job IN ({marks}) ORDER BY id", ids):
            calls[row[0]].append(row)
        for job, kind in ledger.db.run(f"SELECT job, kind FROM outcomes WHERE job IN ({marks}) ORDER BY at, id", ids):
            found[job].append(kind)
    out = []
    for job, at, repo, event, phase, target, outcome, detail, url in jobs:
        mine = calls[job]
        used = [c for c in mine if c[4] == "ok"] or mine
        last = used[-1] if used else None
        out.append({
            "id": job, "at": float(at), "time": datetime.fromtimestamp(float(at), tz=UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "repo": repo, "trigger": event, "phase": phase, "target": target,
            "profile": last[1] if last else "", "model": last[2] if last else "", "why": last[3] if last else "",
            "calls": len(mine), "tokens_in": sum(int(c[5] or 0) for c in mine),
            "tokens_out": sum(int(c[6] or 0) for c in mine),
            "cost_usd": round(sum(float(c[7] or 0) for c in mine), 6),
            "outcome": outcome, "detail": detail or "", "outcomes": found[job], "url": url or "",
        })
    return out


def overview(ledger: Ledger, monthly_usd: float | None, per_job_usd: float | None,
             now: float | None = None, describe: Callable[[Track], str] | None = None) -> dict[str, Any]:
    """``describe``: words for each outcome row (``bot.llm.track_words.outcome_words``)."""
    now = time.time() if now is None else now
    since = month_start(now)
    record = stats(ledger.outcomes, None, since=now - OUTCOME_DAYS * DAY, until=now)
    outcomes = record.as_json()
    if describe is not None:
        for row, track in zip(outcomes["rows"], record.rows, strict=True):
            row["words"] = describe(track)
    return {
        "generated_at": now,
        "month": datetime.fromtimestamp(since, tz=UTC).strftime("%B %Y"),
        "month_start": since,
        "budgets": {"monthly_usd": monthly_usd, "per_job_usd": per_job_usd},
        "spend": spend(ledger, since, monthly_usd),
        "jobs": recent_jobs(ledger),
        "outcomes": {**outcomes, "days": OUTCOME_DAYS},
    }
