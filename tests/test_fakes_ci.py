"""The fake GitHub's CI world, driven over HTTP: Checks, Actions, job logs and CI webhooks.

Everything goes through githubkit's typed REST client (so githubkit's models accept each body)
or plain httpx, never through the bot, and the fake checks every request and response against
GitHub's OpenAPI description (a violation fails the test at teardown). What is shown is what
GitHub does: a workflow run brings its own check suite, each job *is* a check run, lists
paginate with Link headers, and a job's log is a 302 to a signed, expiring URL on another host
that must never see the API token.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from githubkit import GitHub
from githubkit.webhooks import parse_obj

from tests import direct
from tests.direct import require_description, run, status_of
from tests.fakes.fixtures import example, examples
from tests.fakes.github import ACTION_TOKEN, FakeGitHub
from tests.fakes.github_events import (
    MAPS,
    check_suite_completed,
    fit,
    pull_request_closed,
    pull_request_synchronize,
    workflow_run_completed,
)
from tests.fakes.github_state_ci import WorkflowRun

REPO = "acme/widgets"
OWNER, NAME = REPO.split("/")
R = (OWNER, NAME)
AGENT = "fakes-ci-tests"
STAMPED_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z ")


@pytest.fixture(autouse=True)
def _description(github: FakeGitHub) -> None:
    require_description(github)


def client(github: FakeGitHub) -> GitHub[Any]:
    return direct.client(github, AGENT)




@pytest.fixture
def pull(github: FakeGitHub) -> int:
    github.create_repo(REPO, {"src/app.py": "a = 1\n"})
    return github.open_pull(REPO, "feature", {"src/app.py": "a = 2\n"}, title="Bump a").number


def failing_run(github: FakeGitHub) -> WorkflowRun:
    return github.add_workflow_run(REPO, "feature", event="pull_request", jobs=[
        {"name": "lint"},
        {"name": "test", "conclusion": "failure",
         "log": "##[group]Run pytest\npytest -q\nFAILED tests/test_app.py::test_a - assert 2 == 1\n"
                "##[endgroup]\n##[error]Process completed with exit code 1.\n"},
    ])


# -- a workflow run, its check suite, its jobs as check runs -------------------------------------
def test_a_workflow_run_is_linked_to_its_suite_jobs_and_check_runs(
        github: FakeGitHub, pull: int) -> None:
    wf = failing_run(github)
    gh = client(github)
    got = run(gh.rest.actions.async_get_workflow_run(*R, wf.id)).parsed_data
    assert (got.conclusion, got.status, got.event) == ("failure", "completed", "pull_request")
    assert got.head_branch == "feature" and got.display_title == "Bump a"
    assert [p.number for p in got.pull_requests] == [pull]
    assert got.check_suite_id == wf.suite_id

    jobs = run(gh.rest.actions.async_list_jobs_for_workflow_run(*R, wf.id)).parsed_data
    assert jobs.total_count == 2
    lint, test = sorted(jobs.jobs, key=lambda j: j.name)
    assert (lint.conclusion, test.conclusion) == ("success", "failure")
    assert test.check_run_url.endswith(f"/check-runs/{test.id}")
    assert [s.conclusion for s in test.steps][2:] == ["failure", "success", "success"]
    assert run(gh.rest.actions.async_get_job_for_workflow_run(*R, test.id)).parsed_data.id \
        == test.id

    check = run(gh.rest.checks.async_get(*R, test.id)).parsed_data  # the same id
    assert check.app.slug == "github-actions" and check.name == "test"
    assert check.details_url == test.html_url and check.check_suite.id == wf.suite_id
    assert [p.number for p in check.pull_requests] == [pull]
    notes = run(gh.rest.checks.async_list_annotations(*R, test.id)).parsed_data
    assert [(n.path, n.annotation_level, n.message) for n in notes] == [
        (".github", "failure", "Process completed with exit code 1.")]

    suite = run(gh.rest.checks.async_get_suite(*R, wf.suite_id)).parsed_data
    assert (suite.conclusion, suite.latest_check_runs_count) == ("failure", 2)
    assert suite.app.slug == "github-actions" and suite.head_branch == "feature"
    in_suite = run(gh.rest.checks.async_list_for_suite(*R, wf.suite_id)).parsed_data
    assert {c.id for c in in_suite.check_runs} == {lint.id, test.id}
    assert not github.violations


def test_each_workflow_run_has_its_own_suite_and_other_apps_share_one(
        github: FakeGitHub, pull: int) -> None:
    head = github.state.repo(REPO).head("feature")
    first, second = failing_run(github), github.add_workflow_run(REPO, head, name="Docs")
    github.add_check_run(REPO, head, "coverage", app_slug="codecov", conclusion="neutral",
                         output={"title": "85%", "summary": "Coverage went down"})
    github.add_check_run(REPO, head, "patch", app_slug="codecov")
    gh = client(github)
    suites = run(gh.rest.checks.async_list_suites_for_ref(*R, head)).parsed_data
    assert suites.total_count == 3
    by_app = sorted((s.app.slug, s.conclusion, s.latest_check_runs_count)
                    for s in suites.check_suites)
    assert by_app == [("codecov", "neutral", 2), ("github-actions", "failure", 2),
                      ("github-actions", "success", 1)]
    assert {first.suite_id, second.suite_id} < {s.id for s in suites.check_suites}
    coverage = run(gh.rest.checks.async_list_for_ref(*R, "feature", check_name="coverage"))
    [only] = coverage.parsed_data.check_runs
    assert only.output.title == "85%" and only.html_url.endswith(f"/runs/{only.id}")
    assert not github.violations


def test_check_runs_paginate_and_filter_as_github_does(github: FakeGitHub, pull: int) -> None:
    head = github.state.repo(REPO).head("feature")
    for i in range(44):
        github.add_check_run(REPO, head, f"shard-{i:02}", app_slug="ci-farm")
    github.add_check_run(REPO, head, "shard-00", app_slug="ci-farm", conclusion="failure")
    github.add_check_run(REPO, head, "slow", app_slug="ci-farm", status="in_progress",
                         conclusion=None)
    gh = client(github)

    async def every(**query: Any) -> list[Any]:
        pages: Any = gh.rest.paginate(gh.rest.checks.async_list_for_ref,
                                      map_func=lambda r: r.parsed_data.check_runs,
                                      owner=OWNER, repo=NAME, ref=head, per_page=20, **query)
        return [c async for c in pages]

    latest = run(every())
    assert len(latest) == 45  # shard-00's re-run replaces the first one
    assert [c.conclusion for c in latest if c.name == "shard-00"] == ["failure"]
    assert len([r for r in github.requests if r.operation == "checks/list-for-ref"]) == 3
    assert len(run(every(filter_="all"))) == 46
    assert [c.name for c in run(every(status="in_progress"))] == ["slow"]
    first = run(gh.rest.checks.async_list_for_ref(*R, head, per_page=20))
    assert first.parsed_data.total_count == 45 and 'rel="next"' in first.headers["link"]
    assert not github.violations


def test_annotations_paginate(github: FakeGitHub, pull: int) -> None:
    notes = [{"path": "src/app.py", "start_line": i, "annotation_level": "warning",
              "message": f"line {i}"} for i in range(1, 121)]
    check = github.add_check_run(REPO, "feature", "lint", app_slug="linter",
                                 conclusion="neutral", annotations=notes)
    gh = client(github)
    page = run(gh.rest.checks.async_list_annotations(*R, check.id, per_page=50))
    assert len(page.parsed_data) == 50 and 'rel="last"' in page.headers["link"]
    every = run(_collect(gh.rest.paginate(gh.rest.checks.async_list_annotations, owner=OWNER,
                                          repo=NAME, check_run_id=check.id, per_page=50)))
    assert [a.start_line for a in every] == list(range(1, 121))
    assert every[0].blob_href.endswith(f"/blob/{check.head_sha}/src/app.py")
    assert not github.violations


async def _collect(pages: Any) -> list[Any]:
    return [item async for item in pages]


def test_unknown_ids_are_404_and_an_unknown_ref_is_422(github: FakeGitHub, pull: int) -> None:
    wf = failing_run(github)
    gh = client(github)
    assert status_of(gh.rest.checks.async_get(*R, 999_999)) == 404
    assert status_of(gh.rest.checks.async_get_suite(*R, 999_999)) == 404
    assert status_of(gh.rest.actions.async_get_workflow_run(*R, 999_999)) == 404
    assert status_of(gh.rest.actions.async_get_job_for_workflow_run(*R, 999_999)) == 404
    assert status_of(gh.rest.checks.async_list_for_ref(*R, "no-such-branch")) == 422
    github.create_repo("acme/other")
    assert status_of(gh.rest.checks.async_get("acme", "other", wf.job_ids[0])) == 404
    assert not github.violations


def test_workflow_runs_list_newest_first_with_githubs_filters(
        github: FakeGitHub, pull: int) -> None:
    main = github.state.repo(REPO).head("main")
    older = github.add_workflow_run(REPO, "main")
    failed = failing_run(github)
    queued = github.add_workflow_run(REPO, "main", status="queued")
    gh = client(github)
    listed = run(gh.rest.actions.async_list_workflow_runs_for_repo(*R)).parsed_data
    assert [r.id for r in listed.workflow_runs] == [queued.id, failed.id, older.id]
    assert [r.run_number for r in listed.workflow_runs] == [3, 2, 1]

    def ids(**query: Any) -> list[int]:
        found = run(gh.rest.actions.async_list_workflow_runs_for_repo(*R, **query))
        return [r.id for r in found.parsed_data.workflow_runs]

    assert ids(head_sha=main) == [queued.id, older.id]
    assert ids(branch="feature") == [failed.id]
    assert ids(status="failure") == [failed.id]
    assert ids(status="completed") == [failed.id, older.id]
    assert ids(status="queued") == [queued.id]
    assert ids(check_suite_id=older.suite_id) == [older.id]
    assert not github.violations


# -- job logs: a 302 to another host, signed and short-lived -------------------------------------
def test_job_logs_redirect_to_another_host_that_never_sees_the_token(
        github: FakeGitHub, pull: int) -> None:
    job = failing_run(github).job_ids[1]
    path = f"/repos/{REPO}/actions/jobs/{job}/logs"
    auth = {"Authorization": f"token {ACTION_TOKEN}", "User-Agent": AGENT}
    with httpx.Client(base_url=github.url, headers=auth) as http:
        answer = http.get(path)
    assert answer.status_code == 302 and answer.content == b""
    where = urlsplit(answer.headers["location"])
    assert (where.hostname, where.port) != (urlsplit(github.url).hostname,
                                            urlsplit(github.url).port)
    assert {"urlExpires", "urlSigningMethod", "urlSignature"} <= set(
        httpx.URL(answer.headers["location"]).params)

    # githubkit follows the redirect; httpx drops Authorization on the way to another origin
    gh = client(github)
    text = run(gh.rest.actions.async_download_job_logs_for_workflow_run(*R, job))
    log = text.content.decode("utf-8")
    assert log.startswith("\ufeff")
    lines = log.lstrip("\ufeff").splitlines()
    assert all(STAMPED_LINE.match(line) for line in lines)
    assert lines[2].endswith("FAILED tests/test_app.py::test_a - assert 2 == 1")
    # so does a plain httpx client that carries the token as a default header
    with httpx.Client(base_url=github.url, headers=auth, follow_redirects=True) as http:
        assert http.get(path).text == log
    api_side = [r for r in github.requests if r.operation ==
                "actions/download-job-logs-for-workflow-run"]
    assert len(api_side) == 3 and all("authorization" in r.headers for r in api_side)
    assert [r.status for r in github.log_host_requests] == [200, 200]
    assert not any("authorization" in r.headers for r in github.log_host_requests)

    # a client that copies the header across leaks the token, and the log host sees it
    with httpx.Client(headers=auth) as careless:
        careless.get(answer.headers["location"])
    assert github.log_host_requests[-1].headers["authorization"] == f"token {ACTION_TOKEN}"
    assert not github.violations


def test_the_log_host_refuses_unsigned_tampered_and_expired_urls(
        github: FakeGitHub, pull: int) -> None:
    job = failing_run(github).job_ids[0]
    auth = {"Authorization": f"token {ACTION_TOKEN}", "User-Agent": AGENT}
    path = f"/repos/{REPO}/actions/jobs/{job}/logs"
    with httpx.Client(base_url=github.url, headers=auth) as http:
        signed = httpx.URL(http.get(path).headers["location"])
        github.logs.lifetime = timedelta(seconds=-1)  # every new link is already stale
        expired = httpx.URL(http.get(path).headers["location"])
    with httpx.Client() as outside:
        assert outside.get(signed).status_code == 200
        assert outside.get(signed.copy_with(query=None)).status_code == 403
        forged = signed.copy_set_param("urlSignature", "AAAA" + signed.params["urlSignature"])
        assert outside.get(forged).status_code == 403
        other_job = str(signed).replace(f"/signedlogcontent/{job}", "/signedlogcontent/1")
        assert outside.get(other_job).status_code == 403
        assert outside.get(expired).status_code == 403
    assert [r.status for r in github.log_host_requests] == [200, 403, 403, 403, 403]
    assert not github.violations


def test_a_job_without_a_log_has_no_redirect(github: FakeGitHub, pull: int) -> None:
    queued = github.add_workflow_run(REPO, "feature", status="queued")
    gh = client(github)
    job = run(gh.rest.actions.async_get_job_for_workflow_run(*R, queued.job_ids[0])).parsed_data
    assert (job.status, job.conclusion, job.completed_at) == ("queued", None, None)
    assert status_of(gh.rest.actions.async_download_job_logs_for_workflow_run(
        *R, queued.job_ids[0])) == 404
    assert not github.log_host_requests and not github.violations


# -- webhook payloads that agree with the fake -------------------------------------------------
def _same_keys(payload: Any, real: Any) -> None:
    """The payload has the real example's shape: the same keys at every level of objects
    (a map such as an app's permissions is the fake's, whole)."""
    if isinstance(real, dict):
        assert isinstance(payload, dict) and set(payload) == set(real)
        for key, value in real.items():
            if key in MAPS:
                continue
            if isinstance(value, dict) and isinstance(payload[key], dict):
                _same_keys(payload[key], value)


def test_check_suite_and_workflow_run_events_describe_the_fakes_run(
        github: FakeGitHub, pull: int) -> None:
    wf = failing_run(github)
    gh = client(github)
    body = check_suite_completed(github, wf, installation_id=github.app.installation_id)
    suite = run(gh.rest.checks.async_get_suite(*R, wf.suite_id)).json()
    assert body["action"] == "completed" and body["installation"]["id"] == 7331
    assert body["repository"]["full_name"] == REPO and body["repository"]["id"] == suite[
        "repository"]["id"]
    for key in ("id", "head_sha", "head_branch", "conclusion", "pull_requests", "head_commit"):
        assert body["check_suite"][key] == suite[key], key
    for key in ("id", "slug", "name", "permissions"):
        assert body["check_suite"]["app"][key] == suite["app"][key], key
    real = next(p for p in examples("check_suite") if p["action"] == "completed"
                and p["check_suite"]["app"].get("slug") == "github-actions")
    _same_keys({k: v for k, v in body.items() if k != "installation"}, real)
    assert parse_obj("check_suite", body).check_suite.id == wf.suite_id  # githubkit's model

    body = workflow_run_completed(github, wf)
    fresh = run(gh.rest.actions.async_get_workflow_run(*R, wf.id)).json()
    for key in ("id", "head_sha", "head_branch", "conclusion", "check_suite_id", "jobs_url",
                "pull_requests", "run_number"):
        assert body["workflow_run"][key] == fresh[key], key
    assert body["workflow"]["id"] == wf.workflow_id and body["sender"]["login"] == "octocat"
    assert body["workflow_run"]["pull_requests"][0]["number"] == pull
    assert "installation" not in body
    assert parse_obj("workflow_run", body).workflow_run.id == wf.id
    with pytest.raises(ValueError, match="not completed"):
        workflow_run_completed(github, github.add_workflow_run(REPO, "main", status="queued"))
    assert not github.violations


def test_pull_request_closed_and_synchronize_events_follow_the_fake(
        github: FakeGitHub, pull: int) -> None:
    before = github.state.repo(REPO).head("feature")
    after = github.commit(REPO, "feature", {"src/app.py": "a = 3\n"}, message="Bump again")
    body = pull_request_synchronize(github, REPO, pull, before)
    assert (body["before"], body["after"]) == (before, after)
    assert body["pull_request"]["head"]["sha"] == after and body["number"] == pull
    real = example("pull_request", "synchronize")
    del real["installation"]  # the test asked for no installation: the Action's token
    _same_keys(body, real)
    assert parse_obj("pull_request", body).action == "synchronize"

    with pytest.raises(ValueError, match="open"):
        pull_request_closed(github, REPO, pull)
    main_before = github.state.repo(REPO).head("main")
    github.close_pull(REPO, pull, merged=True, by="alice")
    body = pull_request_closed(github, REPO, pull)
    merge = github.state.repo(REPO).head("main")
    assert body["pull_request"]["merged"] is True and body["sender"]["login"] == "alice"
    assert body["pull_request"]["merge_commit_sha"] == merge != main_before
    assert github.state.store.commits[merge].parents == (main_before, after)
    assert github.files(REPO, "main")["src/app.py"] == b"a = 3\n"
    assert parse_obj("pull_request", body).pull_request.merged is True

    other = github.open_pull(REPO, "other", {"README.md": "x\n"}).number
    github.close_pull(REPO, other)
    body = pull_request_closed(github, REPO, other)
    assert body["pull_request"]["merged"] is False and body["pull_request"]["state"] == "closed"
    gh = client(github)
    fresh = run(gh.rest.pulls.async_get(*R, other)).json()
    assert (fresh["merged"], fresh["merge_commit_sha"], fresh["merged_by"]) == (False, None, None)
    merged = run(gh.rest.pulls.async_get(*R, pull)).parsed_data
    assert merged.merged and merged.merged_by.login == "alice"
    assert not github.violations


def test_fit_keeps_the_examples_keys_and_takes_the_fakes_values() -> None:
    assert fit({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 9, "b": {"c": 8, "x": 7}, "y": 6}) == \
        {"a": 9, "b": {"c": 8, "d": 3}}
