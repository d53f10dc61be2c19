"""The fake GitHub's commits, comparisons and single reviews, driven over HTTP.

Comparisons are computed from the fake's git store as GitHub computes them (``BASE...HEAD``:
ahead/behind counts, commits HEAD has that BASE lacks, files since the merge base), so a
force-push shows as "diverged". Lists paginate with Link headers where GitHub paginates; the
errors are GitHub's (404 for an unknown comparison, 422 for an unknown commit). githubkit's
typed client parses every body, and every request and response is checked against GitHub's
OpenAPI description.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from githubkit import GitHub
from githubkit.exception import RequestFailed

from tests import direct
from tests.direct import require_description, run, status_of
from tests.fakes.github import ACTION_TOKEN, FakeGitHub

REPO = "acme/widgets"
OWNER, NAME = REPO.split("/")
R = (OWNER, NAME)
AGENT = "fakes-commits-tests"
TRAILER = "Model-Routing-Bot: implement"


@pytest.fixture(autouse=True)
def _description(github: FakeGitHub) -> None:
    require_description(github)


def client(github: FakeGitHub) -> GitHub[Any]:
    return direct.client(github, AGENT)




@pytest.fixture
def repo(github: FakeGitHub) -> str:
    github.create_repo(REPO, {"src/app.py": "a = 1\n", "README.md": "# widgets\n"})
    return REPO


def test_compare_ahead_behind_identical_and_diverged_after_a_force_push(
        github: FakeGitHub, repo: str) -> None:
    main = github.state.repo(REPO).head("main")
    github.commit(REPO, "feature", {"src/app.py": "a = 2\n"}, message="Two")
    old_head = github.commit(REPO, "feature", {"src/new.py": "b = 1\n"},
                             message=f"Add new\n\n{TRAILER}")
    gh = client(github)

    ahead = run(gh.rest.repos.async_compare_commits(*R, "main...feature"))
    body = ahead.parsed_data
    assert (body.status, body.ahead_by, body.behind_by, body.total_commits) == (
        "ahead", 2, 0, 2)
    assert body.base_commit.sha == body.merge_base_commit.sha == main
    assert [c.commit.message.splitlines()[0] for c in body.commits] == ["Two", "Add new"]
    assert body.commits[-1].commit.message.endswith(TRAILER)
    assert body.commits[0].author.login == "octocat"
    assert {f.filename: f.status for f in body.files} == {"src/app.py": "modified",
                                                          "src/new.py": "added"}
    assert "+a = 2" in next(f.patch for f in body.files if f.filename == "src/app.py")

    same = run(gh.rest.repos.async_compare_commits(*R, "main...main"))
    assert (same.parsed_data.status, same.parsed_data.files) == ("identical", [])
    behind = run(gh.rest.repos.async_compare_commits(*R, "feature...main"))
    assert (behind.parsed_data.status, behind.parsed_data.behind_by) == ("behind", 2)

    # a force-push: feature is rebuilt from main, its old commits are gone from the branch
    new_head = github.commit(REPO, "feature", {"src/app.py": "a = 3\n"}, message="Redo",
                             parent=main)
    diverged = run(gh.rest.repos.async_compare_commits(
        *R, f"{old_head}...{new_head}")).parsed_data
    assert (diverged.status, diverged.ahead_by, diverged.behind_by) == ("diverged", 1, 2)
    assert diverged.merge_base_commit.sha == main
    assert [c.sha for c in diverged.commits] == [new_head]
    assert not github.violations


def test_compare_pages_commits_and_lists_files_on_the_first_page_only(
        github: FakeGitHub, repo: str) -> None:
    for i in range(40):
        github.commit(REPO, "long", {f"notes/{i:02}.md": f"note {i}\n"}, message=f"Note {i}")
    gh = client(github)
    whole = run(gh.rest.repos.async_compare_commits(*R, "main...long"))
    assert len(whole.parsed_data.commits) == 40 and "link" not in whole.headers
    assert whole.parsed_data.commits[-1].commit.message == "Note 39"  # chronological
    first = run(gh.rest.repos.async_compare_commits(*R, "main...long",
                                                                   per_page=15))
    assert [c.commit.message for c in first.parsed_data.commits][:2] == ["Note 0", "Note 1"]
    assert len(first.parsed_data.files) == 40 and 'rel="next"' in first.headers["link"]
    last = run(gh.rest.repos.async_compare_commits(*R, "main...long",
                                                                  per_page=15, page=3))
    assert len(last.parsed_data.commits) == 10 and last.json().get("files") is None
    assert 'rel="prev"' in last.headers["link"] and 'rel="next"' not in last.headers["link"]
    assert not github.violations


def test_compare_404s_for_unknown_refs_and_unrelated_histories(
        github: FakeGitHub, repo: str) -> None:
    github.commit(REPO, "orphan", {"other.txt": "x\n"}, message="Root", parent=None)
    gh = client(github)
    assert status_of(gh.rest.repos.async_compare_commits(
        *R, "main...no-such-branch")) == 404
    assert status_of(gh.rest.repos.async_compare_commits(*R, "main")) == 404
    with pytest.raises(RequestFailed) as caught:
        run(gh.rest.repos.async_compare_commits(*R, "main...orphan"))
    assert caught.value.response.status_code == 404
    assert caught.value.response.json()["message"] == \
        "No common ancestor between main and orphan."
    assert not github.violations


def test_compare_across_a_fork_in_the_network(github: FakeGitHub, repo: str) -> None:
    github.create_repo("bob/widgets", fork_of=REPO)
    pull = github.open_pull(REPO, "fix", {"README.md": "# Widgets\n"}, user="bob",
                            head_repo="bob/widgets")
    gh = client(github)
    body = run(gh.rest.repos.async_compare_commits(
        *R, "acme:main...bob:fix")).parsed_data
    assert body.status == "ahead" and [f.filename for f in body.files] == ["README.md"]
    assert body.commits[0].sha == github.state.repo("bob/widgets").head(pull.head_ref)
    assert not github.violations


def test_a_commit_with_its_files_paginated_past_300(github: FakeGitHub, repo: str) -> None:
    sha = github.commit(REPO, "big", {f"gen/{i:03}.txt": f"{i}\n" for i in range(350)},
                        message=f"Generate\n\n{TRAILER}")
    gh = client(github)
    first = run(gh.rest.repos.async_get_commit(*R, sha))
    assert len(first.parsed_data.files) == 300 and 'rel="next"' in first.headers["link"]
    assert first.parsed_data.stats.additions == 350
    assert first.parsed_data.commit.message.endswith(TRAILER)
    second = run(gh.rest.repos.async_get_commit(*R, sha, page=2))
    assert next(f.filename for f in second.parsed_data.files) == "gen/300.txt"
    assert len(second.parsed_data.files) == 50
    by_branch = run(gh.rest.repos.async_get_commit(*R, "heads/big")).parsed_data
    assert by_branch.sha == sha and by_branch.parents[0].sha == github.state.repo(
        REPO).head("main")
    root = run(gh.rest.repos.async_get_commit(*R, github.state.repo(REPO).head("main")))
    assert {f.status for f in root.parsed_data.files} == {"added"}
    with httpx.Client(base_url=github.url, headers={
            "Authorization": f"token {ACTION_TOKEN}", "User-Agent": AGENT,
            "Accept": "application/vnd.github.sha"}) as http:
        assert http.get(f"/repos/{REPO}/commits/big").text == sha
    assert status_of(gh.rest.repos.async_get_commit(*R, "no-such-ref")) == 422
    assert not github.violations


def test_pull_request_commits_paginate(github: FakeGitHub, repo: str) -> None:
    pull = github.open_pull(REPO, "feature", {"src/app.py": "a = 0\n"}, user="alice")
    for i in range(34):
        github.commit(REPO, "feature", {"src/app.py": f"a = {i + 2}\n"}, message=f"Step {i}",
                      author="model-routing-bot[bot]")
    gh = client(github)
    first = run(gh.rest.pulls.async_list_commits(*R, pull.number))
    assert len(first.parsed_data) == 30 and 'rel="next"' in first.headers["link"]
    assert first.parsed_data[0].author.login == "alice"
    pages: Any = gh.rest.paginate(gh.rest.pulls.async_list_commits, owner=OWNER, repo=NAME,
                                  pull_number=pull.number, per_page=10)

    async def every() -> list[Any]:
        return [c async for c in pages]

    commits = run(every())
    assert len(commits) == 35 and commits[-1].commit.message == "Step 33"
    assert commits[-1].author.login == "model-routing-bot[bot]"
    assert commits[-1].author.type == "Bot"
    assert status_of(gh.rest.pulls.async_list_commits(*R, 999)) == 404
    assert not github.violations


def test_a_review_is_read_and_its_body_updated(github: FakeGitHub, repo: str) -> None:
    pull = github.open_pull(REPO, "feature", {"src/app.py": "a = 2\n"}, user="alice")
    other = github.open_pull(REPO, "other", {"README.md": "# W\n"}, user="alice")
    gh = client(github)
    made = run(gh.rest.pulls.async_create_review(*R, pull.number, event="COMMENT",
                                                 body="First pass")).parsed_data
    got = run(gh.rest.pulls.async_get_review(*R, pull.number, made.id)).parsed_data
    assert (got.id, got.body, got.state) == (made.id, "First pass", "COMMENTED")
    updated = run(gh.rest.pulls.async_update_review(*R, pull.number, made.id,
                                                    body="Second pass")).parsed_data
    assert (updated.id, updated.body, updated.state) == (made.id, "Second pass", "COMMENTED")
    assert github.reviews(REPO, pull.number)[0].body == "Second pass"
    assert status_of(gh.rest.pulls.async_get_review(*R, pull.number, 999_999)) == 404
    assert status_of(gh.rest.pulls.async_update_review(*R, pull.number, 999_999,
                                                       body="x")) == 404
    assert status_of(gh.rest.pulls.async_get_review(*R, other.number, made.id)) == 404
    assert not github.violations

    # without a body GitHub refuses; the description requires one, so the fake records it
    with httpx.Client(base_url=github.url, headers={
            "Authorization": f"token {ACTION_TOKEN}", "User-Agent": AGENT}) as http:
        answer = http.put(f"/repos/{REPO}/pulls/{pull.number}/reviews/{made.id}", json={})
    assert answer.status_code == 422
    [violation] = github.violations
    assert violation.operation == "pulls/update-review" and "'body' is a required property" \
        in violation.problems[0]
    github.backend.stats.deliberate.append("PUT pulls/update-review without body -> 422")
    github.violations.clear()  # caught on purpose
