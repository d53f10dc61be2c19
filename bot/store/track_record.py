"""Each model's track record: jobs, cost and what happened to their outputs, per phase and model,
over a window (``/stats``, the dashboard, ``/api/stats``, ``/route``).

Windows: jobs, calls and cost are those *started* in the window; outcomes those *recorded* in
it (a spec approved today counts today, whenever it was written), so a rate reads "of the
outputs judged in the last 30 days". The per-output rules:

- spec: approved, revised or unanswered 30 days (``spec.stale``), of those three.
- implementation chains (one per implementation job: its commit, then the fix rounds on top):
  green on the first try (round 0 green), green after k fix rounds, or given up. A round is
  green when every check suite of its commit that reported is green. Credited to the model that
  wrote the implementation; each fix round's own result is credited to the fix's model.
- pull requests: merged or closed (and, separately, taken over), credited to the implementation;
  with the mean share of the bot's lines still present at merge.
- reviews: inline findings posted, and how many of their lines a later push changed.

Cost per merged PR: every job on the merged pull requests and on the issues they came from
(spec, implementation, fixes, reviews), divided by their number; and, all-in, everything spent
in the window divided by the pull requests merged in it.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.store import outcome_log as k
from bot.store.outcome_log import OutcomeLog, OutcomeRow

UNKNOWN_MODEL = "(not in this ledger)"


@dataclass
class Track:
    """One phase and model: its jobs and cost, and the outcomes of its outputs."""

    phase: str
    model: str
    jobs: int = 0
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    approved: int = 0
    revised: int = 0
    stale: int = 0
    approval_s: list[float] = field(default_factory=list)
    chains: int = 0  # implementations with a CI result
    first_try: int = 0
    after_fix: int = 0
    fix_rounds: int = 0  # summed over after_fix
    given_up: int = 0
    fixes: int = 0  # fix rounds with a CI result (credited to the fix's model)
    fixes_green: int = 0
    merged: int = 0
    closed: int = 0
    taken_over: int = 0
    kept: list[float] = field(default_factory=list)
    findings: int = 0
    acted_on: int = 0

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cost_usd"] = round(self.cost_usd, 6)
        data["approval_median_s"] = statistics.median(self.approval_s) if self.approval_s else None
        data["kept_mean"] = statistics.fmean(self.kept) if self.kept else None
        del data["approval_s"], data["kept"]
        return data


@dataclass
class Stats:
    repo: str | None
    since: float
    until: float
    rows: list[Track]
    total_cost: float
    merged_prs: int
    merged_cost: float

    @property
    def cost_per_merged_pr(self) -> float | None:
        return self.merged_cost / self.merged_prs if self.merged_prs else None

    @property
    def all_in_per_merged_pr(self) -> float | None:
        return self.total_cost / self.merged_prs if self.merged_prs else None

    def as_json(self) -> dict[str, Any]:
        return {"repo": self.repo, "since": self.since, "until": self.until,
                "rows": [r.as_json() for r in self.rows], "total_cost_usd": round(self.total_cost, 6),
                "merged_prs": self.merged_prs, "merged_cost_usd": round(self.merged_cost, 6),
                "cost_per_merged_pr_usd": _round(self.cost_per_merged_pr),
                "all_in_per_merged_pr_usd": _round(self.all_in_per_merged_pr)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


TrackOf = Callable[[str, str], Track]
PHASE_ORDER = ("spec", "implement", "debug", "review", "security", "ask")


def _where(repo: str | None, since: float, prefix: str = "") -> tuple[str, list[Any]]:
    sql, args = f"{prefix}at >= ?", list[Any]([since])
    if repo is not None:
        sql += f" AND {prefix}repo = ?"
        args.append(repo)
    return sql, args


def stats(log: OutcomeLog, repo: str | None, since: float, until: float | None = None) -> Stats:
    """The window's table: ``repo`` None for every repository."""
    until = time.time() if until is None else until
    log.sweep_stale_specs(until)
    db = log.db
    tracks: dict[tuple[str, str], Track] = {}

    def track(phase: str, model: str) -> Track:
        key = (phase or "?", model or UNKNOWN_MODEL)
        return tracks.setdefault(key, Track(*key))

    where, args = _where(repo, since)
    calls = db.run(f"SELECT job, phase, model, outcome, tokens_in, tokens_out, cost_usd FROM calls WHERE {where}"
                   " ORDER BY id", args)
    output_model: dict[str, str] = {}
    for job, phase, model, outcome, tokens_in, tokens_out, cost in calls:
        t = track(phase, model)
        t.calls += 1
        t.tokens_in += int(tokens_in or 0)
        t.tokens_out += int(tokens_out or 0)
        t.cost_usd += float(cost or 0)
        if outcome == "ok" or job not in output_model:
            output_model[job] = model  # the last successful call's model wrote the output
    for job, phase in db.run(f"SELECT id, phase FROM jobs WHERE {where}", args):
        if job in output_model:
            track(phase, output_model[job]).jobs += 1
    _judge(log, log.rows(repo, since), track)
    merged = [r for r in log.rows(repo, since, kinds=[k.PR_MERGED]) if r.at <= until]
    merged_cost = sum(_work_cost(log, r) for r in merged)
    ordered = sorted(tracks.values(), key=lambda t: (
        PHASE_ORDER.index(t.phase) if t.phase in PHASE_ORDER else len(PHASE_ORDER), t.phase, -t.cost_usd, t.model))
    return Stats(repo, since, until, ordered, sum(float(c[6] or 0) for c in calls), len(merged), merged_cost)


def _judge(log: OutcomeLog, rows: list[OutcomeRow], track: TrackOf) -> None:
    rounds: dict[str, dict[int, list[OutcomeRow]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        t = track(r.phase, r.model)
        if r.kind == k.SPEC_APPROVED:
            t.approved += 1
            t.approval_s.append(r.value or 0.0)
        elif r.kind == k.SPEC_REVISED:
            t.revised += 1
        elif r.kind == k.SPEC_STALE:
            t.stale += 1
        elif r.kind in (k.CI_GREEN, k.CI_RED):
            rounds[r.root_job or r.job][int(r.value or 0)].append(r)
        elif r.kind == k.CI_GIVEN_UP:
            _chain_track(log, r.root_job, {}, track).given_up += 1
        elif r.kind == k.PR_MERGED:
            t.merged += 1
            if r.value is not None:
                t.kept.append(r.value)
        elif r.kind == k.PR_CLOSED:
            t.closed += 1
        elif r.kind == k.PR_TAKEN_OVER:
            t.taken_over += 1
        elif r.kind == k.REVIEW_POSTED:
            t.findings += int(r.value or 0)
        elif r.kind == k.FINDING_ACTED_ON:
            t.acted_on += 1
    for root, by_round in rounds.items():
        green = {n: all(r.kind == k.CI_GREEN for r in found) for n, found in by_round.items()}
        for n, found in by_round.items():
            if n > 0:
                fix = track(found[-1].phase, found[-1].model)
                fix.fixes += 1
                fix.fixes_green += green[n]
        chain = _chain_track(log, root, by_round, track)
        chain.chains += 1
        if green.get(0):
            chain.first_try += 1
        elif any(green.values()):
            chain.after_fix += 1
            chain.fix_rounds += min(n for n, ok in green.items() if ok)


def _chain_track(log: OutcomeLog, root: str, by_round: dict[int, list[OutcomeRow]], track: TrackOf) -> Track:
    """The implementation's (phase, model): from its own CI rows, else from the ledger."""
    if 0 in by_round:
        first = by_round[0][-1]
        return track(first.phase, first.model)
    found = log.producer(root) if root else None
    return track(found.phase if found else "implement", found.model if found else "")


def _work_cost(log: OutcomeLog, merged: OutcomeRow) -> float:
    """Every call on the merged pull request and on the issue its implementation came from."""
    targets = [merged.target]
    root = log.producer(merged.root_job) if merged.root_job else None
    if root is not None and root.target not in targets:
        targets.append(root.target)
    marks = ",".join("?" * len(targets))
    rows = log.db.run(
        f"SELECT COALESCE(SUM(c.cost_usd), 0) FROM calls c JOIN jobs j ON c.job = j.id"
        f" WHERE j.repo = ? AND j.target IN ({marks})", (merged.repo, *targets))
    return float(rows[0][0] or 0)
