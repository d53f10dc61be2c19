"""What CI concluded about a commit, from the Checks and Actions APIs: the failing check runs of
a head SHA, their annotations, and for GitHub Actions jobs the job log.

The job log (``GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs``) answers 302 with a signed
URL on another host that expires within a minute. The client follows it at once, and the token
stays behind: httpx (under githubkit) drops ``Authorization`` on any redirect to another origin
(scheme, host or port), and the tests show the log host never sees it. A log GitHub no longer
keeps (404, 410) or may not show (403: no ``actions: read``) is reported as missing, with why.

Everything read here is what CI printed: untrusted text, cleaned and cut in
``bot.prompts.ci_logs_prompt`` before any model sees it. Nothing here decides what is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.aio import bounded
from bot.github.rest import http_status, paginate

if TYPE_CHECKING:
    from bot.github.session import Session

FAILING = ("failure", "timed_out", "startup_failure")  # a check run knows the first two only
ACTIONS_APP = "github-actions"
MAX_FAILURES = 8  # failing check runs read in detail; the rest are named
MAX_ANNOTATIONS = 50  # per check run
MAX_CHECK_RUNS = 1_000


@dataclass(frozen=True)
class Annotation:
    path: str
    start_line: int
    end_line: int
    level: str  # notice | warning | failure
    title: str
    message: str


@dataclass(frozen=True)
class CheckFailure:
    """One failing check run, with what it said about the failure (raw, untrusted)."""

    id: int
    name: str
    app: str  # the app's slug: "github-actions" for a workflow job
    conclusion: str
    html_url: str
    title: str
    summary: str
    text: str
    annotations: list[Annotation] = field(default_factory=list)
    log: str | None = None  # the job log, for GitHub Actions jobs
    log_problem: str = ""  # why there is no log

    @property
    def is_job(self) -> bool:
        return self.app == ACTIONS_APP


@dataclass(frozen=True)
class Failures:
    sha: str
    failing: list[CheckFailure]  # read in detail
    not_read: list[str] = field(default_factory=list)  # names of further failing runs
    checks: int = 0  # check runs of the commit, failing or not


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any, default: int = 1) -> int:
    return value if isinstance(value, int) else default


async def check_runs(session: Session, sha: str) -> list[dict[str, Any]]:
    """Every latest check run of the commit (the newest run of each name per suite)."""
    found = await paginate(session.gh, f"/repos/{session.repo}/commits/{sha}/check-runs",
                           {"filter": "latest"}, limit=MAX_CHECK_RUNS, key="check_runs")
    return [r for r in found if isinstance(r, dict)]


def failing(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in runs if r.get("status") == "completed" and r.get("conclusion") in FAILING]


async def read_annotations(session: Session, run_id: int) -> list[Annotation]:
    found = await paginate(session.gh, f"/repos/{session.repo}/check-runs/{run_id}/annotations",
                           limit=MAX_ANNOTATIONS)
    return [
        Annotation(_str(a.get("path")), _int(a.get("start_line")), _int(a.get("end_line"), _int(a.get("start_line"))),
                   _str(a.get("annotation_level")), _str(a.get("title")), _str(a.get("message")))
        for a in found if isinstance(a, dict)
    ]


async def job_log(session: Session, job_id: int) -> tuple[str | None, str]:
    """(the job's log, "") or (None, why there is none). Follows the 302 to the log host."""
    try:
        resp = await session.gh.arequest("GET", f"/repos/{session.repo}/actions/jobs/{job_id}/logs")
    except Exception as exc:
        status = http_status(exc)
        if status in (404, 410):
            return None, "GitHub keeps no log for this job (expired, or the job never ran)"
        if status == 403:
            return None, "the token may not read job logs (it needs `actions: read`)"
        raise
    return resp.content.decode("utf-8", errors="replace"), ""


async def _detail(session: Session, run: dict[str, Any]) -> CheckFailure:
    run_id = _int(run.get("id"), 0)
    app = _str((run.get("app") or {}).get("slug"))
    output = run.get("output") or {}
    notes = await read_annotations(session, run_id) if _int(output.get("annotations_count"), 1) else []
    log, problem = await job_log(session, run_id) if app == ACTIONS_APP else (None, "")
    return CheckFailure(run_id, _str(run.get("name")), app, _str(run.get("conclusion")),
                        _str(run.get("html_url")), _str(output.get("title")), _str(output.get("summary")),
                        _str(output.get("text")), notes, log, problem)


async def read_failures(session: Session, sha: str) -> Failures:
    """The failing check runs of ``sha`` with their annotations and job logs, read concurrently
    (at most ``MAX_FAILURES`` of them in detail)."""
    runs = await check_runs(session, sha)
    bad = failing(runs)
    detailed = await bounded(session.fetch_limit, [partial(_detail, session, r) for r in bad[:MAX_FAILURES]])
    return Failures(sha, detailed, [_str(r.get("name")) for r in bad[MAX_FAILURES:]], len(runs))


async def pull_commits(session: Session, number: int) -> list[dict[str, Any]]:
    """The pull request's commits, oldest first (GitHub lists at most 250)."""
    found = await paginate(session.gh, f"/repos/{session.repo}/pulls/{number}/commits")
    return [c for c in found if isinstance(c, dict)]
