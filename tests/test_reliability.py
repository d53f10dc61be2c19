"""Per-request retries by what is safe, and no write made twice: the real clients against the
fake GitHub through the fault-injecting proxy (``tests/fakes/chaos.py``).

A read, an idempotent write and the installation-token exchange are retried after a dropped
connection, a 5xx or a rate limit; a comment, review, ref or pull request whose answer was lost
is looked for before anything is sent again, so it exists exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from bot.config import Config
from bot.dispatch.dispatcher import Dispatcher
from bot.dispatch.events import Event
from bot.github.clients import GitHubClients, RetryPolicy
from bot.github.comments import marker, upsert_comment
from bot.github.gitdata import branch_head, point_branch, upsert_draft_pull
from bot.github.reviews import post_review, review_marker
from bot.github.session import Session
from bot.github.writes import Writes
from bot.settings import Settings
from bot.work.compose import build_dispatcher
from tests.conftest import FAST_RETRY
from tests.fakes.chaos import ChaosProxy, drop_after, drop_before, error_after, error_before, rate_limited, secondary_limit
from tests.fakes.fixtures import payload
from tests.fakes.github import FakeGitHub
from tests.test_github_client import recording  # a policy that keeps the waits it decides

REPO = "octo/widgets"
BRANCH = "model-routing/issue-1"
COMMENTS = r"/issues/1/comments$"


@pytest.fixture
def repo(github: FakeGitHub) -> str:
    github.create_repo(REPO, {"README.md": "# widgets\n"}, roles={"alice": "write"})
    github.add_issue(REPO, "Export widgets", "as CSV")
    return REPO


def through(settings: Settings, chaos: ChaosProxy) -> Settings:
    return replace(settings, api_url=chaos.url)


def run(coro: Any) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def with_session(settings: Settings, work: Callable[[Session], Any], policy: RetryPolicy = FAST_RETRY) -> Any:
    """Run ``work(session)`` with a token-auth session on ``settings``' GitHub."""
    async def main() -> Any:
        gh = GitHubClients(settings, policy).for_event(None)
        async with gh:
            session = Session(gh, REPO, Writes(gh), logging.LoggerAdapter(logging.getLogger("test"), {}),
                              bot_login=settings.bot_login)
            return await work(session)

    return asyncio.run(main())


def help_event(github: FakeGitHub, delivery: str = "rel-1") -> Event:
    body = payload("issue_comment", "created", repo=REPO, sender="alice",
                   installation_id=github.app.installation_id,
                   issue={"number": 1, "pull_request": None, "labels": []},
                   comment={"id": 9001, "body": "/help", "user": {"login": "alice"}})
    return Event("issue_comment", body, delivery)


def posts(github: FakeGitHub, path_end: str) -> int:
    """POSTs that reached the fake GitHub (after the proxy) on a path ending so."""
    return sum(1 for r in github.requests if r.method == "POST" and r.path.endswith(path_end))


def bot_comments(github: FakeGitHub, login: str) -> list[Any]:
    return [c for c in github.comments(REPO, 1) if c.user.login == login]


# -- reads and safe requests are retried ---------------------------------------------------------
@pytest.mark.parametrize("fault", [drop_before, drop_after], ids=["drop_before", "drop_after"])
def test_a_dropped_get_is_retried_and_the_job_completes(
        github: FakeGitHub, chaos: ChaosProxy, repo: str, app_settings: Settings,
        make_dispatcher: Callable[..., Dispatcher], fault: Callable[..., Any]) -> None:
    chaos.add(fault("GET", COMMENTS, times=2))  # the handler's look for its own comment
    outcome = run(make_dispatcher(through(app_settings, chaos)).dispatch(help_event(github)))
    assert outcome.handled and [r.outcome for r in outcome.results] == ["ok"]
    assert chaos.stats.faults == {fault.__name__: 2}
    assert chaos.stats.by_route[f"GET /repos/{REPO}/issues/1/comments"] == 3
    [reply] = bot_comments(github, github.app.bot_login)
    assert reply.body.startswith("<!-- model-routing:help comment=9001 -->")


def test_a_429_on_the_token_request_is_waited_out_as_retry_after_asks(
        github: FakeGitHub, chaos: ChaosProxy, repo: str, app_settings: Settings,
        make_config: Callable[..., Config]) -> None:
    chaos.add(rate_limited(retry_after=1, method="POST", path=r"/access_tokens$"))
    policy = recording(max_wait=5.0)  # below the cap: GitHub's one second is what is waited
    dispatcher = build_dispatcher(through(app_settings, chaos), make_config(), retry=policy)
    try:
        outcome = run(dispatcher.dispatch(help_event(github)))
    finally:
        dispatcher.ledger.close()
    assert outcome.handled and [r.outcome for r in outcome.results] == ["ok"]
    assert policy.waits == [1.0]
    assert chaos.stats.by_route[f"POST /app/installations/{github.app.installation_id}/access_tokens"] == 2
    assert len(bot_comments(github, github.app.bot_login)) == 1


@pytest.mark.parametrize("fault", [
    pytest.param(lambda: secondary_limit(retry_after=None, method="POST", path=r"/access_tokens$"),
                 id="secondary-403"),
    pytest.param(lambda: error_before(503, method="POST", path=r"/access_tokens$"), id="503"),
    pytest.param(lambda: drop_after(method="POST", path=r"/access_tokens$"), id="dropped"),
])
def test_other_failures_of_the_token_request_are_retried(
        github: FakeGitHub, chaos: ChaosProxy, repo: str, app_settings: Settings,
        make_dispatcher: Callable[..., Dispatcher], fault: Callable[[], Any]) -> None:
    chaos.add(fault())
    outcome = run(make_dispatcher(through(app_settings, chaos)).dispatch(help_event(github)))
    assert [r.outcome for r in outcome.results] == ["ok"] and chaos.stats.faulted == 1
    assert len(bot_comments(github, github.app.bot_login)) == 1


@pytest.mark.parametrize("fault", [
    pytest.param(lambda: error_after(502, "PATCH", r"/git/refs/heads/"), id="502"),
    pytest.param(lambda: drop_after("PATCH", r"/git/refs/heads/"), id="dropped"),
])
def test_an_idempotent_write_is_retried_after_a_5xx_or_a_drop(
        github: FakeGitHub, chaos: ChaosProxy, repo: str, settings: Settings,
        fault: Callable[[], Any]) -> None:
    sha = github.state.repo(REPO).head("main")
    github.commit(REPO, BRANCH, {"a.txt": "one\n"}, message="Model-Routing-Issue: 1")
    chaos.add(fault())
    how = with_session(through(settings, chaos), lambda s: point_branch(s, BRANCH, sha, "main"))
    assert how == "moved" and github.state.repo(REPO).head(BRANCH) == sha
    assert chaos.stats.by_route[f"PATCH /repos/{REPO}/git/refs/heads/{BRANCH}"] == 2


# -- writes that must not be made twice ----------------------------------------------------------
@pytest.mark.parametrize("fault", [
    pytest.param(lambda: error_after(502, "POST", COMMENTS), id="502-after-applied"),
    pytest.param(lambda: error_after(503, "POST", COMMENTS), id="503-after-applied"),
    pytest.param(lambda: drop_after("POST", COMMENTS), id="dropped-after-applied"),
])
def test_a_lost_answer_to_an_applied_comment_leads_to_no_second_comment(
        github: FakeGitHub, chaos: ChaosProxy, repo: str, app_settings: Settings,
        make_dispatcher: Callable[..., Dispatcher], fault: Callable[[], Any]) -> None:
    chaos.add(fault())
    outcome = run(make_dispatcher(through(app_settings, chaos)).dispatch(help_event(github)))
    assert [r.outcome for r in outcome.results] == ["ok"]
    assert len(bot_comments(github, github.app.bot_login)) == 1
    assert posts(github, "/issues/1/comments") == 1  # looked for by its marker, not sent again


@pytest.mark.parametrize("fault", [
    pytest.param(lambda: error_before(502, "POST", COMMENTS), id="502-not-applied"),
    pytest.param(lambda: drop_before("POST", COMMENTS), id="dropped-before"),
])
def test_a_comment_that_was_not_made_is_written_again_after_the_check(
        github: FakeGitHub, chaos: ChaosProxy, repo: str, app_settings: Settings,
        make_dispatcher: Callable[..., Dispatcher], fault: Callable[[], Any]) -> None:
    chaos.add(fault())
    run(make_dispatcher(through(app_settings, chaos)).dispatch(help_event(github)))
    assert len(bot_comments(github, github.app.bot_login)) == 1
    kinds = [(e.method, e.path.rsplit("/", 1)[-1]) for e in chaos.stats.events if e.path.endswith("/comments")]
    assert kinds[-3:] == [("POST", "comments"), ("GET", "comments"), ("POST", "comments")]


def test_an_edited_comment_found_after_a_lost_answer_is_made_what_was_asked(
        github: FakeGitHub, chaos: ChaosProxy, repo: str, settings: Settings) -> None:
    mark = marker("status", issue=1)
    chaos.add(error_after(502, "POST", COMMENTS))
    written = with_session(through(settings, chaos), lambda s: upsert_comment(s, 1, mark, "first"))
    [made] = github.comments(REPO, 1)
    assert written["id"] == made.id and made.body == f"{mark}\nfirst"
    assert [w.method for w in github.writes()] == ["POST"]  # found as asked: nothing patched


def test_a_ref_created_before_its_answer_was_dropped_is_found_not_refused(
        github: FakeGitHub, chaos: ChaosProxy, repo: str, settings: Settings) -> None:
    sha = github.state.repo(REPO).head("main")
    chaos.add(drop_after("POST", r"/git/refs$"))
    how = with_session(through(settings, chaos), lambda s: point_branch(s, BRANCH, sha, "main"))
    assert how == "created" and github.state.repo(REPO).head(BRANCH) == sha
    assert posts(github, "/git/refs") == 1


def test_a_ref_that_exists_already_is_moved_to_the_new_commit(
        github: FakeGitHub, chaos: ChaosProxy, repo: str, settings: Settings) -> None:
    sha = github.state.repo(REPO).head("main")
    old = github.commit(REPO, BRANCH, {"a.txt": "old\n"}, message="x")

    async def work(session: Session) -> tuple[str, str | None]:
        how = await point_branch(session, BRANCH, sha, "main", None, known=True)  # read as absent
        return how, await branch_head(session, BRANCH)

    assert with_session(through(settings, chaos), work) == ("moved", sha) and old != sha
    assert [(w.method, w.status) for w in github.writes()] == [("POST", 422), ("PATCH", 200)]


def test_a_pull_request_opened_before_its_answer_was_lost_is_opened_once(
        github: FakeGitHub, chaos: ChaosProxy, repo: str, settings: Settings) -> None:
    github.commit(REPO, BRANCH, {"a.txt": "new\n"}, message="Model-Routing-Issue: 1")
    chaos.add(error_after(502, "POST", r"/pulls$"))
    pull, how = with_session(through(settings, chaos),
                             lambda s: upsert_draft_pull(s, BRANCH, "main", "Export", "Body", listed=True))
    [made] = github.pulls(REPO)
    assert (how, pull["number"]) == ("opened", made.number) and made.draft
    assert [w.method for w in github.writes()] == ["POST"]


def test_a_review_posted_before_its_answer_was_dropped_is_posted_once(
        github: FakeGitHub, chaos: ChaosProxy, repo: str, settings: Settings) -> None:
    pull = github.open_pull(REPO, "feature", {"a.py": "print(1)\n"})
    sha = github.state.repo(REPO).head("feature")
    body = review_marker(pull.number, sha) + "\nLooks fine."
    chaos.add(drop_after("POST", r"/reviews$"))
    written = with_session(through(settings, chaos), lambda s: post_review(s, pull.number, sha, body, []))
    [review] = github.reviews(REPO, pull.number)
    assert written["id"] == review.id
    assert posts(github, f"/pulls/{pull.number}/reviews") == 1
