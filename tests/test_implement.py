"""Phase 2 end to end: an approved spec becomes a draft pull request by the high-throughput model.

Every test runs the real dispatcher against the fake GitHub and the fake LLM, with events built
from GitHub's own example payloads. The spec comment is the bot's own: written by the spec
handler itself in the first test, elsewhere rendered with ``bot.answers.spec_comment`` under the
Action token's login, as the spec handler writes it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.answers.spec_doc import EmbeddedSpec, SpecData, embed
from bot.cli import replay
from bot.cli.runner import dispatch_once
from bot.dispatch.dispatcher import Dispatcher, Outcome
from bot.dispatch.events import Event
from bot.github.comments import marker
from bot.settings import Settings
from tests import specs
from tests.conftest import TEST_MODELS
from tests.fakes.fixtures import payload
from tests.fakes.github import ACTION_TOKEN, FakeGitHub
from tests.fakes.github_shapes import validation_failed
from tests.fakes.github_shapes_git import git_ref, git_tree
from tests.fakes.llm import Fail, FakeLLM

REPO = "acme/widgets"
TITLE = "Export widgets as CSV"
BOT = "github-actions[bot]"  # the Action token's login, as the fake GitHub knows it
BRANCH = "model-routing/issue-{n}"
CORE = "from widgets.models import Widget\n\n\ndef widgets():\n    return [Widget('a')]\n"
BASE: dict[str, str] = {
    "README.md": "# Widgets\n",
    "CONTRIBUTING.md": "CONTRIB-RULE: every change comes with a test.\n",
    "widgets/__init__.py": "",
    "widgets/core.py": CORE,
    "widgets/models.py": "class Widget:\n    MODELS-FILE-MARK = 1\n",
    "tests/test_core.py": "from widgets.core import widgets\n# TEST-CORE-MARK\n",
    "docs/old.md": "OLD-DOC-CONTENT\n",
    ".github/workflows/ci.yml": "on: push\n",
}


# -- the scene --------------------------------------------------------------------------------


def seed(github: FakeGitHub, config: str | None = None) -> int:
    files = dict(BASE)
    if config is not None:
        files[".github/model-routing.yml"] = config
    github.create_repo(REPO, files, roles={"alice": "write", "tina": "triage", "mallory": "read"})
    return github.add_issue(REPO, TITLE, "We need to export widgets.", user="alice").number


def spec_data() -> dict[str, Any]:
    return {
        "title": "Add widget export",
        "summary": "SPEC-SUMMARY export widgets as CSV.",
        "requirements": ["`export_csv` writes one row per widget"],
        "design": "Add widgets/export.py.",
        "files_to_change": [
            {"path": "widgets/core.py", "action": "modify", "why": "two widgets"},
            {"path": "widgets/export.py", "action": "create", "why": "the export"},
        ],
        "test_plan": ["a CSV of two widgets has two rows"],
        "acceptance_checks": ["pytest passes"],
    }


def spec_body(number: int, key: str | None, data: dict[str, Any] | None = None) -> str:
    """A spec comment's body as handlers/spec.py renders it and bot.github.writes posts it."""
    return specs.spec_body(number, key, data or spec_data())


def bot_spec(github: FakeGitHub, settings: Settings, number: int, *, user: str = BOT) -> Any:
    """The bot's spec comment (by ``user``: the bot's own account unless a test says otherwise)."""
    return github.add_comment(REPO, number, spec_body(number, settings.webhook_secret), user=user)


def reply(*edits: dict[str, Any], summary: str = "PLAN-SUMMARY adds the CSV export.") -> str:
    """The model's text: an EditPlan as JSON in a fenced block."""
    return "```json\n" + json.dumps({"summary": summary, "edits": list(edits)}, indent=1) + "\n```\n"


EXPORT = "import csv\n\n\ndef export_csv(rows, out):\n    csv.writer(out).writerows(rows)\n"
WRITE_EXPORT = {"path": "widgets/export.py", "action": "write", "content": EXPORT}
EDIT_CORE = {"path": "widgets/core.py", "action": "edit",
             "blocks": [{"search": "    return [Widget('a')]\n", "replace": "    return [Widget('a'), Widget('b')]\n"}]}
BAD_CORE = {"path": "widgets/core.py", "action": "edit",
            "blocks": [{"search": "    return [Widget('z')]\n", "replace": "    return []\n"}]}
DELETE_DOC = {"path": "docs/old.md", "action": "delete"}
GOOD = (WRITE_EXPORT, EDIT_CORE, DELETE_DOC)


def expected_files(extra: dict[str, str | None] | None = None) -> dict[str, bytes]:
    files: dict[str, str | None] = {**BASE, "widgets/export.py": EXPORT,
                                    "widgets/core.py": CORE.replace("[Widget('a')]", "[Widget('a'), Widget('b')]"),
                                    "docs/old.md": None, **(extra or {})}
    return {p: c.encode() for p, c in files.items() if c is not None}


def labeled(number: int, *, sender: str = "alice", label: str = "spec-approved", delivery: str = "d-label") -> Event:
    body = payload("issues", "labeled", repo=REPO, sender=sender,
                   issue={"number": number, "title": TITLE}, label={"name": label})
    return Event("issues", body, delivery)


def commented(github: FakeGitHub, number: int, text: str, *, sender: str = "alice", delivery: str = "d-comment") -> Event:
    comment = github.add_comment(REPO, number, text, user=sender)
    body = payload("issue_comment", "created", repo=REPO, sender=sender,
                   issue={"number": number, "title": TITLE},
                   comment={"id": comment.id, "body": text, "user": {"login": sender, "type": "User"}})
    return Event("issue_comment", body, delivery)


def run(dispatcher: Dispatcher, event: Event) -> Outcome:
    return dispatcher.run_once(event)


def footer_of(body: str) -> str:
    return body[body.rindex("<sub>"):]


def the_pull(github: FakeGitHub) -> Any:
    [pull] = github.pulls(REPO)
    return pull


# -- approval gives one draft pull request ----------------------------------------------------


def test_label_approval_of_the_spec_handlers_spec_gives_one_draft_pr_with_exactly_the_edits(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    main_head = github.state.repo(REPO).head("main")
    llm.script("reason-a", "```json\n" + json.dumps(spec_data()) + "\n```")
    llm.script("fast-a", reply(*GOOD))
    dispatcher = make_dispatcher(settings)
    run(dispatcher, labeled(number, label="design", delivery="d-design"))
    [spec_comment] = github.comments(REPO, number)

    outcome = run(dispatcher, labeled(number))

    assert llm.models_called() == ["reason-a", "fast-a"]  # spec, then the high-throughput model
    branch = BRANCH.format(n=number)
    assert github.files(REPO, branch) == expected_files()
    assert github.files(REPO, "main") == {p: c.encode() for p, c in BASE.items()}  # untouched
    assert github.state.repo(REPO).head("main") == main_head
    pull = the_pull(github)
    assert pull.draft and pull.head_ref == branch and pull.base_ref == "main"
    issue = github.pull_issue(REPO, pull.number)
    assert issue.title == TITLE
    body = issue.body or ""
    assert f"Closes #{number}" in body
    assert "A person must review this pull request" in body
    assert "PLAN-SUMMARY adds the CSV export." in body
    assert "`widgets/export.py` (created)" in body and "`docs/old.md` (deleted)" in body
    assert f"/issues/{number}#issuecomment-{spec_comment.id})" in body  # the link to the spec
    assert "**high-throughput** · `openai/fast-a`" in footer_of(body)
    [job] = outcome.results
    assert (job.phase, job.outcome, job.profile, job.model) == ("implement", "ok", "high-throughput", "openai/fast-a")
    assert job.url.endswith(f"/pull/{pull.number}")
    # the spec comment is still the only comment: success needs no status comment
    assert [c.id for c in github.comments(REPO, number)] == [spec_comment.id]


def test_prompt_has_the_spec_first_then_named_and_related_files_tree_and_rules(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    llm.script("fast-a", reply(*GOOD))

    run(make_dispatcher(settings), labeled(number))

    [system, user] = [m["content"] for m in llm.requests[0]["messages"]][:2]
    assert '"action": "edit"' in system and "`.github/workflows/`" in system
    assert user.index("<spec-json>") < user.index("### Summary\nSPEC-SUMMARY") < user.index("<file path=")
    assert f'<file path="widgets/core.py">\n{CORE}' in user  # named by the spec, verbatim
    assert "MODELS-FILE-MARK" in user  # imported by the named file
    assert "TEST-CORE-MARK" in user  # the named file's test
    assert "CONTRIB-RULE" in user
    assert "docs/old.md" in user and "OLD-DOC-CONTENT" not in user  # in the tree, not shown


@pytest.mark.parametrize("command", ["/approve", "/implement"])
def test_command_approval_gives_one_draft_pr_with_exactly_the_edits(
    command: str, github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    llm.script("fast-a", reply(*GOOD))

    outcome = run(make_dispatcher(settings), commented(github, number, f"Looks good.\n{command}"))

    assert llm.models_called() == ["fast-a"]
    assert github.files(REPO, BRANCH.format(n=number)) == expected_files()
    assert the_pull(github).draft
    assert [r.outcome for r in outcome.results] == ["ok"]


def test_approval_by_a_triager_or_a_reader_does_nothing(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    dispatcher = make_dispatcher(settings)

    label = run(dispatcher, labeled(number, sender="tina"))
    command = run(dispatcher, commented(github, number, "/approve", sender="mallory"))

    assert label.results == [] and command.results == []
    assert llm.requests == []
    assert github.writes() == []  # (seeding does not go through the API)
    assert github.pulls(REPO) == []
    assert "refs/heads/" + BRANCH.format(n=number) not in github.state.repo(REPO).refs


def test_no_bot_spec_gives_one_comment_saying_how_to_get_one(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    # a person pasting a spec (marker and embedded data) is not the bot's spec
    doc = EmbeddedSpec(issue=number, revision=1, spec=SpecData.model_validate(spec_data()), markdown="x")
    github.add_comment(REPO, number, f"{marker('spec', issue=number)}\n{embed(doc, settings.webhook_secret)}", user="alice")
    dispatcher = make_dispatcher(settings)

    outcome = run(dispatcher, labeled(number))
    run(dispatcher, commented(github, number, "/approve", delivery="d-again"))

    assert llm.requests == []
    notices = [c.body for c in github.comments(REPO, number) if marker("implement", issue=number) in c.body]
    assert len(notices) == 1  # the second approval edited it
    assert "`design`" in notices[0] and "`/spec`" in notices[0]
    assert github.pulls(REPO) == []
    assert outcome.results[0].outcome == "skipped"

    # once the bot's spec exists, approval works and the notice does not outlive it
    bot_spec(github, settings, number)
    llm.script("fast-a", reply(*GOOD))
    run(dispatcher, commented(github, number, "/approve", delivery="d-third"))
    [notice] = [c.body for c in github.comments(REPO, number) if marker("implement", issue=number) in c.body]
    assert f"draft pull request #{the_pull(github).number}" in notice and "`design`" not in notice


def test_app_auth_finds_the_apps_own_spec_and_not_another_bots(
    github: FakeGitHub, llm: FakeLLM, app_settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, app_settings, number)  # by github-actions[bot]: not this App
    event = labeled(number)
    event.payload["installation"] = {"id": github.app.installation_id}
    dispatcher = make_dispatcher(app_settings)

    run(dispatcher, event)
    assert llm.requests == [] and github.pulls(REPO) == []

    github.comments(REPO, number)[0].user = github.state.user(github.app.bot_login, "Bot")
    llm.script("fast-a", reply(*GOOD))
    run(dispatcher, Event("issues", event.payload, "d-app-2"))
    assert github.files(REPO, BRANCH.format(n=number)) == expected_files()
    assert the_pull(github).draft


# -- guards -----------------------------------------------------------------------------------


def test_workflow_and_denied_edits_are_refused_and_reported_in_the_pr(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github, config="limits:\n  deny_paths: ['secrets/**']\n")
    bot_spec(github, settings, number)
    workflow = {"path": ".github/workflows/ci.yml", "action": "write", "content": "on: [push, pull_request]\n"}
    secret = {"path": "secrets/key.txt", "action": "write", "content": "x\n"}
    llm.script("fast-a", reply(WRITE_EXPORT, workflow, secret))

    run(make_dispatcher(settings), labeled(number))

    files = github.files(REPO, BRANCH.format(n=number))
    assert files[".github/workflows/ci.yml"] == b"on: push\n" and "secrets/key.txt" not in files
    assert files["widgets/export.py"] == EXPORT.encode()
    body = github.pull_issue(REPO, the_pull(github).number).body or ""
    assert "Refused by the bot's guards" in body
    assert "`.github/workflows/ci.yml`: deny path `.github/workflows/**`" in body
    assert "`secrets/key.txt`: deny path `secrets/**`" in body


def test_only_refused_edits_give_a_comment_and_no_pr(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    llm.script("fast-a", reply({"path": ".github/workflows/ci.yml", "action": "delete"}))

    outcome = run(make_dispatcher(settings), labeled(number))

    assert github.pulls(REPO) == []
    assert "refs/heads/" + BRANCH.format(n=number) not in github.state.repo(REPO).refs
    [notice] = [c.body for c in github.comments(REPO, number) if marker("implement", issue=number) in c.body]
    assert "`.github/workflows/ci.yml`: deny path" in notice and "Nothing was written" in notice
    assert "`openai/fast-a`" in footer_of(notice)
    assert outcome.results[0].outcome == "skipped"


def test_size_caps_stop_the_whole_change(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    llm.script("fast-a", reply(*GOOD))

    run(make_dispatcher(settings, make_config(limits={"max_files_changed": 2})), labeled(number))

    assert github.pulls(REPO) == []
    [notice] = [c.body for c in github.comments(REPO, number) if marker("implement", issue=number) in c.body]
    assert "3 files changed, over the limit of 2" in notice


# -- a second approval -------------------------------------------------------------------------


def test_second_approval_moves_the_branch_and_edits_the_same_pr(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    second_export = EXPORT + "\n\nSECOND = True\n"
    llm.script("fast-a", reply(*GOOD), reply(dict(WRITE_EXPORT, content=second_export), summary="SECOND-SUMMARY"))
    dispatcher = make_dispatcher(settings)
    run(dispatcher, labeled(number))
    branch = BRANCH.format(n=number)
    first_head = github.state.repo(REPO).head(branch)
    first_pull = the_pull(github)

    run(dispatcher, commented(github, number, "/approve"))

    assert github.state.repo(REPO).head(branch) != first_head
    assert github.files(REPO, branch) == {**{p: c.encode() for p, c in BASE.items()},
                                          "widgets/export.py": second_export.encode()}
    pull = the_pull(github)  # still exactly one
    assert pull.number == first_pull.number and pull.draft
    assert "SECOND-SUMMARY" in (github.pull_issue(REPO, pull.number).body or "")
    moves = [w for w in github.writes() if w.method == "PATCH" and "/git/refs/heads/" in w.path]
    assert len(moves) == 1 and moves[0].json["force"] is True
    assert not any(w.path.endswith("/git/refs/heads/main") for w in github.writes())


def test_a_branch_with_someone_elses_commit_is_not_overwritten(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    branch = BRANCH.format(n=number)
    human = github.commit(REPO, branch, {"widgets/fix.py": "HUMAN = 1\n"}, message="A person's fix")

    run(make_dispatcher(settings), labeled(number))

    assert llm.requests == []  # nothing spent
    assert github.state.repo(REPO).head(branch) == human
    [notice] = [c.body for c in github.comments(REPO, number) if marker("implement", issue=number) in c.body]
    assert "commits that the bot did not write" in notice


# -- round trips -------------------------------------------------------------------------------


def made(github: FakeGitHub, since: int = 0) -> list[tuple[str, str]]:
    """(method, path below the repository) of every request to it since ``since``."""
    return [(r.method, r.path.removeprefix(f"/repos/{REPO}/")) for r in github.requests[since:]
            if r.path.startswith(f"/repos/{REPO}/")]


def test_an_approval_reads_each_thing_once_and_sends_small_files_inside_the_tree(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    llm.script("fast-a", reply(*GOOD))
    head = github.state.repo(REPO).head("main")

    run(make_dispatcher(settings), labeled(number))

    assert github.files(REPO, BRANCH.format(n=number)) == expected_files()
    calls = made(github)
    assert ("POST", "git/blobs") not in calls  # small text goes inline in the tree
    # the default branch: its ref and its listing (by name) once each, up front; its head commit
    # only when writing (to confirm the pair, alongside the tree write), after every file read
    reads = [c for c in calls if c[0] == "GET" and c[1].startswith(("git/trees", "git/commits/", "git/ref/heads/main"))]
    assert sorted(reads) == sorted([("GET", "git/ref/heads/main"), ("GET", f"git/commits/{head}"),
                                    ("GET", "git/trees/main")])  # recursive only: it is the prompt's tree too
    last_file_read = max(i for i, c in enumerate(calls) if c[1].startswith("git/blobs/"))
    assert calls.index(("GET", f"git/commits/{head}")) > last_file_read
    assert calls.count(("GET", "pulls")) == 1  # listed once, up front
    assert calls.count(("GET", f"git/ref/heads/{BRANCH.format(n=number)}")) == 1  # not again before the write
    assert [p for _, p in calls if p.startswith("collaborators/")] == ["collaborators/alice/permission"]
    [tree] = [r.json for r in github.requests if r.method == "POST" and r.path.endswith("/git/trees")]
    assert tree["base_tree"] == github.state.store.commits[head].tree  # the SHA computed from the listing
    entries = {e["path"]: e for e in tree["tree"]}
    assert entries["widgets/export.py"]["content"] == EXPORT and "sha" not in entries["widgets/export.py"]
    assert entries["docs/old.md"]["sha"] is None
    # the writes in their safe order: the ref only once its commit exists, the pull once the ref does
    writes = [c for c in calls if c[0] != "GET"]
    assert writes == [("POST", "git/trees"), ("POST", "git/commits"), ("POST", "git/refs"), ("POST", "pulls")]


def test_a_large_file_still_goes_as_its_own_blob(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    big = "".join(f"row {i}\n" for i in range(20_000))  # about 170 kB
    llm.script("fast-a", reply(WRITE_EXPORT, {"path": "data/rows.txt", "action": "write", "content": big}))

    run(make_dispatcher(settings), labeled(number))

    files = github.files(REPO, BRANCH.format(n=number))
    assert files["data/rows.txt"] == big.encode() and files["widgets/export.py"] == EXPORT.encode()
    [blob] = [r.json for r in github.requests if r.method == "POST" and r.path.endswith("/git/blobs")]
    assert blob["content"] == big


def test_a_default_branch_that_moved_between_its_reads_is_not_built_on(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    repo = github.state.repo(REPO)
    old = repo.head("main")
    github.commit(REPO, "main", {"NEW.md": "pushed meanwhile\n"})
    # the head as it was (the ref answered before the push), the tree as it is now
    github.fail("GET", r"/git/ref/heads/main$", 200, git_ref(github.url, repo, "refs/heads/main", old))
    llm.script("fast-a", reply(WRITE_EXPORT))

    outcome = run(make_dispatcher(settings), labeled(number))

    assert github.pulls(REPO) == []
    assert "refs/heads/" + BRANCH.format(n=number) not in repo.refs
    assert not [w for w in github.writes() if w.path.endswith(("/git/commits", "/git/refs"))]
    [notice] = [c.body for c in github.comments(REPO, number) if marker("implement", issue=number) in c.body]
    assert "moved while the bot was reading it" in notice and "Nothing was written" in notice
    assert outcome.results[0].outcome == "failed"


def test_a_truncated_listing_is_named_by_the_head_commit_and_still_built_on(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    repo = github.state.repo(REPO)
    tree = github.state.store.commits[repo.head("main")].tree
    listing = git_tree(github.url, repo, github.state.store, tree, True, 100_000)
    # the one read of the tree by name (the recursive listing) says truncated
    github.fail("GET", r"/git/trees/main$", 200, {**listing, "truncated": True}, times=1)
    llm.script("fast-a", reply(*GOOD))

    run(make_dispatcher(settings), labeled(number))

    assert github.files(REPO, BRANCH.format(n=number)) == expected_files()
    assert ("GET", f"git/trees/{tree}") in made(github)  # listed again by the SHA its commit names
    [posted] = [r.json for r in github.requests if r.method == "POST" and r.path.endswith("/git/trees")]
    assert posted["base_tree"] == tree


def test_a_branch_created_meanwhile_is_read_again_then_written(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    branch = BRANCH.format(n=number)
    github.fail("POST", r"/git/refs$", 422, validation_failed(
        [{"code": "invalid", "resource": "Reference", "field": "ref"}], "Reference already exists"))
    llm.script("fast-a", reply(*GOOD))

    run(make_dispatcher(settings), labeled(number))

    assert github.files(REPO, branch) == expected_files()
    assert made(github).count(("GET", f"git/ref/heads/{branch}")) == 2  # up front, and after the refusal
    assert the_pull(github).draft


def test_a_pull_request_closed_during_the_model_call_is_left_closed_and_a_new_one_opened(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    llm.script("fast-a", reply(*GOOD))
    dispatcher = make_dispatcher(settings)
    run(dispatcher, labeled(number))
    first = the_pull(github)

    def close_then_answer(body: dict[str, Any]) -> str:
        with github.state.lock:
            github.state.repo(REPO).issues[first.number].state = "closed"
        return reply(dict(WRITE_EXPORT, content=EXPORT + "# again\n"))

    llm.default("fast-a", close_then_answer)
    run(dispatcher, commented(github, number, "/approve"))

    pulls = github.pulls(REPO)
    assert len(pulls) == 2 and pulls[-1].number != first.number and pulls[-1].draft
    assert github.state.repo(REPO).issues[first.number].state == "closed"


# -- mid-task switching ------------------------------------------------------------------------


def test_unmatched_search_gets_one_repair_request_then_escalates_to_high_reasoning(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    llm.script("fast-a", reply(WRITE_EXPORT, BAD_CORE), reply(WRITE_EXPORT, BAD_CORE))
    llm.script("reason-a", reply(*GOOD, summary="ESCALATED-SUMMARY"))
    dispatcher = make_dispatcher(settings)

    outcome = run(dispatcher, labeled(number, delivery="d-switch"))

    assert llm.models_called() == ["fast-a", "fast-a", "reason-a"]
    repair = llm.prompts("fast-a")[1]
    assert "widgets/core.py: block 1: search text not found" in repair
    calls = dispatcher.ledger.calls(f"d-switch:implement:#{number}")
    assert [(c.profile, c.model) for c in calls] == [
        ("high-throughput", "openai/fast-a"), ("high-throughput", "openai/fast-a"), ("high-reasoning", "openai/reason-a")]
    assert "repair" in calls[1].reason
    assert calls[2].reason.startswith("escalated: edits failed to apply twice")
    assert github.files(REPO, BRANCH.format(n=number)) == expected_files()
    body = github.pull_issue(REPO, the_pull(github).number).body or ""
    foot = footer_of(body)
    assert foot.count("`openai/fast-a`") == 2 and "**high-reasoning** · `openai/reason-a`" in foot
    assert "Switched to `high-reasoning` mid-task: the edits of `high-throughput` did not apply" in foot
    assert outcome.results[0].model == "openai/reason-a"


def test_edits_failing_after_the_escalation_write_nothing_and_say_why(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    llm.script("fast-a", reply(BAD_CORE), reply(BAD_CORE))
    llm.script("reason-a", reply({"path": "../outside.py", "action": "write", "content": "x"}))

    outcome = run(make_dispatcher(settings), labeled(number))

    assert llm.models_called() == ["fast-a", "fast-a", "reason-a"]
    assert github.pulls(REPO) == []
    assert "refs/heads/" + BRANCH.format(n=number) not in github.state.repo(REPO).refs
    [notice] = [c.body for c in github.comments(REPO, number) if marker("implement", issue=number) in c.body]
    assert "search text not found" in notice and "path traversal" in notice
    assert "Switched to `high-reasoning` mid-task" in footer_of(notice)
    assert outcome.results[0].outcome == "failed"


def test_a_repair_answer_that_is_no_plan_at_all_also_escalates(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    # the bad plan; then, to the repair request, prose twice (the router's own JSON repair too)
    llm.script("fast-a", reply(BAD_CORE), "I cannot do that.", "Still no JSON.")
    llm.script("reason-a", reply(*GOOD))
    dispatcher = make_dispatcher(settings)

    run(dispatcher, labeled(number, delivery="d-invalid"))

    assert llm.models_called() == ["fast-a", "fast-a", "fast-a", "reason-a"]
    assert github.files(REPO, BRANCH.format(n=number)) == expected_files()
    assert "the reply was not a valid edit plan" in llm.prompts("reason-a")[0]


def test_a_failing_escalation_is_reported_with_every_call_made_so_far(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    llm.script("fast-a", reply(BAD_CORE), reply(BAD_CORE))
    llm.script("reason-a", Fail(500))
    llm.script("reason-b", Fail(500))

    outcome = run(make_dispatcher(settings), labeled(number))

    assert llm.models_called() == ["fast-a", "fast-a", "reason-a", "reason-b"]
    assert github.pulls(REPO) == []
    [notice] = [c.body for c in github.comments(REPO, number) if marker("implement", issue=number) in c.body]
    assert "AllModelsFailed" in notice
    foot = footer_of(notice)
    assert foot.count("`openai/fast-a`") == 2 and "Switched to `high-reasoning` mid-task" in foot
    assert outcome.results[0].outcome == "failed"


def test_a_spent_budget_is_reported_and_nothing_is_written(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)

    outcome = run(make_dispatcher(settings, make_config(budgets={"per_job_usd": 0})), labeled(number))

    assert llm.requests == [] and github.pulls(REPO) == []
    [notice] = [c.body for c in github.comments(REPO, number) if marker("implement", issue=number) in c.body]
    assert "budget" in notice and "Nothing was written" in notice
    assert outcome.results[0].outcome == "failed"


# -- dry run -----------------------------------------------------------------------------------


def _planned(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def _check_plan(planned: list[dict[str, Any]], number: int) -> None:
    steps = [(p["method"], p["path"].split("/", 4)[-1]) for p in planned]
    # a small text file goes inline in the tree: no blob write
    assert steps == [("POST", "git/trees"), ("POST", "git/commits"), ("POST", "git/refs"), ("POST", "pulls")], steps
    assert planned[0]["body"]["tree"] == [{"path": "widgets/export.py", "mode": "100644", "type": "blob", "content": EXPORT}]
    assert planned[2]["body"]["ref"] == f"refs/heads/{BRANCH.format(n=number)}"
    pull = planned[3]["body"]
    assert pull["draft"] is True and pull["head"] == BRANCH.format(n=number) and pull["base"] == "main"
    assert "`openai/fast-a`" in pull["body"] and f"Closes #{number}" in pull["body"]


def test_dry_run_plans_tree_commit_ref_and_draft_pr_and_writes_nothing(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_config: Any
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    llm.script("fast-a", reply(WRITE_EXPORT))
    before = len(github.writes())
    lines: list[str] = []

    outcome = dispatch_once(settings, make_config(), labeled(number), dry_run=True, emit=lines.append)

    _check_plan(_planned(lines), number)
    assert len(github.writes()) == before
    assert outcome.results[0].model == "openai/fast-a"


def test_replay_dry_run_prints_the_planned_writes(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    number = seed(github)
    bot_spec(github, settings, number)
    llm.script("fast-a", reply(WRITE_EXPORT))
    config = tmp_path / "operator.yml"
    profiles = {p: [{**m, "api_base": llm.url, "api_key": "test-key-not-secret"} for m in ms] for p, ms in TEST_MODELS.items()}
    config.write_text(yaml.safe_dump({"profiles": profiles, "retries": 0}))
    event = tmp_path / "event.json"
    event.write_text(json.dumps(labeled(number).payload))
    env = {"GITHUB_TOKEN": ACTION_TOKEN, "GITHUB_API_URL": github.url, "MODEL_ROUTING_CONFIG": str(config),
           "MODEL_ROUTING_DATA_DIR": str(tmp_path / "data"), "GITHUB_WEBHOOK_SECRET": settings.webhook_secret or "",
           "MODEL_ROUTING_BOT_LOGIN": BOT}  # an installation token cannot ask GitHub who it is
    before = len(github.writes())

    code = replay.run(argparse.Namespace(event="issues", payload=str(event), dry_run=True), env=env)

    assert code == 0
    _check_plan(_planned(capsys.readouterr().out.splitlines()), number)
    assert len(github.writes()) == before
