"""Slash commands: what counts as a command, who may run one, and /help, /cost, /route.

Parsing is tested on the function; everything else runs the real dispatcher against the fake
GitHub with events built from GitHub's example payloads.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.dispatch.dispatcher import Dispatcher, Outcome
from bot.dispatch.events import Event
from bot.dispatch.slash import parse_commands
from bot.settings import Settings
from bot.store.ledger import Call, month_start
from tests.fakes.fixtures import payload
from tests.fakes.github import FakeGitHub
from tests.fakes.llm import FakeLLM

REPO = "acme/widgets"


def names(body: str) -> list[str]:
    return [c.name for c in parse_commands(body)]


# -- parsing -------------------------------------------------------------------------------

def test_arguments_are_split_with_shlex_and_the_question_kept_whole() -> None:
    [cmd] = parse_commands('Thanks!\n/ask "why is export slow?" --deep\nbye')
    assert cmd.name == "ask"
    assert cmd.args == ("why is export slow?", "--deep")
    assert cmd.text == '"why is export slow?" --deep'
    [loose] = parse_commands("/ask what's slow here")  # unbalanced quotes: the words as typed
    assert loose.args == ("what's", "slow", "here")
    assert loose.text == "what's slow here"


@pytest.mark.parametrize("body, expected", [
    ("/help", ["help"]),
    ("/HELP\n/help\n/Cost\n/help ", ["help", "cost"]),  # case folded, each command once, in order
    ("   /help", ["help"]),  # up to three spaces
    ("    /help", []),  # four: an indented code block
    ("\t/help", []),  # a tab: indented code too
    ("please /help me", []),  # not at the line start
    ("`/help`", []),  # a code span
    ("> /help", []),  # a block quote (someone quoting a command)
    ("/help.", []),  # punctuation glued on: prose
    ("/usr/bin/env python", []),  # a path
    ("```\n/approve\n```\n/help", ["help"]),  # fenced code
    ("~~~python\n/approve\n~~~\n/help", ["help"]),  # tilde fence
    ("````\n```\n/approve\n```\n````\n/help", ["help"]),  # a longer fence holds a shorter one
    ("```\n/approve\n", []),  # a fence never closed runs to the end
    # a backtick "fence" whose info string holds a backtick is prose to GitHub (CommonMark), so
    # the /approve people see below it runs; safety.neutralise reads the line the same way
    ("```a`b\n/approve", ["approve"]),
    ("\uff0fhelp", ["help"]),  # a full-width slash shows as a slash: NFKC folds it
])
def test_what_counts_as_a_command(body: str, expected: list[str]) -> None:
    assert names(body) == expected


@pytest.mark.parametrize("body", [
    "<!-- /approve -->",
    "<!--\n/approve\n-->",
    "looks fine <!-- unclosed, GitHub hides the rest\n/approve",
    "<div hidden>\n/approve\n</div>",
    '<p style="display:none">\n/approve\n</p>',
    '<span aria-hidden="true">\n/approve\n</span>',
    "[//]: # (hidden)\n[comment]: <> (x)\n<details hidden>\n/approve\n</details>",
])
def test_commands_nobody_can_see_never_run(body: str) -> None:
    assert names("/help\n" + body) == ["help"]


# -- dispatch ------------------------------------------------------------------------------

def seed(github: FakeGitHub, **roles: str) -> int:
    github.create_repo(REPO, roles=roles)
    return github.add_issue(REPO, "Widgets are slow", "They are.").number


def commented(github: FakeGitHub, number: int, text: str, sender: str = "alice", *,
              pr: bool = False, sender_type: str = "User") -> Event:
    """The comment, in the fake's issue and in the event, as GitHub would have both."""
    comment = github.add_comment(REPO, number, text, user=sender)
    issue: dict[str, Any] = {"number": number, "pull_request": None, "labels": []}
    if pr:
        issue["pull_request"] = {"url": f"{github.url}/repos/{REPO}/pulls/{number}", "html_url": "",
                                 "diff_url": "", "patch_url": ""}
    body = payload("issue_comment", "created", repo=REPO, sender=sender, sender_type=sender_type,
                   issue=issue, comment={"id": comment.id, "body": text,
                                         "user": {"login": sender, "type": sender_type}})
    return Event("issue_comment", body, f"d-{comment.id}")


def run(dispatcher: Dispatcher, event: Event) -> Outcome:
    return dispatcher.run_once(event)


def replies(github: FakeGitHub, number: int) -> list[str]:
    return [c.body for c in github.comments(REPO, number) if c.user.login.endswith("[bot]")]


def permission_lookups(github: FakeGitHub, login: str) -> int:
    return sum(r.path.endswith(f"/collaborators/{login}/permission") for r in github.requests)


@pytest.mark.parametrize("role", ["admin", "maintain", "write"])
def test_writers_get_the_reply(github: FakeGitHub, settings: Settings, make_dispatcher: Any, role: str) -> None:
    number = seed(github, alice=role)
    outcome = run(make_dispatcher(settings), commented(github, number, "/help"))
    [reply] = replies(github, number)
    assert "**Model Routing Bot commands** on this issue" in reply
    assert "`/spec`" in reply and "`/cost`" in reply
    assert "No model was called for this reply." in reply  # the footer
    assert [(r.phase, r.outcome) for r in outcome.results] == [("help", "ok")]


@pytest.mark.parametrize("role", ["triage", "read", "none"])
def test_everyone_else_gets_nothing_not_even_a_reply(github: FakeGitHub, settings: Settings,
                                                     make_dispatcher: Any, role: str) -> None:
    number = seed(github, mallory=role)
    outcome = run(make_dispatcher(settings), commented(github, number, "/help\n/spec\n/frobnicate", "mallory"))
    assert outcome.results == []
    assert github.writes() == []
    assert permission_lookups(github, "mallory") == 1


def test_a_stranger_on_a_public_repository_reads_only(github: FakeGitHub, settings: Settings,
                                                      make_dispatcher: Any) -> None:
    number = seed(github)
    run(make_dispatcher(settings), commented(github, number, "/cost", "passer-by"))
    assert github.writes() == []


@pytest.mark.parametrize("legacy, runs", [("write", True), ("read", False)])
def test_a_custom_role_counts_by_the_base_role_it_extends(github: FakeGitHub, settings: Settings,
                                                          make_dispatcher: Any, legacy: str, runs: bool) -> None:
    number = seed(github)
    user = {"login": "carol", "id": 77, "node_id": "U_77", "type": "User", "site_admin": False}
    github.fail("GET", r"/collaborators/carol/permission$", 200,
                {"permission": legacy, "role_name": "release-manager", "user": user})
    run(make_dispatcher(settings), commented(github, number, "/help", "carol"))
    assert len(replies(github, number)) == (1 if runs else 0)


def test_bots_are_ignored_before_any_request(github: FakeGitHub, settings: Settings, make_dispatcher: Any) -> None:
    number = seed(github, **{"renovate[bot]": "admin"})
    event = commented(github, number, "/help", "renovate[bot]", sender_type="Bot")
    requests_before = len(github.requests)
    outcome = run(make_dispatcher(settings), event)
    assert not outcome.handled and "bot" in outcome.reason
    assert len(github.requests) == requests_before


def test_unknown_and_misplaced_commands_get_the_help_reply(github: FakeGitHub, settings: Settings,
                                                           make_dispatcher: Any) -> None:
    github.create_repo(REPO, roles={"alice": "write"})
    pull = github.open_pull(REPO, "feature", {"src/a.py": "x = 1\n"})
    event = commented(github, pull.number, "/frobnicate now\n/spec\n/help", pr=True)
    outcome = run(make_dispatcher(settings), event)
    [reply] = replies(github, pull.number)
    assert "Unknown command: `/frobnicate`." in reply
    assert "`/spec` works on issues only." in reply
    assert "on this pull request" in reply
    assert [r.phase for r in outcome.results] == ["help"]  # one reply, /help not answered twice


def test_several_commands_ask_for_the_permission_once(github: FakeGitHub, settings: Settings,
                                                      make_dispatcher: Any) -> None:
    number = seed(github, alice="write")
    outcome = run(make_dispatcher(settings), commented(github, number, "/help\n/cost"))
    assert [r.phase for r in outcome.results] == ["help", "cost"]
    assert permission_lookups(github, "alice") == 1


def test_a_redelivery_edits_the_reply_instead_of_adding_one(github: FakeGitHub, settings: Settings,
                                                            make_dispatcher: Any) -> None:
    number = seed(github, alice="write")
    event = commented(github, number, "/help")
    dispatcher = make_dispatcher(settings)
    run(dispatcher, event)
    run(dispatcher, event)
    assert len(replies(github, number)) == 1
    assert not [w for w in github.writes() if w.method == "PATCH"]  # same text: not even an edit


def test_edited_comments_run_nothing(github: FakeGitHub, settings: Settings, make_dispatcher: Any) -> None:
    number = seed(github, alice="write")
    body = payload("issue_comment", "edited", repo=REPO, sender="alice",
                   issue={"number": number}, comment={"body": "/help", "user": {"login": "alice"}})
    outcome = run(make_dispatcher(settings), Event("issue_comment", body, "d-edit"))
    assert not outcome.handled
    assert github.requests == []


def test_cost_reads_this_repositorys_spend_this_month_from_the_ledger(
        github: FakeGitHub, settings: Settings, make_dispatcher: Any) -> None:
    number = seed(github, alice="write")
    dispatcher = make_dispatcher(settings)

    def call(model: str, cost: float, repo: str = REPO, phase: str = "spec", **kw: Any) -> None:
        dispatcher.ledger.record_call(Call(repo, "j1", phase, "high-reasoning", model, "why", 1200, 300,
                                           cost, 1.5, "ok"), **kw)

    call("openai/reason-a", 0.25)
    call("openai/reason-a", 0.5)
    call("openai/fast-a", 0.125, phase="implement")
    call("openai/other-repo-model", 9.0, repo="acme/other")
    call("openai/last-month-model", 7.0, at=month_start() - 3600)

    run(dispatcher, commented(github, number, "/cost"))

    [reply] = replies(github, number)
    assert "| spec | `openai/reason-a` | 2 | 2,400 | 600 | $0.7500 |" in reply
    assert "| implement | `openai/fast-a` | 1 | 1,200 | 300 | $0.1250 |" in reply
    assert "**$0.8750**" in reply
    assert "other-repo-model" not in reply and "last-month-model" not in reply
    assert time.strftime("%B %Y", time.gmtime()) in reply


def test_route_names_each_phases_profile_and_model_without_a_model_call(
        github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any) -> None:
    number = seed(github, alice="write")
    outcome = run(make_dispatcher(settings), commented(github, number, "/route"))
    [reply] = replies(github, number)
    for phase, model in [("spec", "openai/reason-a"), ("implement", "openai/fast-a"), ("review", "openai/wide-a")]:
        assert phase in reply and model in reply
    assert llm.requests == []
    assert [(r.phase, r.outcome) for r in outcome.results] == [("route", "ok")]


def test_the_command_parser_and_neutralise_agree_on_where_code_is() -> None:
    """One fence scanner: a line both read as prose is a live command to the parser and a
    neutralised one in the bot's own output, and a line inside code is neither."""
    from bot.safety import neutralise

    for body in ("```a`b\n/approve", "```\n/approve\n```", "~~~\n/approve", "   ```\n/approve\n   ```\n"):
        live = bool(parse_commands(body))
        assert live == ("`/approve`" in neutralise(body)), body
