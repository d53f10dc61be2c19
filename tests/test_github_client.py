"""bot.github.clients against the fake GitHub: App auth end to end, token auth, and the retries GitHub
asks for (secondary rate limits, retry-after, x-ratelimit-reset, 5xx), never a retry of a 404.

Faults are injected with ``github.fail``; the waits are GitHub's, capped by FAST_RETRY's
max_wait so no test sleeps long. A recording policy keeps each decided wait, so the tests
check what the bot decided rather than how long anything took.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import jwt
import pytest
from githubkit import GitHub, TokenAuthStrategy
from githubkit.exception import GitHubException, RateLimitExceeded, RequestFailed
from githubkit.typing import RetryOption

from bot.dispatch.dispatcher import Dispatcher
from bot.dispatch.events import Event
from bot.github.clients import AuthError, GitHubClients, RetryPolicy
from bot.settings import Settings
from tests.conftest import FAST_RETRY
from tests.fakes.fixtures import payload
from tests.fakes.github import ACTION_TOKEN, FakeGitHub

REPO = "octo-org/widgets"
OWNER, NAME = REPO.split("/")
SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                        "before you try again.",
             "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-"
                                  "rest-api#about-secondary-rate-limits"}
PRIMARY = {"message": "API rate limit exceeded for installation ID 7331.",
           "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}


@dataclass(frozen=True)
class Recording(RetryPolicy):
    """FAST_RETRY's decisions, each wait kept."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, exc: GitHubException, retry_count: int) -> RetryOption:
        option = super().__call__(exc, retry_count)
        if option.do_retry and option.retry_after is not None:
            self.waits.append(option.retry_after.total_seconds())
        return option


def recording(**changes: Any) -> Recording:
    base = replace(FAST_RETRY, **changes)
    return Recording(**{f: getattr(base, f) for f in base.__dataclass_fields__})


def run(coro: Any) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def token_requests(fake: FakeGitHub) -> list[Any]:
    return [r for r in fake.requests if r.path.endswith("/access_tokens")]


@pytest.fixture
def repo(github: FakeGitHub) -> str:
    github.create_repo(REPO, {"README.md": "# widgets\n"}, roles={"alice": "write"})
    github.add_issue(REPO, "Export widgets", "as CSV")
    return REPO


# -- App auth ------------------------------------------------------------------------------------
def help_event(github: FakeGitHub, delivery: str) -> Event:
    body = payload("issue_comment", "created", repo=REPO, sender="alice",
                   installation_id=github.app.installation_id,
                   issue={"number": 1}, comment={"body": "/help"})
    return Event("issue_comment", body, delivery)


def test_app_auth_signs_a_jwt_exchanges_it_and_reuses_the_token_across_jobs(
        github: FakeGitHub, repo: str, app_settings: Settings,
        make_dispatcher: Callable[..., Dispatcher]) -> None:
    dispatcher = make_dispatcher(app_settings)
    for delivery in ("job-1", "job-2"):
        outcome = run(dispatcher.dispatch(help_event(github, delivery), dry_run=True))
        assert outcome.handled, outcome.reason
    [exchange] = token_requests(github)  # one exchange serves both jobs
    assert exchange.path == f"/app/installations/{github.app.installation_id}/access_tokens"
    scheme, _, signed = exchange.headers["authorization"].partition(" ")
    assert scheme.lower() == "bearer" and github.app.verify_jwt(signed) is None
    claims = jwt.decode(signed, options={"verify_signature": False})
    assert str(claims["iss"]) == str(github.app.app_id) and claims["exp"] - claims["iat"] <= 660
    used = {r.headers["authorization"] for r in github.requests if r.path.startswith("/repos/")}
    [header] = used  # every repository request of both jobs carries the same token
    token = github.state.tokens[header.split(" ", 1)[1]]
    assert (token.installation_id, token.login) == (github.app.installation_id,
                                                    github.app.bot_login)


def test_an_expiring_installation_token_is_exchanged_again(
        github: FakeGitHub, repo: str, app_settings: Settings,
        make_dispatcher: Callable[..., Dispatcher], monkeypatch: pytest.MonkeyPatch) -> None:
    # githubkit drops a token a minute before it expires: a 60 s token is never reused
    monkeypatch.setattr(github.app, "token_lifetime", timedelta(seconds=60))
    dispatcher = make_dispatcher(app_settings)
    for delivery in ("job-1", "job-2"):
        assert run(dispatcher.dispatch(help_event(github, delivery), dry_run=True)).handled
    used = [r.headers["authorization"] for r in github.requests if r.path.startswith("/repos/")]
    assert len(used) >= 2 and len(set(used)) == len(used) == len(token_requests(github))


@pytest.fixture
def other_fake(github: FakeGitHub) -> Iterator[FakeGitHub]:
    """A second GitHub (another key pair, the same App and installation ids)."""
    fake = FakeGitHub(github.backend.openapi).start()
    yield fake
    fake.stop()


def test_clients_on_different_githubs_never_share_installation_tokens(
        github: FakeGitHub, other_fake: FakeGitHub, repo: str, app_settings: Settings) -> None:
    other_fake.create_repo(REPO, {"README.md": "# elsewhere\n"})
    other_settings = replace(app_settings, api_url=other_fake.url,
                             private_key=other_fake.app.private_key_pem)
    first, second = GitHubClients(app_settings, FAST_RETRY), GitHubClients(other_settings,
                                                                          FAST_RETRY)

    async def job(clients: GitHubClients) -> str:
        async with clients.for_event(7331) as gh:
            return str((await gh.rest.repos.async_get(OWNER, NAME)).parsed_data.full_name)

    assert [run(job(c)) for c in (first, second, first, second)] == [REPO] * 4
    assert len(token_requests(github)) == 1 and len(token_requests(other_fake)) == 1
    assert not other_fake.violations


def test_every_client_shares_one_tls_context_that_honours_ssl_cert_file(
        app_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import shutil
    import ssl

    seen: list[str | None] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        seen.append(kwargs.get("cafile"))
        return real(*args, **kwargs)

    import certifi

    bundle = tmp_path / "corporate-ca.pem"  # an operator's own CA bundle (e.g. for GHES)
    shutil.copy(certifi.where(), bundle)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setattr(ssl, "create_default_context", counting)
    clients = GitHubClients(app_settings, FAST_RETRY)
    used = {id(gh.config.ssl_verify) for gh in (clients.app(), clients.installation(1),
                                                 clients.installation(2), clients.token("t"))}
    assert len(used) == 1 and seen == [str(bundle)]  # built once, from SSL_CERT_FILE


def test_token_auth_sends_the_token_and_never_exchanges(
        github: FakeGitHub, repo: str, settings: Settings) -> None:
    gh = GitHubClients(settings, FAST_RETRY).for_event(None)
    assert run(gh.rest.repos.async_get(OWNER, NAME)).parsed_data.full_name == REPO
    assert github.requests[-1].headers["authorization"].split(" ")[-1] == ACTION_TOKEN
    assert not token_requests(github)


def test_missing_credentials_are_a_clear_error(settings: Settings,
                                               app_settings: Settings) -> None:
    with pytest.raises(AuthError, match="names no installation"):
        GitHubClients(app_settings).for_event(None)
    with pytest.raises(AuthError, match="GITHUB_TOKEN"):
        GitHubClients(replace(settings, github_token=None)).for_event(None)


def test_a_bad_token_is_refused_and_not_retried(github: FakeGitHub, repo: str,
                                                settings: Settings) -> None:
    gh = GitHubClients(settings, FAST_RETRY).token("ghs_not_a_token")
    with pytest.raises(RequestFailed) as caught:
        run(gh.rest.repos.async_get(OWNER, NAME))
    assert caught.value.response.status_code == 401 and len(github.requests) == 1


# -- retries -------------------------------------------------------------------------------------
COMMENTS = r"^/repos/octo-org/widgets/issues/1/comments$"


def comment(settings: Settings, policy: RetryPolicy) -> Any:
    gh = GitHubClients(settings, policy).token()
    return run(gh.rest.issues.async_create_comment(OWNER, NAME, 1, body="hello"))


@pytest.mark.parametrize("status", [403, 429])  # GitHub documents both for secondary limits
def test_a_refusal_that_only_says_secondary_rate_limit_is_retried_after_the_wait(
        github: FakeGitHub, repo: str, settings: Settings, status: int) -> None:
    github.fail("POST", COMMENTS, status, SECONDARY)  # no retry-after, remaining not 0
    policy = recording()
    assert comment(settings, policy).status_code == 201
    assert policy.waits == [FAST_RETRY.secondary_wait]
    assert [r.status for r in github.requests] == [status, 201]
    assert [c.body for c in github.comments(REPO, 1)] == ["hello"]  # posted once


@pytest.mark.parametrize(("status", "headers", "body"), [
    pytest.param(429, {"retry-after": "30"}, SECONDARY, id="429-retry-after"),
    pytest.param(403, {"retry-after": "45"}, SECONDARY, id="403-retry-after"),
    pytest.param(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "+3600"}, PRIMARY,
                 id="403-ratelimit-reset"),
    pytest.param(429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "+3600"}, PRIMARY,
                 id="429-ratelimit-reset"),
])
def test_rate_limits_wait_as_github_asks_capped_by_max_wait(
        github: FakeGitHub, repo: str, settings: Settings, status: int,
        headers: dict[str, str], body: dict[str, str]) -> None:
    if headers.get("x-ratelimit-reset", "").startswith("+"):
        headers = {**headers, "x-ratelimit-reset": str(int(time.time()) + 3600)}
    github.fail("POST", COMMENTS, status, body, headers)
    policy = recording()
    assert comment(settings, policy).status_code == 201
    assert policy.waits == [FAST_RETRY.max_wait]  # GitHub asked for more: capped
    assert [r.status for r in github.requests] == [status, 201]


def _refusal(settings: Settings, github: FakeGitHub, headers: dict[str, str]) -> Any:
    """The exception githubkit raises for a rate-limited answer, without retrying."""
    github.fail("GET", rf"^/repos/{REPO}$", 403, PRIMARY, headers)
    gh = GitHub(TokenAuthStrategy(ACTION_TOKEN), base_url=settings.api_url + "/",
                auto_retry=False)
    with pytest.raises(RateLimitExceeded) as caught:
        run(gh.rest.repos.async_get(OWNER, NAME))
    return caught.value


def test_the_asked_for_wait_is_honoured_below_the_cap(
        github: FakeGitHub, repo: str, settings: Settings) -> None:
    policy = RetryPolicy(max_wait=900.0)
    after = _refusal(settings, github, {"retry-after": "7"})
    assert policy(after, 0) == RetryOption(True, timedelta(seconds=7))
    reset = _refusal(settings, github, {"x-ratelimit-remaining": "0",
                                        "x-ratelimit-reset": str(int(time.time()) + 120)})
    decided = policy(reset, 0).retry_after
    assert decided is not None and 110 <= decided.total_seconds() <= 120
    assert policy(reset, policy.max_rate_limit_retries) == RetryOption(False)


def test_rate_limit_retries_give_up_after_the_configured_count(
        github: FakeGitHub, repo: str, settings: Settings) -> None:
    github.fail("POST", COMMENTS, 403, SECONDARY, times=10)
    with pytest.raises(RequestFailed):
        comment(settings, recording())
    assert len(github.requests) == 1 + FAST_RETRY.max_rate_limit_retries
    assert not github.comments(REPO, 1)


def read_repo(settings: Settings, policy: RetryPolicy) -> Any:
    gh = GitHubClients(settings, policy).token()
    return run(gh.rest.repos.async_get(OWNER, NAME))


def test_server_errors_on_a_read_are_retried_then_succeed(github: FakeGitHub, repo: str,
                                                          settings: Settings) -> None:
    github.fail("GET", rf"^/repos/{REPO}$", 502, times=2)
    policy = recording()
    assert read_repo(settings, policy).status_code == 200
    assert [r.status for r in github.requests] == [502, 502, 200]
    assert policy.waits == [FAST_RETRY.server_backoff, FAST_RETRY.server_backoff * 4]


def test_persistent_server_errors_fail_after_the_retries(github: FakeGitHub, repo: str,
                                                         settings: Settings) -> None:
    github.fail("GET", rf"^/repos/{REPO}$", 503, times=10)
    with pytest.raises(RequestFailed) as caught:
        read_repo(settings, recording())
    assert caught.value.response.status_code == 503
    assert len(github.requests) == 1 + FAST_RETRY.max_server_retries


def test_a_server_error_on_a_comment_post_is_never_retried_blind(
        github: FakeGitHub, repo: str, settings: Settings) -> None:
    # GitHub may have made the comment before failing: the writes layer checks (test_reliability)
    github.fail("POST", COMMENTS, 502, times=2)
    policy = recording()
    with pytest.raises(RequestFailed) as caught:
        comment(settings, policy)
    assert caught.value.response.status_code == 502
    assert len(github.requests) == 1 and policy.waits == []


@pytest.mark.parametrize(("status", "body"), [
    (404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
    (403, {"message": "Resource not accessible by integration",
           "documentation_url": "https://docs.github.com/rest"}),
    (422, {"message": "Validation Failed", "errors": [],
           "documentation_url": "https://docs.github.com/rest"}),
])
def test_client_errors_are_not_retried(github: FakeGitHub, repo: str, settings: Settings,
                                       status: int, body: dict[str, Any]) -> None:
    github.fail("POST", COMMENTS, status, body, times=5)
    policy = recording()
    with pytest.raises(RequestFailed) as caught:
        comment(settings, policy)
    assert caught.value.response.status_code == status
    assert len(github.requests) == 1 and policy.waits == []
