"""The Actions API: workflow runs, their jobs, and the job-log redirect.

A workflow run is created as GitHub creates it: its own check suite (app ``github-actions``),
and one check run per job with the job's id, whose ``details_url`` is the job's page. Job logs
are never served from the API host: ``.../jobs/{job_id}/logs`` answers 302 to a signed,
short-lived URL on the log host (github_logs.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tests.fakes import github_shapes_actions as shapes
from tests.fakes.github_http import Call, Reply, Routes, not_found, paginate
from tests.fakes.github_logs import stamp_log
from tests.fakes.github_routes_checks import int_param, new_check_run, new_suite
from tests.fakes.github_routes_repo import repo_or_404
from tests.fakes.github_shapes import WEB
from tests.fakes.github_state import Repo, State, now_iso
from tests.fakes.github_state_ci import ACTIONS_SLUG, Job, Step, WorkflowRun

if TYPE_CHECKING:
    from tests.fakes.github_server import Backend

RUN_STATUSES = ("queued", "in_progress", "completed", "requested", "waiting", "pending")
DEFAULT_STEPS = ["Set up job", "Run actions/checkout@v4", "Run tests",
                 "Post Run actions/checkout@v4", "Complete job"]


def _steps(spec: list[Any] | None, status: str, conclusion: str | None, started: str | None,
           completed: str | None) -> list[Step]:
    """The job's steps: given ones, or the usual five where the third carries the outcome
    (a failed step skips the rest but the post and complete steps, as the runner does)."""
    steps: list[Step] = []
    failed = False
    for number, item in enumerate(spec or DEFAULT_STEPS, start=1):
        given = item if isinstance(item, dict) else {"name": item}
        if "conclusion" in given:
            outcome = given["conclusion"]
        elif status != "completed":
            outcome = None
        elif spec is None and number == 3:
            outcome = conclusion
        elif failed and not given["name"].startswith(("Post ", "Complete job")):
            outcome = "skipped"
        else:
            outcome = "success"
        failed = failed or outcome in ("failure", "cancelled", "timed_out")
        step_status = given.get("status", "completed" if outcome else "queued")
        steps.append(Step(given["name"], number, step_status, outcome,
                          started if step_status != "queued" else None,
                          completed if step_status == "completed" else None))
    return steps


def _runner_log(steps: list[Step]) -> bytes:
    """What the runner writes for steps that print nothing of their own."""
    lines = []
    for step in steps:
        if step.status == "queued" or step.conclusion == "skipped":
            continue
        lines += [f"##[group]{step.name}", "##[endgroup]"]
        if step.conclusion == "failure":
            lines.append("##[error]Process completed with exit code 1.")
    lines.append("Cleaning up orphan processes")
    return ("\n".join(lines) + "\n").encode()


def _log_annotations(log: bytes) -> list[dict[str, Any]]:
    """The runner turns each ``##[error]`` line into a failure annotation on ``.github``."""
    found = []
    for raw in log.decode("utf-8", "replace").splitlines():
        _, marker, message = raw.partition("##[error]")
        if marker:
            found.append({"path": ".github", "start_line": 1, "end_line": 1,
                          "annotation_level": "failure", "message": message.strip(),
                          "title": ""})
    return found


def new_workflow_run(state: State, repo: Repo, head_sha: str, head_branch: str | None, *,
                     name: str, path: str, event: str, actor: str, display_title: str,
                     jobs: list[dict[str, Any]]) -> WorkflowRun:
    stamp = now_iso()
    workflow_id = state.ci.workflow_ids.setdefault((repo.full_name.lower(), path),
                                                  state.new_id())
    number = 1 + sum(1 for r in state.ci.workflow_runs.values() if r.workflow_id == workflow_id)
    suite = new_suite(state, repo, head_sha, head_branch, ACTIONS_SLUG)
    run = WorkflowRun(state.new_id(), repo.full_name, suite.id, workflow_id, name, path,
                      head_sha, head_branch, event, "queued", None, number, actor,
                      display_title, stamp, stamp)
    state.ci.workflow_runs[run.id] = run
    for spec in jobs:
        job_id = state.new_id()
        status = spec.get("status", "completed")
        conclusion = spec.get("conclusion", "success") if status == "completed" else None
        started = spec.get("started_at") or (stamp if status != "queued" else None)
        completed = spec.get("completed_at") or (stamp if status == "completed" else None)
        steps = _steps(spec.get("steps"), status, conclusion, started, completed)
        log: bytes | None = None
        if status == "completed":
            given = spec.get("log")
            raw = given.encode() if isinstance(given, str) else given
            start = datetime.fromisoformat((started or stamp).replace("Z", "+00:00"))
            log = stamp_log(raw if raw is not None else _runner_log(steps), start)
        annotations = spec.get("annotations")
        if annotations is None:
            annotations = _log_annotations(log) if log else []
        new_check_run(state, repo, suite, spec["name"], status=status, conclusion=conclusion,
                      started_at=started, completed_at=completed, output=spec.get("output"),
                      annotations=annotations, run_id=job_id,
                      details_url=f"{WEB}/{repo.full_name}/actions/runs/{run.id}/job/{job_id}")
        state.ci.jobs[job_id] = Job(job_id, run.id, spec["name"], steps, log)
        run.job_ids.append(job_id)
    run.status, run.conclusion = suite.status, suite.conclusion
    return run


# -- routes ----------------------------------------------------------------------------------
def _run_or_404(b: Backend, call: Call) -> tuple[Repo, WorkflowRun]:
    repo = repo_or_404(b.state, call)
    run = b.state.ci.workflow_runs.get(int_param(call, "run_id"))
    if run is None or run.repo.lower() != repo.full_name.lower():
        raise not_found()
    return repo, run


def _job_or_404(b: Backend, call: Call) -> tuple[Repo, Job]:
    repo = repo_or_404(b.state, call)
    job = b.state.ci.jobs.get(int_param(call, "job_id"))
    if job is None or b.state.ci.workflow_runs[job.run_id].repo.lower() != \
            repo.full_name.lower():
        raise not_found()
    return repo, job


def _run_body(b: Backend, call: Call, repo: Repo, run: WorkflowRun) -> dict[str, Any]:
    body = shapes.workflow_run(call.base_url, b.state, repo, run)
    if call.query.get("exclude_pull_requests") == "true":
        body["pull_requests"] = []
    return body


def _matches(run: WorkflowRun, query: dict[str, str]) -> bool:
    status = query.get("status")
    if status and (run.status if status in RUN_STATUSES else run.conclusion) != status:
        return False
    wanted = {"head_sha": run.head_sha, "branch": run.head_branch, "event": run.event,
              "actor": run.actor, "check_suite_id": str(run.suite_id)}
    return all(query[k] == v for k, v in wanted.items() if k in query)


def list_runs(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    runs = sorted((r for r in b.state.ci.workflow_runs.values()
                   if r.repo.lower() == repo.full_name.lower() and _matches(r, call.query)),
                  key=lambda r: r.id, reverse=True)  # newest first, as GitHub lists them
    page = paginate(call, runs, lambda r: _run_body(b, call, repo, r))
    return Reply(200, {"total_count": len(runs), "workflow_runs": page.body}, page.headers)


def get_run(b: Backend, call: Call) -> Reply:
    repo, run = _run_or_404(b, call)
    return Reply(200, _run_body(b, call, repo, run))


def list_jobs(b: Backend, call: Call) -> Reply:
    repo, run = _run_or_404(b, call)
    jobs = [b.state.ci.jobs[i] for i in run.job_ids]
    page = paginate(call, jobs, lambda j: shapes.job(call.base_url, b.state, repo, j))
    return Reply(200, {"total_count": len(jobs), "jobs": page.body}, page.headers)


def get_job(b: Backend, call: Call) -> Reply:
    repo, job = _job_or_404(b, call)
    return Reply(200, shapes.job(call.base_url, b.state, repo, job))


def job_logs(b: Backend, call: Call) -> Reply:
    repo, job = _job_or_404(b, call)
    if job.log is None or b.log_host is None:
        raise not_found()
    return Reply(302, None, {"location": b.log_host.signed_url(repo.full_name, job.run_id,
                                                               job.id)})


def register(routes: Routes) -> None:
    base = "/repos/{owner}/{repo}/actions"
    routes.add("GET", base + "/runs", list_runs)
    routes.add("GET", base + "/runs/{run_id}", get_run)
    routes.add("GET", base + "/runs/{run_id}/jobs", list_jobs)
    routes.add("GET", base + "/jobs/{job_id}", get_job)
    routes.add("GET", base + "/jobs/{job_id}/logs", job_logs)
