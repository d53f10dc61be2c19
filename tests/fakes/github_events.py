"""Webhook payloads that agree with the fake's world, built from GitHub's real examples.

Each builder starts from a real delivery in @octokit/webhooks-examples and keeps its shape (the
same keys, at every level), taking the *values* that must match the fake from the fake's own
REST bodies: the repository, the sender, the check suite or workflow run or pull request with
its ids, SHAs, branch, conclusion and ``pull_requests``, and the installation. Every other
field stays what GitHub sent. A builder refuses an event the world contradicts (a
``check_suite.completed`` for a suite that is still running, a ``pull_request.closed`` for an
open pull request), so a test cannot tell the bot something GitHub never would.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from tests.fakes import github_shapes as shapes
from tests.fakes.fixtures import examples
from tests.fakes.github_shapes_actions import workflow_run as run_body
from tests.fakes.github_shapes_checks import check_suite as suite_body
from tests.fakes.github_state_ci import ACTIONS_SLUG, CheckSuite, WorkflowRun

Json = dict[str, Any]
INSTALLATION_NODE = "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="
MAPS = {"permissions"}  # objects that are maps, not shapes: taken whole from the fake


def fit(example: Any, value: Any) -> Any:
    """``value`` in the example's shape: objects keep the example's keys (taking the fake's
    value for each key the fake has), anything else is the fake's value."""
    if isinstance(example, dict) and isinstance(value, dict):
        return {k: (copy.deepcopy(value[k]) if k in MAPS else fit(v, value[k]))
                if k in value else v for k, v in example.items()}
    return copy.deepcopy(value)


def _example(event: str, action: str, prefer: Callable[[Json], bool] = lambda _: True) -> Json:
    found = [p for p in examples(event) if p.get("action") == action]
    if not found:
        raise LookupError(f"no {event}.{action} example in @octokit/webhooks-examples")
    return next((p for p in found if prefer(p)), found[0])


def _frame(github: Any, body: Json, full_name: str, sender: str,
           installation_id: int | None) -> Json:
    """Repository, sender, organization and installation as the fake knows them."""
    api, state = github.url, github.state
    repo = state.repo(full_name)
    body["repository"] = fit(body["repository"], shapes.repository(api, state, repo))
    body["sender"] = fit(body["sender"], shapes.user(api, state.user(sender)))
    if "organization" in body:
        if repo.owner.type == "Organization":
            body["organization"] = fit(body["organization"], shapes.user(api, repo.owner))
        else:
            del body["organization"]
    body.pop("installation", None)
    if installation_id is not None:
        body["installation"] = {"id": installation_id, "node_id": INSTALLATION_NODE}
    return body


def check_suite_completed(github: Any, suite: CheckSuite | WorkflowRun, *,
                          sender: str = "octocat", installation_id: int | None = None) -> Json:
    """``check_suite.completed`` for a suite (or a workflow run's suite) of the fake."""
    with github.state.lock:
        if isinstance(suite, WorkflowRun):
            suite = github.state.ci.check_suites[suite.suite_id]
        if suite.status != "completed":
            raise ValueError(f"check suite {suite.id} is {suite.status}, not completed")
        repo = github.state.repo(suite.repo)
        body = _example("check_suite", "completed",
                        lambda p: (p["check_suite"]["app"].get("slug") == ACTIONS_SLUG)
                        == (suite.app_slug == ACTIONS_SLUG))
        fresh = suite_body(github.url, github.state, repo, suite, github.app)
        body["check_suite"] = fit(body["check_suite"], fresh)
        return _frame(github, body, repo.full_name, sender, installation_id)


def workflow_run_completed(github: Any, run: WorkflowRun, *, sender: str | None = None,
                           installation_id: int | None = None) -> Json:
    """``workflow_run.completed`` for a finished workflow run of the fake."""
    with github.state.lock:
        if run.status != "completed":
            raise ValueError(f"workflow run {run.id} is {run.status}, not completed")
        repo = github.state.repo(run.repo)
        fresh = run_body(github.url, github.state, repo, run)
        body = _example("workflow_run", "completed",
                        lambda p: bool(p["workflow_run"]["pull_requests"])
                        == bool(fresh["pull_requests"]))
        body["workflow_run"] = fit(body["workflow_run"], fresh)
        html = f"{shapes.WEB}/{repo.full_name}"
        body["workflow"] = fit(body["workflow"], {
            "id": run.workflow_id, "node_id": shapes.node_id("W", run.workflow_id),
            "name": run.name, "path": run.path, "state": "active",
            "url": f"{github.url}/repos/{repo.full_name}/actions/workflows/{run.workflow_id}",
            "html_url": f"{html}/blob/{repo.default_branch}/{run.path}",
            "badge_url": f"{html}/workflows/{run.name.replace(' ', '%20')}/badge.svg"})
        return _frame(github, body, repo.full_name, sender or run.actor, installation_id)


def _pull_event(github: Any, action: str, full_name: str, number: int, sender: str | None,
                installation_id: int | None) -> Json:
    repo = github.state.repo(full_name)
    pull = repo.pulls[number]
    fresh = shapes.pull_request(github.url, github.state, repo, pull)
    body = _example("pull_request", action)
    body["number"] = number
    body["pull_request"] = fit(body["pull_request"], fresh)
    who = sender or pull.merged_by or repo.issues[number].user.login
    return _frame(github, body, repo.full_name, who, installation_id)


def pull_request_closed(github: Any, full_name: str, number: int, *, sender: str | None = None,
                        installation_id: int | None = None) -> Json:
    """``pull_request.closed``: ``merged`` true or false as the fake closed it
    (``FakeGitHub.close_pull``)."""
    with github.state.lock:
        if github.state.repo(full_name).issues[number].state != "closed":
            raise ValueError(f"pull request #{number} is open: close it first (close_pull)")
        return _pull_event(github, "closed", full_name, number, sender, installation_id)


def pull_request_synchronize(github: Any, full_name: str, number: int, before: str, *,
                             sender: str | None = None,
                             installation_id: int | None = None) -> Json:
    """``pull_request.synchronize`` after the head branch moved from ``before`` (push new
    commits with ``FakeGitHub.commit`` first); ``after`` is the pull request's head now."""
    with github.state.lock:
        repo = github.state.repo(full_name)
        _, head = github.state.pull_shas(repo, repo.pulls[number])
        if head == before:
            raise ValueError(f"pull request #{number} is still at {before}: push first")
        body = _pull_event(github, "synchronize", full_name, number, sender, installation_id)
        body["before"], body["after"] = before, head
        return body
