"""What happened to each output, recorded against the job and model that produced it.

An output is what a job wrote: a spec revision, a commit on the bot's branch, a pull request, a
review. Its outcomes come later from GitHub's events (``handlers/outcomes.py``): approved or
revised, CI green or red, merged or closed or taken over, findings acted on. Each row names the
job that produced the output and that job's phase, profile and model: the model of the job's
last successful call, whose answer was the output (a fallback or escalation that served the job
is the one credited). ``dedupe`` is the outcome's natural key, so a delivery that arrives twice,
or two events that report one fact (``check_suite`` and ``workflow_run`` for the same run),
record it once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.store.sqldb import Database

DAY = 86_400.0
STALE_AFTER_S = 30 * DAY  # a spec neither approved nor revised after this is unanswered

# the kinds, by the output they judge
SPEC_APPROVED = "spec.approved"  # value: seconds from the spec to its approval
SPEC_REVISED = "spec.revised"  # value: the revision that was superseded
SPEC_STALE = "spec.stale"  # neither after STALE_AFTER_S; value: days
CI_GREEN = "ci.green"  # one check suite on a bot commit; value: the commit's fix round
CI_RED = "ci.red"
CI_GIVEN_UP = "ci.given_up"  # red at the last fix round the bot may make; value: that round
PR_MERGED = "pr.merged"  # value: share of the bot's added lines still present at merge (or None)
PR_CLOSED = "pr.closed"  # closed without merge
PR_TAKEN_OVER = "pr.taken_over"  # a commit without the bot's trailer on its branch
REVIEW_POSTED = "review.posted"  # value: inline findings of that review
FINDING_ACTED_ON = "review.acted_on"  # one inline finding whose line a later push changed

SPEC_DECIDED = (SPEC_APPROVED, SPEC_REVISED, SPEC_STALE)


@dataclass(frozen=True)
class Producer:
    """A job and the model whose answer was its output ("" when it called none)."""

    job: str
    repo: str
    phase: str
    target: str
    at: float
    finished: float
    url: str
    profile: str = ""
    model: str = ""


@dataclass(frozen=True)
class Outcome:
    repo: str
    kind: str
    dedupe: str
    target: str = ""
    producer: Producer | None = None
    root_job: str = ""
    phase: str = ""  # when no producer is known: the phase the output came from
    value: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class OutcomeRow:
    at: float
    repo: str
    kind: str
    target: str
    job: str
    root_job: str
    phase: str
    profile: str
    model: str
    value: float | None
    detail: str


_ROW = "at, repo, kind, target, job, root_job, phase, profile, model, value, detail"


def _marks(items: Sequence[Any]) -> str:
    return ",".join("?" * len(items))


class OutcomeLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, outcome: Outcome, at: float | None = None) -> bool:
        """True when the outcome is new; False when its ``dedupe`` key was recorded before."""
        p = outcome.producer
        rows = self.db.run(
            f"INSERT INTO outcomes ({_ROW}, dedupe) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (dedupe) DO NOTHING RETURNING id",
            (time.time() if at is None else at, outcome.repo, outcome.kind, outcome.target,
             p.job if p else "", outcome.root_job or (p.job if p else ""),
             p.phase if p else outcome.phase, p.profile if p else "", p.model if p else "",
             outcome.value, outcome.detail[:500], outcome.dedupe),
        )
        return bool(rows)

    def recorded(self, dedupe: str) -> bool:
        return bool(self.db.run("SELECT 1 FROM outcomes WHERE dedupe = ?", (dedupe,)))

    def rows(self, repo: str | None = None, since: float | None = None,
             kinds: Iterable[str] = (), jobs: Iterable[str] = ()) -> list[OutcomeRow]:
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        for column, values in (("kind", list(kinds)), ("root_job", list(jobs))):
            if values:
                where.append(f"{column} IN ({_marks(values)})")
                args += values
        if repo is not None:
            where.append("repo = ?")
            args.append(repo)
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        found = self.db.run(f"SELECT {_ROW} FROM outcomes WHERE {' AND '.join(where)} ORDER BY at, id", args)
        return [OutcomeRow(float(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                           None if r[9] is None else float(r[9]), r[10]) for r in found]

    # -- which job produced an output ---------------------------------------------------------

    def producer(self, job: str) -> Producer | None:
        rows = self.db.run("SELECT id, repo, phase, target, at, latency_s, url FROM jobs WHERE id = ?", (job,))
        return self._with_model(rows[0]) if rows else None

    def latest_job(self, repo: str, phases: Sequence[str], targets: Sequence[str] = (), *,
                   url_suffix: str = "", exclude: str = "") -> Producer | None:
        """The newest job of ``phases`` in ``repo`` that succeeded, on one of ``targets``
        (``#12``), whose output's URL ends with ``url_suffix``, other than ``exclude``."""
        sql = (f"SELECT id, repo, phase, target, at, latency_s, url FROM jobs WHERE repo = ? AND outcome = 'ok'"
               f" AND phase IN ({_marks(phases)}) AND id <> ?")
        args: list[Any] = [repo, *phases, exclude]
        if targets:
            sql += f" AND target IN ({_marks(targets)})"
            args += list(targets)
        for row in self.db.run(sql + " ORDER BY at DESC, id DESC LIMIT 50", args):
            if str(row[6] or "").endswith(url_suffix):
                return self._with_model(row)
        return None

    def _with_model(self, row: tuple[Any, ...]) -> Producer:
        job, repo, phase, target, at, latency, url = row
        # the last successful call's model wrote the output; a job of failed calls only is
        # credited to the last model it tried
        calls = self.db.run("SELECT profile, model, outcome FROM calls WHERE job = ? ORDER BY id", (job,))
        ok = [c for c in calls if c[2] == "ok"] or calls
        profile, model = (ok[-1][0], ok[-1][1]) if ok else ("", "")
        return Producer(job, repo, phase, target, float(at), float(at) + float(latency or 0), str(url or ""),
                        profile, model)

    # -- outcomes nobody reports --------------------------------------------------------------

    def sweep_stale_specs(self, now: float | None = None) -> int:
        """Record ``spec.stale`` for each spec neither approved nor revised ``STALE_AFTER_S``
        after it was written; -> how many. Idempotent: run before each read of the outcomes."""
        now = time.time() if now is None else now
        stale = self.db.run(
            "SELECT j.id FROM jobs j WHERE j.phase = 'spec' AND j.outcome = 'ok'"
            " AND j.at + COALESCE(j.latency_s, 0) < ?"
            f" AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.job = j.id AND o.kind IN ({_marks(SPEC_DECIDED)}))",
            (now - STALE_AFTER_S, *SPEC_DECIDED),
        )
        made = 0
        for (job,) in stale:
            found = self.producer(job)
            if found is None:
                continue
            made += self.record(Outcome(found.repo, SPEC_STALE, f"{SPEC_STALE}:{job}", found.target, found,
                                        value=STALE_AFTER_S / DAY), at=found.finished + STALE_AFTER_S)
        return made
