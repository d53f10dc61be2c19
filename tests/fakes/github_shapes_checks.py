"""JSON bodies of the Checks API (check suites, check runs, annotations) in GitHub's shapes.

A check run's ``pull_requests`` and a suite's are computed when asked, as GitHub does: the open
pull requests of the *same* repository whose head is the commit (GitHub's note on the Checks API:
pushes to a fork are not detected, so a fork's pull request is never listed).
"""

from __future__ import annotations

from typing import Any

from tests.fakes.github_shapes import WEB, node_id, repository, user
from tests.fakes.github_shapes_git import app as app_body
from tests.fakes.github_state import Repo, State, User
from tests.fakes.github_state_ci import ACTIONS_SLUG, Annotation, CheckRun, CheckSuite

Json = dict[str, Any]

# GitHub Actions is itself a GitHub App; these are its public identity and owner
ACTIONS_APP_ID = 15368
ACTIONS_OWNER = User("github", 9919, "Organization")
ACTIONS_PERMISSIONS = {
    "actions": "write", "checks": "write", "contents": "write", "deployments": "write",
    "issues": "write", "metadata": "read", "packages": "write", "pages": "write",
    "pull_requests": "write", "repository_hooks": "write", "repository_projects": "write",
    "security_events": "write", "statuses": "write", "vulnerability_alerts": "read",
}
ACTIONS_EVENTS = ["branch_protection_rule", "check_run", "check_suite", "create", "delete",
                  "deployment", "deployment_status", "discussion", "fork", "issues",
                  "issue_comment", "merge_group", "pull_request", "pull_request_review",
                  "pull_request_review_comment", "push", "release", "status", "workflow_run"]


def integration(api: str, state: State, slug: str, fake_app: Any) -> Json:
    """The app behind a suite: GitHub Actions, the fake's own App, or a third party."""
    if slug == ACTIONS_SLUG:
        return {
            "id": ACTIONS_APP_ID, "slug": ACTIONS_SLUG, "node_id": "MDM6QXBwMTUzNjg=",
            "owner": user(api, ACTIONS_OWNER), "name": "GitHub Actions",
            "description": "Automate your workflow from idea to production",
            "external_url": "https://help.github.com/en/actions",
            "html_url": f"{WEB}/apps/github-actions", "created_at": "2018-07-30T09:30:17Z",
            "updated_at": "2019-12-10T19:04:12Z", "permissions": ACTIONS_PERMISSIONS,
            "events": ACTIONS_EVENTS,
        }
    if slug == fake_app.slug:
        owner = state.user(fake_app.owner_login, "Organization")
        return app_body(api, fake_app.app_id, slug, owner, fake_app.client_id)
    app_id = state.ci.app_ids.setdefault(slug, state.new_id())
    owner = state.user(slug + "-owner", "Organization")
    return app_body(api, app_id, slug, owner, f"Iv1.{slug[:12]}")


def app_id_of(state: State, slug: str, fake_app: Any) -> int:
    if slug == ACTIONS_SLUG:
        return ACTIONS_APP_ID
    if slug == fake_app.slug:
        return int(fake_app.app_id)
    return state.ci.app_ids.setdefault(slug, state.new_id())


def pull_requests_for(api: str, state: State, r: Repo, sha: str) -> list[Json]:
    """pull-request-minimal for each open same-repository PR whose head is ``sha``."""
    found = []
    for pull in r.pulls.values():
        if r.issues[pull.number].state != "open" or pull.head_repo.lower() != \
                r.full_name.lower():
            continue
        base_sha, head_sha = state.pull_shas(r, pull)
        if head_sha != sha:
            continue
        repo_ref = {"id": r.id, "url": f"{api}/repos/{r.full_name}", "name": r.name}
        found.append({
            "url": f"{api}/repos/{r.full_name}/pulls/{pull.number}", "id": pull.id,
            "number": pull.number,
            "head": {"ref": pull.head_ref, "sha": head_sha, "repo": repo_ref},
            "base": {"ref": pull.base_ref, "sha": base_sha, "repo": repo_ref},
        })
    return found


def simple_commit(state: State, sha: str) -> Json:
    c = state.store.commits[sha]
    return {"id": c.sha, "tree_id": c.tree, "message": c.message,
            "timestamp": c.committer.date,
            "author": {"name": c.author.name, "email": c.author.email},
            "committer": {"name": c.committer.name, "email": c.committer.email}}


def check_run(api: str, state: State, r: Repo, run: CheckRun, fake_app: Any) -> Json:
    url = f"{api}/repos/{r.full_name}/check-runs/{run.id}"
    job = state.ci.jobs.get(run.id)
    html = (f"{WEB}/{r.full_name}/actions/runs/{job.run_id}/job/{run.id}" if job
            else f"{WEB}/{r.full_name}/runs/{run.id}")
    return {
        "id": run.id, "head_sha": run.head_sha, "node_id": node_id("CR", run.id),
        "external_id": run.external_id, "url": url, "html_url": html,
        "details_url": run.details_url, "status": run.status, "conclusion": run.conclusion,
        "started_at": run.started_at, "completed_at": run.completed_at,
        "output": {"title": run.output.get("title"), "summary": run.output.get("summary"),
                   "text": run.output.get("text"), "annotations_count": len(run.annotations),
                   "annotations_url": f"{url}/annotations"},
        "name": run.name, "check_suite": {"id": run.suite_id},
        "app": integration(api, state, run.app_slug, fake_app),
        "pull_requests": pull_requests_for(api, state, r, run.head_sha),
    }


def check_suite(api: str, state: State, r: Repo, suite: CheckSuite, fake_app: Any) -> Json:
    url = f"{api}/repos/{r.full_name}/check-suites/{suite.id}"
    return {
        "id": suite.id, "node_id": node_id("CS", suite.id), "head_branch": suite.head_branch,
        "head_sha": suite.head_sha, "status": suite.status, "conclusion": suite.conclusion,
        "url": url, "before": suite.before, "after": suite.head_sha,
        "pull_requests": pull_requests_for(api, state, r, suite.head_sha),
        "app": integration(api, state, suite.app_slug, fake_app),
        "repository": repository(api, state, r), "created_at": suite.created_at,
        "updated_at": suite.updated_at, "head_commit": simple_commit(state, suite.head_sha),
        "latest_check_runs_count": len(suite.run_ids),
        "check_runs_url": f"{url}/check-runs", "rerequestable": True,
        "runs_rerequestable": True,
    }


def annotation(r: Repo, sha: str, a: Annotation) -> Json:
    return {
        "path": a.path, "blob_href": f"{WEB}/{r.full_name}/blob/{sha}/{a.path}",
        "start_line": a.start_line, "end_line": a.end_line,
        "start_column": a.start_column, "end_column": a.end_column,
        "annotation_level": a.annotation_level, "title": a.title, "message": a.message,
        "raw_details": a.raw_details,
    }
