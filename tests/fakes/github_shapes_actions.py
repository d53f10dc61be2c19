"""JSON bodies of the Actions API (workflow runs, jobs) in GitHub's shapes.

A job is the check run of the same id: ``check_run_url`` names it, and the check run's
``details_url`` and ``html_url`` point back at the job's page, as on GitHub.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.github_shapes import WEB, node_id, repository, user
from tests.fakes.github_shapes_checks import pull_requests_for, simple_commit
from tests.fakes.github_state import Repo, State
from tests.fakes.github_state_ci import Job, WorkflowRun

Json = dict[str, Any]


def workflow_run(api: str, state: State, r: Repo, run: WorkflowRun) -> Json:
    url = f"{api}/repos/{r.full_name}/actions/runs/{run.id}"
    actor = user(api, state.user(run.actor))
    previous = f"{url}/attempts/{run.run_attempt - 1}" if run.run_attempt > 1 else None
    repo_body = repository(api, state, r)
    return {
        "id": run.id, "name": run.name, "node_id": node_id("WFR", run.id),
        "check_suite_id": run.suite_id, "check_suite_node_id": node_id("CS", run.suite_id),
        "head_branch": run.head_branch, "head_sha": run.head_sha,
        "path": run.path,
        "run_number": run.run_number, "run_attempt": run.run_attempt,
        "referenced_workflows": [], "event": run.event, "status": run.status,
        "conclusion": run.conclusion, "workflow_id": run.workflow_id, "url": url,
        "html_url": f"{WEB}/{r.full_name}/actions/runs/{run.id}",
        "pull_requests": pull_requests_for(api, state, r, run.head_sha),
        "created_at": run.created_at, "updated_at": run.updated_at, "actor": actor,
        "triggering_actor": actor, "run_started_at": run.created_at,
        "jobs_url": f"{url}/jobs", "logs_url": f"{url}/logs",
        "check_suite_url": f"{api}/repos/{r.full_name}/check-suites/{run.suite_id}",
        "artifacts_url": f"{url}/artifacts", "cancel_url": f"{url}/cancel",
        "rerun_url": f"{url}/rerun", "previous_attempt_url": previous,
        "workflow_url": f"{api}/repos/{r.full_name}/actions/workflows/{run.workflow_id}",
        "head_commit": simple_commit(state, run.head_sha), "repository": repo_body,
        "head_repository": repo_body, "head_repository_id": r.id,
        "display_title": run.display_title,
    }


def job(api: str, state: State, r: Repo, j: Job) -> Json:
    run = state.ci.workflow_runs[j.run_id]
    check = state.ci.check_runs[j.id]
    return {
        "id": j.id, "run_id": run.id,
        "run_url": f"{api}/repos/{r.full_name}/actions/runs/{run.id}",
        "run_attempt": run.run_attempt, "node_id": node_id("CR", j.id),
        "head_sha": run.head_sha, "url": f"{api}/repos/{r.full_name}/actions/jobs/{j.id}",
        "html_url": f"{WEB}/{r.full_name}/actions/runs/{run.id}/job/{j.id}",
        "status": check.status, "conclusion": check.conclusion,
        "created_at": run.created_at, "started_at": check.started_at or run.created_at,
        "completed_at": check.completed_at, "name": j.name,
        "steps": [{"name": s.name, "status": s.status, "conclusion": s.conclusion,
                   "number": s.number, "started_at": s.started_at,
                   "completed_at": s.completed_at} for s in j.steps],
        "check_run_url": f"{api}/repos/{r.full_name}/check-runs/{j.id}",
        "labels": list(j.labels), "runner_id": 2 if j.runner_name else None,
        "runner_name": j.runner_name,
        "runner_group_id": 0 if j.runner_name else None,
        "runner_group_name": "GitHub Actions" if j.runner_name else None,
        "workflow_name": run.name, "head_branch": run.head_branch,
    }
