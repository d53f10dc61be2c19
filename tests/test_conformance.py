"""The fake GitHub speaks GitHub's REST API as GitHub's official OpenAPI description defines it.

Every request the fake receives and every response it gives is checked against the description
(tests/fakes/openapi.py); these tests show that the check bites (a wrong request gets 422 and
is recorded), drive each of the fake's operations once through githubkit's typed REST API so
both the description's response schema and githubkit's strict models accept the answer, and
check pagination and the error statuses GitHub gives. Webhook payloads: test_webhook_examples.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from githubkit import AppAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.exception import RequestFailed

from bot.github.clients import GitHubClients
from bot.github.rest import paginate
from bot.settings import Settings
from tests.conftest import FAST_RETRY
from tests.fakes.fixtures import openapi_path, require
from tests.fakes.github import FakeGitHub

REPO = "acme/widgets"
OWNER, NAME = REPO.split("/")
TEST_AGENT = "conformance-tests"


@pytest.fixture(autouse=True)
def _description(github: FakeGitHub) -> None:
    """Without the description nothing is checked: fail, with how to fetch it."""
    if github.backend.openapi is None:
        require(openapi_path(), "GitHub's OpenAPI description")


@dataclass
class World:
    issue: int
    comment: int
    pull: int
    fork_pull: int
    blob: str
    tree: str
    commit: str


@pytest.fixture
def world(github: FakeGitHub) -> World:
    github.create_repo(REPO, {"README.md": "# widgets\n", "src/app.py": "a = 1\nb = 2\n"},
                       roles={"alice": "write"})
    issue = github.add_issue(REPO, "Export widgets", "as CSV", labels=["design"])
    comment = github.add_comment(REPO, issue.number, "first", user="alice")
    pull = github.open_pull(REPO, "feature", {"src/app.py": "a = 1\nb = 3\nc = 4\n"})
    github.create_repo("bob/widgets", fork_of=REPO)  # a fork: repository bodies gain parent
    fork_pull = github.open_pull(REPO, "fix", {"README.md": "# Widgets\n"}, user="bob",
                                 head_repo="bob/widgets")
    sha = github.state.repos[REPO].refs["refs/heads/main"]
    commit = github.state.store.commits[sha]
    blob = github.state.store.lookup(commit.tree, "README.md").sha
    return World(issue.number, comment.id, pull.number, fork_pull.number, blob, commit.tree, sha)


def token_client(settings: Settings) -> GitHub[Any]:
    """A client of the tests' own: its user agent keeps these calls out of the summary's
    "operations used by the bot"."""
    return GitHub(TokenAuthStrategy(str(settings.github_token)), base_url=settings.api_url + "/",
                  user_agent=TEST_AGENT, http_cache=False, auto_retry=False)


def app_client(settings: Settings) -> GitHub[Any]:
    strategy = AppAuthStrategy(str(settings.app_id), str(settings.private_key))
    return GitHub(strategy, base_url=settings.api_url + "/", user_agent=TEST_AGENT,
                  http_cache=False, auto_retry=False)


def bot_client(settings: Settings) -> GitHub[Any]:
    return GitHubClients(settings, FAST_RETRY).token()


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


# -- (a) a request GitHub would refuse is refused ----------------------------------------------
WRONG = [
    pytest.param("POST", f"/repos/{REPO}/issues/1/comments", None, {"bodyy": 1},
                 "body: 'body' is a required property", id="misspelt-body-field"),
    pytest.param("GET", f"/repos/{REPO}/issues/1/comments", {"per_page": "many"}, None,
                 "query per_page: 'many' is not of type 'integer'", id="query-type"),
    pytest.param("GET", f"/repos/{REPO}/issues/1/comments", {"sort": "asc"}, None,
                 "query sort: not a parameter of issues/list-comments", id="unknown-query"),
    pytest.param("GET", f"/repos/{REPO}/no-such-thing", None, None,
                 "no such operation in GitHub's REST API", id="unknown-path"),
]


@pytest.mark.parametrize(("method", "path", "query", "body", "problem"), WRONG)
def test_a_request_the_description_forbids_gets_422_and_is_recorded(
        github: FakeGitHub, world: World, settings: Settings, method: str, path: str,
        query: dict[str, str] | None, body: Any, problem: str) -> None:
    gh = token_client(settings)
    with pytest.raises(RequestFailed) as caught:
        run(gh.arequest(method, path, params=query, json=body))
    answer = caught.value.response
    assert answer.status_code == 422
    messages = [e["message"] for e in answer.json()["errors"]]
    assert any(problem in m for m in messages), messages
    [violation] = github.violations
    assert violation.kind == "request" and any(problem in p for p in violation.problems)
    assert len(github.comments(REPO, world.issue)) == 1  # the handler never ran
    github.backend.stats.deliberate.append(f"{method} {path} -> 422: {messages[0]}")
    github.violations.clear()  # caught on purpose: teardown must not fail this test


# -- (b) each operation's answer fits its response schema and githubkit's models -----------------
Case = Callable[[GitHub[Any], World], Awaitable[Any]]
R = (OWNER, NAME)  # the repository's path parameters
TOKEN_CASES: dict[str, Case] = {
    "repos/get": lambda gh, w: gh.rest.repos.async_get(*R),
    "repos/get-content": lambda gh, w: gh.rest.repos.async_get_content(*R, "src/app.py"),
    "repos/get#fork": lambda gh, w: gh.rest.repos.async_get("bob", NAME),
    "repos/get-content#directory": lambda gh, w: gh.rest.repos.async_get_content(*R, "src"),
    "repos/get-readme": lambda gh, w: gh.rest.repos.async_get_readme(*R),
    "repos/get-collaborator-permission-level":
        lambda gh, w: gh.rest.repos.async_get_collaborator_permission_level(*R, "alice"),
    "issues/get": lambda gh, w: gh.rest.issues.async_get(*R, w.issue),
    "issues/create": lambda gh, w: gh.rest.issues.async_create(*R, title="New", body="b",
                                                               labels=["bug"]),
    "issues/get#pull": lambda gh, w: gh.rest.issues.async_get(*R, w.pull),
    "issues/update": lambda gh, w: gh.rest.issues.async_update(*R, w.issue, title="Renamed"),
    "issues/update#close": lambda gh, w: gh.rest.issues.async_update(
        *R, w.issue, state="closed", state_reason="not_planned", labels=["wontfix"]),
    "issues/list-comments": lambda gh, w: gh.rest.issues.async_list_comments(*R, w.issue),
    "issues/create-comment":
        lambda gh, w: gh.rest.issues.async_create_comment(*R, w.issue, body="hello"),
    "issues/get-comment": lambda gh, w: gh.rest.issues.async_get_comment(*R, w.comment),
    "issues/update-comment":
        lambda gh, w: gh.rest.issues.async_update_comment(*R, w.comment, body="edited"),
    "issues/delete-comment": lambda gh, w: gh.rest.issues.async_delete_comment(*R, w.comment),
    "issues/add-labels":
        lambda gh, w: gh.rest.issues.async_add_labels(*R, w.issue, labels=["spec-approved"]),
    "issues/set-labels": lambda gh, w: gh.rest.issues.async_set_labels(*R, w.issue,
                                                                       labels=["a", "b"]),
    "issues/list-labels-on-issue":
        lambda gh, w: gh.rest.issues.async_list_labels_on_issue(*R, w.issue),
    "issues/remove-label":
        lambda gh, w: gh.rest.issues.async_remove_label(*R, w.issue, "design"),
    "reactions/create-for-issue-comment":
        lambda gh, w: gh.rest.reactions.async_create_for_issue_comment(*R, w.comment,
                                                                       content="eyes"),
    "reactions/list-for-issue-comment":
        lambda gh, w: gh.rest.reactions.async_list_for_issue_comment(*R, w.comment),
    "pulls/list": lambda gh, w: gh.rest.pulls.async_list(*R, state="all"),
    "pulls/get": lambda gh, w: gh.rest.pulls.async_get(*R, w.pull),
    "pulls/create": lambda gh, w: _create_pull(gh, w),
    "pulls/get#fork": lambda gh, w: gh.rest.pulls.async_get(*R, w.fork_pull),
    "pulls/update": lambda gh, w: gh.rest.pulls.async_update(*R, w.pull, title="Retitled"),
    "pulls/update#close": lambda gh, w: gh.rest.pulls.async_update(*R, w.pull, state="closed"),
    "pulls/list-files": lambda gh, w: gh.rest.pulls.async_list_files(*R, w.pull),
    "pulls/create-review": lambda gh, w: gh.rest.pulls.async_create_review(
        *R, w.pull, event="COMMENT", body="looks fine",
        comments=[{"path": "src/app.py", "line": 2, "body": "why 3?"},
                  {"path": "src/app.py", "position": 4, "body": "and c?"}]),
    "pulls/list-reviews": lambda gh, w: gh.rest.pulls.async_list_reviews(*R, w.pull),
    "pulls/list-review-comments": lambda gh, w: _review_then(
        gh, w, gh.rest.pulls.async_list_review_comments(*R, w.pull)),
    "git/get-ref": lambda gh, w: gh.rest.git.async_get_ref(*R, "heads/main"),
    "git/list-matching-refs": lambda gh, w: gh.rest.git.async_list_matching_refs(*R, "heads/"),
    "git/create-ref": lambda gh, w: gh.rest.git.async_create_ref(
        *R, ref="refs/heads/model-routing/issue-1", sha=w.commit),
    "git/update-ref": lambda gh, w: gh.rest.git.async_update_ref(*R, "heads/main",
                                                                 sha=w.commit),
    "git/create-blob": lambda gh, w: gh.rest.git.async_create_blob(*R, content="aGk=",
                                                                   encoding="base64"),
    "git/get-blob": lambda gh, w: gh.rest.git.async_get_blob(*R, w.blob),
    "git/create-tree": lambda gh, w: gh.rest.git.async_create_tree(
        *R, base_tree=w.tree, tree=[{"path": "docs/new.md", "mode": "100644",
                                       "type": "blob", "content": "new\n"}]),
    "git/get-tree": lambda gh, w: gh.rest.git.async_get_tree(*R, w.tree, recursive="1"),
    "git/create-commit": lambda gh, w: gh.rest.git.async_create_commit(
        *R, message="change", tree=w.tree, parents=[w.commit]),
    "git/get-commit": lambda gh, w: gh.rest.git.async_get_commit(*R, w.commit),
    "rate-limit/get": lambda gh, w: gh.rest.rate_limit.async_get(),
}
APP_CASES: dict[str, Case] = {
    "apps/get-authenticated": lambda gh, w: gh.rest.apps.async_get_authenticated(),
    "apps/get-repo-installation": lambda gh, w: gh.rest.apps.async_get_repo_installation(*R),
    "apps/get-installation": lambda gh, w: gh.rest.apps.async_get_installation(7331),
    "apps/create-installation-access-token":
        lambda gh, w: gh.rest.apps.async_create_installation_access_token(7331),
}


async def _create_pull(gh: GitHub[Any], w: World) -> Any:
    await gh.rest.git.async_create_ref(*R, ref="refs/heads/other", sha=w.commit)
    tree = (await gh.rest.git.async_create_tree(
        *R, base_tree=w.tree, tree=[{"path": "x.txt", "mode": "100644", "type": "blob",
                                       "content": "x\n"}])).parsed_data
    commit = (await gh.rest.git.async_create_commit(*R, message="x", tree=tree.sha,
                                                    parents=[w.commit])).parsed_data
    await gh.rest.git.async_update_ref(*R, "heads/other", sha=commit.sha)
    return await gh.rest.pulls.async_create(*R, title="Other", head="other", base="main",
                                            body="Closes #1", draft=True)


async def _review_then(gh: GitHub[Any], w: World, then: Awaitable[Any]) -> Any:
    await TOKEN_CASES["pulls/create-review"](gh, w)
    return await then


def _check_operation(github: FakeGitHub, gh: GitHub[Any], world: World, case_id: str,
                     case: Case) -> None:
    operation = case_id.partition("#")[0]  # "#variant" drives the same operation again
    before = sum(n for k, n in github.backend.stats.responses.items()
                 if k.startswith(operation + " "))
    response = run(case(gh, world))
    if response is not None:
        assert response.status_code < 300
    if response is not None and response.status_code != 204:
        assert response.parsed_data is not None  # githubkit's strict models accept it
        after = sum(n for k, n in github.backend.stats.responses.items()
                    if k.startswith(operation + " "))
        assert after > before, f"no response schema of {operation} was checked"
    assert operation in {r.operation for r in github.requests}
    assert not github.violations, "\n".join(map(str, github.violations))


@pytest.mark.parametrize("operation", sorted(TOKEN_CASES))
def test_each_answer_fits_the_description_and_githubkit(
        github: FakeGitHub, world: World, settings: Settings, operation: str) -> None:
    _check_operation(github, token_client(settings), world, operation, TOKEN_CASES[operation])


@pytest.mark.parametrize("operation", sorted(APP_CASES))
def test_each_app_answer_fits_the_description_and_githubkit(
        github: FakeGitHub, world: World, app_settings: Settings, operation: str) -> None:
    _check_operation(github, app_client(app_settings), world, operation, APP_CASES[operation])


# -- (c) pagination and the errors GitHub gives ------------------------------------------------
def test_250_comments_come_back_through_link_headers(
        github: FakeGitHub, world: World, settings: Settings) -> None:
    for i in range(249):
        github.add_comment(REPO, world.issue, f"comment {i}")
    found = run(paginate(bot_client(settings), f"/repos/{REPO}/issues/{world.issue}/comments"))
    assert [c["body"] for c in found][:2] == ["first", "comment 0"] and len(found) == 250
    pages = [r for r in github.requests if r.operation == "issues/list-comments"]
    assert len(pages) == 3 and pages[-1].query["page"] == "3"

    async def typed() -> list[Any]:
        gh = token_client(settings)
        pages: Any = gh.rest.paginate(gh.rest.issues.async_list_comments, owner=OWNER, repo=NAME,
                                      issue_number=world.issue, per_page=100)
        return [c async for c in pages]

    assert len(run(typed())) == 250


def test_pull_request_files_stop_at_githubs_3000_cap(
        github: FakeGitHub, world: World, settings: Settings) -> None:
    pull = github.open_pull(REPO, "huge", {f"gen/f{i:04}.txt": f"{i}\n" for i in range(3100)})
    files = run(paginate(bot_client(settings), f"/repos/{REPO}/pulls/{pull.number}/files"))
    assert len(files) == 3000 and files[0]["filename"] == "gen/f0000.txt"
    assert sum(r.operation == "pulls/list-files" for r in github.requests) == 30
    gh = token_client(settings)
    detail = run(gh.rest.pulls.async_get(*R, pull.number)).parsed_data
    assert detail.changed_files == 3100  # the count is exact; only the list is capped


def _status_of(call: Awaitable[Any]) -> int:
    with pytest.raises(RequestFailed) as caught:
        run(call)
    return caught.value.response.status_code


def test_404_422_and_403_where_github_gives_them(
        github: FakeGitHub, world: World, settings: Settings) -> None:
    gh = token_client(settings)
    assert _status_of(gh.rest.issues.async_get(*R, 999)) == 404
    assert _status_of(gh.rest.repos.async_get(OWNER, "missing")) == 404
    assert _status_of(gh.rest.repos.async_get_content(*R, "nope.txt")) == 404
    assert _status_of(gh.rest.issues.async_create_comment(*R, world.issue, body="")) == 422
    assert _status_of(gh.rest.git.async_create_ref(*R, ref="refs/heads/main",
                                                   sha=world.commit)) == 422
    assert _status_of(gh.rest.pulls.async_create_review(
        *R, world.pull, event="COMMENT", body="x",
        comments=[{"path": "src/app.py", "line": 99, "body": "off the diff"}])) == 422
    with github.state.lock:
        github.state.repos[REPO].issues[world.issue].locked = True
    # the Action's token is not a collaborator: GitHub refuses it on a locked issue
    assert _status_of(gh.rest.issues.async_create_comment(*R, world.issue, body="hi")) == 403
    checked = github.backend.stats.responses
    for key in ("issues/get 404", "issues/create-comment 422", "issues/create-comment 403",
                "git/create-ref 422"):
        assert checked[key] > 0, f"{key} was not checked against the description"
    assert not github.violations



def test_inline_comments_come_back_with_line_and_position_filled_in(
        github: FakeGitHub, world: World, settings: Settings) -> None:
    gh = token_client(settings)
    run(TOKEN_CASES["pulls/create-review"](gh, world))
    listed = run(gh.rest.pulls.async_list_review_comments(*R, world.pull)).parsed_data
    # the patch is "@@ -1,2 +1,3 @@ / a = 1 / -b = 2 / +b = 3 / +c = 4": line 2 is position 3
    assert [(c.line, c.side, c.position) for c in listed] == [(2, "RIGHT", 3), (3, "RIGHT", 4)]
