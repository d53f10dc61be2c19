"""Phase 3 end to end: a large pull request gets one review from the massive-context profile.

Every test runs the real dispatcher against the fake GitHub and the fake LLM, with events built
from GitHub's own example payloads. The generated pull request has 400 files and 30,000 changed
lines: 300 modified files (two hunks each) and 100 added ones.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from bot.config import Config
from bot.dispatch.dispatcher import Dispatcher, Outcome
from bot.dispatch.events import Event
from bot.llm import catalog
from bot.settings import Settings
from tests.conftest import TEST_MODELS
from tests.fakes.fixtures import payload
from tests.fakes.github import FakeGitHub
from tests.fakes.llm import Fail, FakeLLM, Hang

REPO = "acme/engine"
MODIFIED, ADDED = 300, 100
DIFF_PIECE = re.compile(r"^### Diff of `([^`]+)`", re.MULTILINE)
COVERAGE_TOKENS = re.compile(r"; ([\d,]+) tokens read")


def base_file(i: int) -> str:
    return "".join(f"value_{i}_{j} = {j}\n" for j in range(1, 41))


def head_file(i: int) -> str:
    """Two hunks: 30 lines added after line 20 (head lines 21-50) and 30 at the end (71-100)."""
    lines = base_file(i).splitlines(keepends=True)
    middle = [f"inserted_{i}_{k} = {k}\n" for k in range(30)]
    end = [f"appended_{i}_{k} = {k}\n" for k in range(30)]
    return "".join(lines[:20] + middle + lines[20:] + end)


def modified_path(i: int) -> str:
    return f"src/pkg{i % 20}/mod{i:03d}.py"


def seed_large(github: FakeGitHub, *, draft: bool = False, head_repo: str | None = None) -> tuple[int, dict[str, Any]]:
    """The repository and the 400-file pull request; -> (number, the pull_request fields)."""
    base = {modified_path(i): base_file(i) for i in range(MODIFIED)}
    base["README.md"] = "# Engine\n"
    github.create_repo(REPO, base, roles={"alice": "write", "mallory": "read"})
    changes: dict[str, str | bytes | None] = {modified_path(i): head_file(i) for i in range(MODIFIED)}
    changes.update({f"lib/new{i:03d}.py": "".join(f"added_{i}_{k} = {k}\n" for k in range(120)) for i in range(ADDED)})
    if head_repo:
        github.create_repo(head_repo, base, roles={}, fork_of=REPO)
    pull = github.open_pull(REPO, "feature", changes, title="Rework the engine", draft=draft, head_repo=head_repo)
    return pull.number, pull_fields(pull, MODIFIED * 60 + ADDED * 120, 0, MODIFIED + ADDED, draft, head_repo)


def seed_small(github: FakeGitHub) -> tuple[int, dict[str, Any]]:
    github.create_repo(REPO, {"src/a.py": base_file(1), "README.md": "# Engine\n"}, roles={"alice": "write"})
    pull = github.open_pull(REPO, "small", {"src/a.py": head_file(1)}, title="A small change")
    return pull.number, pull_fields(pull, 60, 0, 1, False, None)


def pull_fields(pull: Any, additions: int, deletions: int, files: int, draft: bool, head_repo: str | None) -> dict[str, Any]:
    return {"number": pull.number, "draft": draft, "state": "open", "additions": additions,
            "deletions": deletions, "changed_files": files, "title": "Rework the engine",
            "head": {"sha": pull.last_head, "ref": pull.head_ref, "repo": {"full_name": head_repo or REPO}},
            "base": {"ref": "main", "repo": {"full_name": REPO}}}


def pr_event(fields: dict[str, Any], action: str = "opened", delivery: str = "d-pr", **extra: Any) -> Event:
    body = payload("pull_request", action, repo=REPO, sender="alice", pull_request=fields, **extra)
    return Event("pull_request", body, delivery)


def comment_event(github: FakeGitHub, number: int, text: str, *, pr: bool, delivery: str = "d-comment") -> Event:
    comment = github.add_comment(REPO, number, text, user="alice")
    issue: dict[str, Any] = {"number": number, "title": "Rework the engine"}
    if pr:
        issue["pull_request"] = {"url": f"{github.url}/repos/{REPO}/pulls/{number}"}
    body = payload("issue_comment", "created", repo=REPO, sender="alice", issue=issue,
                   comment={"id": comment.id, "body": text, "user": {"login": "alice", "type": "User"}})
    return Event("issue_comment", body, delivery)


def review_reply(body: dict[str, Any]) -> str:
    """The fake model's review: a finding on a diff line of the first modified file it was shown,
    one on a line outside the diff, one on an added file."""
    prompt = "\n".join(str(m.get("content")) for m in body["messages"])
    paths = DIFF_PIECE.findall(prompt)
    modified = [p for p in paths if p.startswith("src/")]
    added = [p for p in paths if p.startswith("lib/")]
    findings = []
    if modified:
        findings += [
            {"path": modified[0], "line": 21, "severity": "major", "message": "INLINE-FINDING off by one"},
            {"path": modified[0], "line": 10, "severity": "minor", "message": "OUTSIDE-DIFF finding"},
        ]
    if added:
        findings.append({"path": added[0], "line": 5, "severity": "nit", "message": "ADDED-FILE naming"})
    return "```json\n" + json.dumps({"summary": "Reworks the engine.", "verdict": "minor-issues",
                                     "findings": findings}) + "\n```"


def run(dispatcher: Dispatcher, event: Event, **kwargs: Any) -> Outcome:
    return dispatcher.run_once(event, **kwargs)


def files_requests(github: FakeGitHub, number: int) -> int:
    return sum(1 for r in github.requests if r.method == "GET" and r.path == f"/repos/{REPO}/pulls/{number}/files")


def small_window(make_config: Callable[..., Config]) -> Config:
    profiles = {**TEST_MODELS, "massive-context": [
        {**TEST_MODELS["massive-context"][0], "max_input_tokens": 60_000},
        {**TEST_MODELS["massive-context"][1], "max_input_tokens": 50_000},
    ]}
    return make_config(profiles=profiles)


# -- the review ---------------------------------------------------------------------------------


def test_large_pr_gets_one_review_from_the_massive_context_model_once_per_sha(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Callable[..., Config]
) -> None:
    number, fields = seed_large(github)
    llm.default("wide-a", review_reply)
    # room in the cap for all 300 head versions and their related files (the default is 200k)
    dispatcher = make_dispatcher(settings, make_config(limits={"context_tokens": 1_000_000}))

    outcome = run(dispatcher, pr_event(fields, delivery="d-first"))

    assert llm.models_called() == ["wide-a"]
    [review] = github.reviews(REPO, number)
    assert review.state == "COMMENTED"
    [posted] = [r for r in github.writes() if r.path.endswith(f"/pulls/{number}/reviews")]
    assert posted.json["event"] == "COMMENT" and posted.json["commit_id"] == fields["head"]["sha"]
    # inline: only the findings on right-side diff lines; every one on a valid line
    placed = {(c.path, c.line, c.side) for c in review.comments}
    assert placed == {(modified_path(0), 21, "RIGHT"), ("lib/new000.py", 5, "RIGHT")}
    body = review.body
    assert f"<!-- model-routing:review pr={number} sha={fields['head']['sha']} -->" in body
    assert "OUTSIDE-DIFF finding _(not inline: line 10 is not part of the diff)_" in body
    assert "INLINE-FINDING" not in body
    # coverage: every file, every changed line, the head versions, and the tokens sent
    assert "**Coverage:** 400 of 400 changed files read (30,000 changed lines), the whole head version of 300 of them" in body
    [sent] = llm.requests
    counted = catalog.count_tokens(sent["messages"], "openai/wide-a")
    reported = int(COVERAGE_TOKENS.search(body).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert abs(reported - counted) <= 0.02 * counted, (reported, counted)
    assert "1,048,576-token window" in body and "chunks" not in body
    assert "**massive-context** · `openai/wide-a`" in body
    # the file list read to the end at 100 a page, never the diff media type
    assert files_requests(github, number) == 4
    assert not any("diff" in r.headers.get("accept", "") for r in github.requests)
    [result] = outcome.results
    assert (result.phase, result.outcome, result.model) == ("review", "ok", "openai/wide-a")

    # a second delivery for the same head SHA (a redelivery, a re-run) writes nothing
    writes, calls = len(github.writes()), len(llm.requests)
    again = run(dispatcher, pr_event(fields, action="synchronize", delivery="d-again"))
    assert len(github.writes()) == writes and len(llm.requests) == calls
    assert len(github.reviews(REPO, number)) == 1
    [result] = again.results
    assert result.outcome == "skipped" and "already reviewed" in result.detail


def test_two_deliveries_at_once_for_one_head_sha_make_one_review(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number, fields = seed_large(github)
    reply = "```json\n" + json.dumps({"summary": "Reworks the engine.", "verdict": "looks-good", "findings": []}) + "\n```"
    llm.script("wide-a", Hang(0.3, then=reply), Hang(0.3, then=reply))  # both list no review yet
    dispatcher = make_dispatcher(settings)

    async def both() -> list[Outcome]:
        try:
            return list(await asyncio.gather(
                dispatcher.dispatch(pr_event(fields, delivery="d-opened")),
                dispatcher.dispatch(comment_event(github, number, "/review", pr=True, delivery="d-command"))))
        finally:
            await dispatcher.aclose()

    results = [r for outcome in asyncio.run(both()) for r in outcome.results]

    assert len(github.reviews(REPO, number)) == 1 and len(llm.requests) == 1  # paid for once
    assert sorted((r.phase, r.outcome) for r in results) == [("review", "ok"), ("review", "skipped")]
    [skipped] = [r for r in results if r.outcome == "skipped"]
    assert skipped.detail == f"another delivery is reviewing {fields['head']['sha'][:7]}"


def test_a_failed_review_lets_go_of_its_hold_and_a_posted_one_keeps_it(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number, fields = seed_large(github)
    key = f"review:{REPO}#{number}@{fields['head']['sha']}"
    llm.script("wide-a", Fail(400, message="scripted refusal"))
    llm.script("wide-b", Fail(400, message="scripted refusal"))
    dispatcher = make_dispatcher(settings)

    [failed] = run(dispatcher, pr_event(fields, delivery="d-fails")).results
    assert failed.outcome == "failed" and github.reviews(REPO, number) == []
    assert dispatcher.holds.hold(key, "d-other", 60)  # let go: a later trigger may review
    dispatcher.holds.unhold(key, "d-other")

    llm.default("wide-a", review_reply)
    [done] = run(dispatcher, pr_event(fields, delivery="d-works")).results
    assert done.outcome == "ok" and len(github.reviews(REPO, number)) == 1
    assert not dispatcher.holds.hold(key, "d-other", 60)  # kept after posting
    assert dispatcher.holds.hold(key, "d-works", 60)  # its own delivery, run again, takes it back


def test_the_change_is_read_in_the_same_round_trip_as_the_pull_request(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    """The webhook names the head SHA and the file count, so the head tree and every files page
    are requested together with the pull request and its reviews, not after their answers, and
    all of them before the first blob."""
    number, fields = seed_large(github)
    llm.default("wide-a", review_reply)
    pull, reviews = f"/repos/{REPO}/pulls/{number}", f"/repos/{REPO}/pulls/{number}/reviews"
    tree = f"/repos/{REPO}/git/trees/{fields['head']['sha']}"

    run(make_dispatcher(settings), pr_event(fields))

    log = [r.path for r in github.requests if r.method == "GET"]
    log = log[log.index(f"/repos/{REPO}/contents/.github/model-routing.yml"):]  # this delivery's
    first_blob = next(i for i, path in enumerate(log) if "/git/blobs/" in path)
    wave = [log.index(path) for path in (pull, reviews, tree)]
    wave += [i for i, path in enumerate(log) if path == f"{pull}/files"]
    assert len(wave) == 3 + 4 and max(wave) < first_blob, log[: first_blob + 1]
    assert len(github.reviews(REPO, number)) == 1

    # the proof that they do not wait: the pull request's read fails (after a delay, so the
    # answer cannot overtake requests already issued), yet the tree and every page were asked for
    github.reset()
    calls = len(llm.requests)
    number, fields = seed_large(github)
    github.fail("GET", rf"/pulls/{number}$", 404, {"message": "Not Found", "status": "404",
                "documentation_url": "https://docs.github.com/rest/pulls/pulls#get-a-pull-request"})
    github.set_latency(0.2)
    with pytest.raises(Exception, match="404"):  # the job fails, as any failed read fails it
        run(make_dispatcher(settings), pr_event(fields, delivery="d-fails"))

    log = [r.path for r in github.requests if r.method == "GET"]
    log = log[log.index(f"/repos/{REPO}/contents/.github/model-routing.yml"):]
    assert f"/repos/{REPO}/git/trees/{fields['head']['sha']}" in log
    assert log.count(f"/repos/{REPO}/pulls/{number}/files") == 4
    assert not any("/git/blobs/" in path for path in log) and github.writes() == []
    assert len(llm.requests) == calls


def test_small_pr_is_reviewed_only_on_request(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number, fields = seed_small(github)
    llm.default("wide-a", review_reply)
    dispatcher = make_dispatcher(settings)

    run(dispatcher, pr_event(fields))
    assert llm.requests == [] and github.writes() == []

    outcome = run(dispatcher, comment_event(github, number, "/review", pr=True))

    [review] = github.reviews(REPO, number)
    assert review.state == "COMMENTED" and "`/review` from alice" in review.body
    assert "**Coverage:** 1 of 1 changed files read (60 changed lines)" in review.body
    assert [(c.path, c.line) for c in review.comments] == [("src/a.py", 21)]
    assert [r.phase for r in outcome.results] == ["review"]


def test_context_files_stop_at_limits_context_tokens_and_the_coverage_says_so(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Callable[..., Config]
) -> None:
    number, fields = seed_large(github)
    llm.default("wide-a", review_reply)
    config = make_config(limits={"context_tokens": 20_000})  # the window would hold all 300

    [result] = run(make_dispatcher(settings, config), pr_event(fields)).results

    [review] = github.reviews(REPO, number)
    heads = re.search(r"the whole head version of (\d+) of them", review.body)
    assert heads is not None and 0 < int(heads.group(1)) < 300
    # a head file is about 1,000 tokens with its line numbers: 20,000 tokens hold fewer than 20
    assert int(heads.group(1)) < 20
    assert "limits.context_tokens (20,000 tokens of context files) reached" in review.body
    assert result.outcome == "ok"


def test_draft_pr_is_skipped(github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any) -> None:
    _, fields = seed_large(github, draft=True)
    outcome = run(make_dispatcher(settings), pr_event(fields))
    assert llm.requests == [] and github.writes() == [] and outcome.results == []


def test_a_switched_off_action_is_skipped(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Callable[..., Config]
) -> None:
    _, fields = seed_large(github)
    config = make_config(triggers={"review_on": ["opened"]})
    run(make_dispatcher(settings, config), pr_event(fields, action="synchronize"))
    assert llm.requests == [] and github.writes() == []


def test_bigger_than_the_window_is_chunked_and_keeps_the_worst_verdict(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Callable[..., Config]
) -> None:
    number, fields = seed_large(github)
    worst = modified_path(7)

    def reply(body: dict[str, Any]) -> str:
        prompt = "\n".join(str(m.get("content")) for m in body["messages"])
        paths = DIFF_PIECE.findall(prompt)
        if worst in paths:  # one chunk finds something critical yet calls itself fine
            data = {"summary": "CRITICAL-CHUNK", "verdict": "looks-good",
                    "findings": [{"path": worst, "line": 22, "severity": "critical", "message": "DATA-LOSS"}]}
        else:
            data = {"summary": "fine", "verdict": "minor-issues",
                    "findings": [{"path": paths[0], "line": None, "severity": "nit", "message": f"NIT {paths[0]}"}]}
        return json.dumps(data)

    llm.default("wide-a", reply)
    run(make_dispatcher(settings, small_window(make_config)), pr_event(fields))

    calls = len(llm.requests)
    assert calls > 1 and set(llm.models_called()) == {"wide-a"}
    for sent in llm.requests:  # every chunk fits the small window with the reserve
        assert catalog.count_tokens(sent["messages"], "openai/wide-a") + 16_000 <= 60_000
    shown = [p for sent in llm.requests for m in sent["messages"] for p in DIFF_PIECE.findall(str(m["content"]))]
    assert set(shown) == {modified_path(i) for i in range(MODIFIED)} | {f"lib/new{i:03d}.py" for i in range(ADDED)}
    [review] = github.reviews(REPO, number)
    assert review.body.splitlines()[1].endswith(": blocking issues")
    assert f"reviewed in {calls} chunks" in review.body and f"in {calls} chunks" in review.body
    assert "**Coverage:** 400 of 400 changed files read (30,000 changed lines), the repository tree" in review.body
    assert [(c.path, c.line) for c in review.comments if "DATA-LOSS" in c.body] == [(worst, 22)]


def test_dry_run_plans_one_review_naming_the_model_and_coverage(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number, fields = seed_large(github)
    llm.default("wide-a", review_reply)
    printed: list[str] = []

    outcome = run(make_dispatcher(settings), pr_event(fields), dry_run=True, emit=printed.append)

    assert github.writes() == []
    [planned] = [json.loads(line) for line in printed]
    assert planned["method"] == "POST" and planned["path"] == f"/repos/{REPO}/pulls/{number}/reviews"
    assert planned["body"]["event"] == "COMMENT"
    assert "`openai/wide-a`" in planned["body"]["body"] and "**massive-context**" in planned["body"]["body"]
    assert "**Coverage:** 400 of 400 changed files read" in planned["body"]["body"]
    assert outcome.planned_writes == [planned]


def test_fork_pr_is_reviewed_from_the_api_in_app_mode(
    github: FakeGitHub, llm: FakeLLM, app_settings: Settings, make_dispatcher: Any
) -> None:
    github.create_repo(REPO, {"README.md": "# Engine\n"}, roles={"alice": "write"})
    github.create_repo("mallory/engine", {"README.md": "# Engine\n"}, fork_of=REPO)
    files = {f"lib/f{i:02d}.py": f"x_{i} = {i}\n" for i in range(30)}  # reaches large_pr.files
    pull = github.open_pull(REPO, "feature", files, head_repo="mallory/engine", user="mallory")
    fields = pull_fields(pull, 30, 0, 30, False, "mallory/engine")
    llm.default("wide-a", review_reply)

    run(make_dispatcher(app_settings), pr_event(fields, installation_id=github.app.installation_id))

    [review] = github.reviews(REPO, pull.number)
    assert review.user.login == github.app.bot_login and review.state == "COMMENTED"
    assert "**Coverage:** 30 of 30 changed files read (30 changed lines)" in review.body
    assert review.comments == [] and "ADDED-FILE naming _(not inline: line 5 is not part of the diff)_" in review.body
