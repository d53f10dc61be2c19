"""The Checks API: check suites and check runs per commit, and their annotations.

Read-only routes: the world is seeded through ``FakeGitHub.add_check_run`` and
``add_workflow_run``, which use `new_check_run` here. An app gets one check suite per commit,
as GitHub creates them on push; GitHub Actions gets one per workflow run
(github_routes_actions.py).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tests.fakes import github_shapes_checks as shapes
from tests.fakes.github_http import Call, HttpError, Reply, Routes, not_found, paginate
from tests.fakes.github_routes_repo import repo_or_404, resolve_commit
from tests.fakes.github_shapes import error
from tests.fakes.github_state import Repo, State, now_iso
from tests.fakes.github_state_ci import Annotation, CheckRun, CheckSuite

if TYPE_CHECKING:
    from tests.fakes.github_server import Backend

# a suite (or workflow run) concludes with the highest of its runs' conclusions
PRECEDENCE = ["action_required", "cancelled", "timed_out", "failure", "neutral", "success",
              "skipped", "stale"]


def overall(conclusions: list[str | None]) -> str | None:
    known = [c for c in conclusions if c in PRECEDENCE]
    if not known:
        return None
    return min(known, key=PRECEDENCE.index)


def branch_of(repo: Repo, sha: str) -> str | None:
    """The branch a commit was pushed to: one whose head it is, the default branch first."""
    names = [repo.default_branch, *sorted(r[11:] for r in repo.refs if r.startswith("refs/heads/"))]
    return next((n for n in names if repo.head(n) == sha), None)


def new_suite(state: State, repo: Repo, head_sha: str, head_branch: str | None,
              app_slug: str) -> CheckSuite:
    stamp = now_iso()
    parents = state.store.commits[head_sha].parents
    suite = CheckSuite(state.new_id(), repo.full_name, head_sha, head_branch, app_slug,
                       "queued", None, parents[0] if parents else None, stamp, stamp)
    state.ci.check_suites[suite.id] = suite
    return suite


def suite_for(state: State, repo: Repo, head_sha: str, head_branch: str | None,
              app_slug: str) -> CheckSuite:
    """The app's suite for the commit, created on first use (not for Actions: see above)."""
    for suite in state.ci.suites_for(repo.full_name, head_sha):
        if suite.app_slug == app_slug and suite.id not in _actions_suites(state):
            return suite
    return new_suite(state, repo, head_sha, head_branch, app_slug)


def _actions_suites(state: State) -> set[int]:
    return {run.suite_id for run in state.ci.workflow_runs.values()}


def refresh_suite(state: State, suite: CheckSuite) -> None:
    runs = [state.ci.check_runs[i] for i in suite.run_ids]
    statuses = {r.status for r in runs}
    if runs and statuses == {"completed"}:
        suite.status, suite.conclusion = "completed", overall([r.conclusion for r in runs])
    else:
        suite.status = "in_progress" if statuses - {"queued"} else "queued"
        suite.conclusion = None
    suite.updated_at = now_iso()


def new_check_run(state: State, repo: Repo, suite: CheckSuite, name: str, *, status: str,
                  conclusion: str | None, started_at: str | None, completed_at: str | None,
                  output: dict[str, Any] | None, annotations: list[dict[str, Any]],
                  details_url: str | None, run_id: int | None = None) -> CheckRun:
    """A check run in ``suite``; ``run_id`` given, it is the job of that id (Actions)."""
    if status == "completed" and conclusion is None:
        raise ValueError("a completed check run needs a conclusion")
    if status != "completed":
        conclusion, completed_at = None, None
    started = started_at or (now_iso() if status != "queued" else None)
    ident = run_id if run_id is not None else state.new_id()
    check = CheckRun(
        ident, repo.full_name, suite.id, suite.head_sha, name, status, conclusion, started,
        completed_at or (now_iso() if status == "completed" else None), suite.app_slug,
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"check-run/{ident}")), details_url,
        {"title": None, "summary": None, "text": None, **(output or {})},
        [Annotation(**{"end_line": a.get("start_line"), **a}) for a in annotations])
    state.ci.check_runs[check.id] = check
    suite.run_ids.append(check.id)
    refresh_suite(state, suite)
    return check


# -- routes ----------------------------------------------------------------------------------
def _sha_or_422(state: State, repo: Repo, ref: str) -> str:
    sha = resolve_commit(state, repo, ref)
    if sha is None:
        raise HttpError(422, error(f"No commit found for SHA: {ref}", 422))
    return sha


def _filtered_runs(b: Backend, call: Call, runs: list[CheckRun]) -> list[CheckRun]:
    name, status = call.query.get("check_name"), call.query.get("status")
    app_id = call.query.get("app_id")
    if call.query.get("filter", "latest") == "latest":  # the newest run of a name per suite
        newest: dict[tuple[int, str], CheckRun] = {}
        for run in runs:
            key = (run.suite_id, run.name)
            if key not in newest or run.id > newest[key].id:
                newest[key] = run
        runs = list(newest.values())
    return sorted((r for r in runs if (name is None or r.name == name)
                   and (status is None or r.status == status)
                   and (app_id is None or str(shapes.app_id_of(b.state, r.app_slug, b.app))
                        == app_id)), key=lambda r: r.id, reverse=True)


def _runs_reply(b: Backend, call: Call, repo: Repo, runs: list[CheckRun]) -> Reply:
    page = paginate(call, runs, lambda r: shapes.check_run(call.base_url, b.state, repo, r,
                                                           b.app))
    return Reply(200, {"total_count": len(runs), "check_runs": page.body}, page.headers)


def list_runs_for_ref(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    sha = _sha_or_422(b.state, repo, call.params["ref"])
    runs = _filtered_runs(b, call, b.state.ci.runs_for(repo.full_name, sha))
    return _runs_reply(b, call, repo, runs)


def list_suites_for_ref(b: Backend, call: Call) -> Reply:
    repo = repo_or_404(b.state, call)
    sha = _sha_or_422(b.state, repo, call.params["ref"])
    app_id, name = call.query.get("app_id"), call.query.get("check_name")
    suites = [s for s in b.state.ci.suites_for(repo.full_name, sha)
              if (app_id is None or str(shapes.app_id_of(b.state, s.app_slug, b.app)) == app_id)
              and (name is None or any(b.state.ci.check_runs[i].name == name
                                       for i in s.run_ids))]
    page = paginate(call, suites, lambda s: shapes.check_suite(call.base_url, b.state, repo, s,
                                                               b.app))
    return Reply(200, {"total_count": len(suites), "check_suites": page.body}, page.headers)


def int_param(call: Call, name: str) -> int:
    """A numeric path parameter; anything else names nothing, so 404."""
    try:
        return int(call.params[name])
    except ValueError:
        raise not_found() from None


def _run_or_404(b: Backend, call: Call) -> tuple[Repo, CheckRun]:
    repo = repo_or_404(b.state, call)
    run = b.state.ci.check_runs.get(int_param(call, "check_run_id"))
    if run is None or run.repo.lower() != repo.full_name.lower():
        raise not_found()
    return repo, run


def _suite_or_404(b: Backend, call: Call) -> tuple[Repo, CheckSuite]:
    repo = repo_or_404(b.state, call)
    suite = b.state.ci.check_suites.get(int_param(call, "check_suite_id"))
    if suite is None or suite.repo.lower() != repo.full_name.lower():
        raise not_found()
    return repo, suite


def get_run(b: Backend, call: Call) -> Reply:
    repo, run = _run_or_404(b, call)
    return Reply(200, shapes.check_run(call.base_url, b.state, repo, run, b.app))


def list_annotations(b: Backend, call: Call) -> Reply:
    repo, run = _run_or_404(b, call)
    return paginate(call, run.annotations, lambda a: shapes.annotation(repo, run.head_sha, a))


def get_suite(b: Backend, call: Call) -> Reply:
    repo, suite = _suite_or_404(b, call)
    return Reply(200, shapes.check_suite(call.base_url, b.state, repo, suite, b.app))


def list_runs_for_suite(b: Backend, call: Call) -> Reply:
    repo, suite = _suite_or_404(b, call)
    runs = _filtered_runs(b, call, [b.state.ci.check_runs[i] for i in suite.run_ids])
    return _runs_reply(b, call, repo, runs)


def register(routes: Routes) -> None:
    base = "/repos/{owner}/{repo}"
    routes.add("GET", base + "/commits/{ref*}/check-runs", list_runs_for_ref)
    routes.add("GET", base + "/commits/{ref*}/check-suites", list_suites_for_ref)
    routes.add("GET", base + "/check-runs/{check_run_id}", get_run)
    routes.add("GET", base + "/check-runs/{check_run_id}/annotations", list_annotations)
    routes.add("GET", base + "/check-suites/{check_suite_id}", get_suite)
    routes.add("GET", base + "/check-suites/{check_suite_id}/check-runs", list_runs_for_suite)
