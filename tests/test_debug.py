"""The debug phase end to end: red CI on the bot's draft pull request is diagnosed by the
high-reasoning model and fixed by the high-throughput model, in bounded rounds; ``/debug`` and
``/fix``.

The world is real where it can be: the repository is the small project of tests/fakes/ci_logs.py
with its real bug, the failing job log and its annotations come from a real pytest run on it,
the CI events are GitHub's own example payloads filled with the fake's values
(tests/fakes/github_events.py), and the job log is served behind a 302 to another host. The
first test goes through the real implement phase to open the draft pull request; the others
seed the same branch and pull request directly, as that phase leaves them.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.cli.runner import dispatch_once
from bot.dispatch.dispatcher import Dispatcher, Outcome
from bot.dispatch.events import Event
from bot.github.comments import marker
from bot.settings import Settings
from tests.fakes.ci_logs import PROJECT, CIFailure, run_pytest
from tests.fakes.fixtures import payload
from tests.fakes.github import FakeGitHub
from tests.fakes.github_events import check_suite_completed, workflow_run_completed
from tests.fakes.github_routes_pulls import open_pull
from tests.fakes.github_state_ci import WorkflowRun
from tests.fakes.llm import FakeLLM
from tests.specs import spec_body

REPO = "acme/textstats"
BOT = "github-actions[bot]"  # the Action token's login in the fake
ISSUE_TITLE = "Document peak()"
BUGGY = "        found.append([values[i] for i in range(start, start + width + 1)])  # up to the end of the window\n"
FIXED = "        found.append([values[i] for i in range(start, start + width)])\n"
FIX_EDIT = {"path": "textstats/windows.py", "action": "edit", "blocks": [{"search": BUGGY, "replace": FIXED}]}
DOC_EDIT = {"path": "textstats/report.py", "action": "edit",
            "blocks": [{"search": "def peak(values):\n", "replace": 'def peak(values):\n    """The largest value."""\n'}]}


# -- the scene --------------------------------------------------------------------------------


def seed(github: FakeGitHub, config: str | None = None) -> int:
    files = {"README.md": "# textstats\n", **PROJECT, ".github/workflows/ci.yml": "on: pull_request\n"}
    if config is not None:
        files[".github/model-routing.yml"] = config
    github.create_repo(REPO, files, roles={"alice": "write", "mallory": "read"})
    return github.add_issue(REPO, ISSUE_TITLE, "peak() needs a docstring.", user="alice").number


def spec_data() -> dict[str, Any]:
    return {"title": "Document peak", "summary": "SPEC-SUMMARY give peak() a docstring.",
            "requirements": ["peak() has a docstring"], "design": "One line.",
            "files_to_change": [{"path": "textstats/report.py", "action": "modify", "why": "the docstring"}],
            "test_plan": ["the tests pass"], "acceptance_checks": ["CI is green"]}


def bot_spec(github: FakeGitHub, settings: Settings, number: int) -> None:
    github.add_comment(REPO, number, spec_body(number, settings.webhook_secret, spec_data()), user=BOT)


def bot_pull(github: FakeGitHub, settings: Settings, issue: int) -> int:
    """The bot's branch and draft pull request as the implement phase leaves them."""
    bot_spec(github, settings, issue)
    branch = f"model-routing/issue-{issue}"
    github.commit(REPO, branch, {"textstats/report.py": PROJECT["textstats/report.py"].replace(
        "def peak(values):\n", 'def peak(values):\n    """The largest value."""\n')},
        message=f"{ISSUE_TITLE}\n\nWritten by Model Routing Bot.\n\nModel-Routing-Issue: {issue}\n", author=BOT)
    with github.state.lock:
        repo = github.state.repo(REPO)
        pull = open_pull(github.state, repo, repo, branch, "main", ISSUE_TITLE, f"Closes #{issue}",
                         github.state.user(BOT), draft=True)
    return pull.number


def red_run(github: FakeGitHub, ci: CIFailure, issue: int, *, conclusion: str = "failure", name: str = "CI") -> WorkflowRun:
    """GitHub Actions ran the real failing pytest on the branch's head."""
    branch = f"model-routing/issue-{issue}"
    head = github.state.repo(REPO).head(branch)
    return github.add_workflow_run(REPO, head, branch, name=name, event="pull_request", conclusion=conclusion,
                                   actor=BOT, jobs=[{"name": "test", "log": ci.log, "annotations": ci.annotations}])


def workflow_event(github: FakeGitHub, run: WorkflowRun, delivery: str = "d-run", **kw: Any) -> Event:
    return Event("workflow_run", workflow_run_completed(github, run, sender=BOT, **kw), delivery)


def suite_event(github: FakeGitHub, run: WorkflowRun, delivery: str = "d-suite", **kw: Any) -> Event:
    return Event("check_suite", check_suite_completed(github, run, sender=BOT, **kw), delivery)


def comment(github: FakeGitHub, number: int, text: str, *, sender: str = "alice", delivery: str = "d-comment") -> Event:
    """A comment on pull request ``number``, as GitHub sends it."""
    made = github.add_comment(REPO, number, text, user=sender)
    issue = {"number": number, "title": ISSUE_TITLE, "pull_request": {"url": f"{github.url}/repos/{REPO}/pulls/{number}"}}
    body = payload("issue_comment", "created", repo=REPO, sender=sender, issue=issue,
                   comment={"id": made.id, "body": text, "user": {"login": sender, "type": "User"}})
    return Event("issue_comment", body, delivery)


def reply_to(github: FakeGitHub, number: int, kind: str) -> str:
    [body] = [c.body for c in github.comments(REPO, number) if c.body.startswith(f"<!-- model-routing:{kind} comment=")]
    return body


def diagnosis(**extra: Any) -> str:
    data = {
        "summary": "DIAG-SUMMARY moving_average raises IndexError: windows() takes one value too many.",
        "root_cause": "textstats/windows.py line 10 builds each window with range(start, start + width + 1).",
        "evidence": ["E   IndexError: list index out of range", "textstats/windows.py:10: IndexError"],
        "files": ["textstats/windows.py"],
        "fix_plan": [{"path": "textstats/windows.py", "change": "use range(start, start + width)"}],
        "fixable": True,
        "suggestions": [{"path": "textstats/windows.py", "start_line": 10, "end_line": 10, "replacement": FIXED}],
        **extra,
    }
    return "```json\n" + json.dumps(data) + "\n```"


def edits(*items: dict[str, Any], summary: str = "FIX-SUMMARY windows stop at their width.") -> str:
    return "```json\n" + json.dumps({"summary": summary, "edits": list(items)}) + "\n```"


def run(dispatcher: Dispatcher, event: Event) -> Outcome:
    return dispatcher.run_once(event)


def head(github: FakeGitHub, issue: int) -> str:
    return github.state.repo(REPO).head(f"model-routing/issue-{issue}") or ""


def message(github: FakeGitHub, sha: str) -> str:
    return github.state.store.commits[sha].message


def round_comments(github: FakeGitHub, number: int) -> list[str]:
    return [c.body for c in github.comments(REPO, number) if "<!-- model-routing:fix-round" in c.body]


def stop_comments(github: FakeGitHub, number: int) -> list[str]:
    return [c.body for c in github.comments(REPO, number) if c.body.startswith(marker("fix-stopped", pr=number))]


def git_writes(github: FakeGitHub) -> list[tuple[str, str]]:
    return [(w.method, w.path) for w in github.writes() if "/git/" in w.path]


def footer_of(body: str) -> str:
    return body[body.rindex("<sub>"):]


def pytest_passes(github: FakeGitHub, ref: str, where: Path) -> bool:
    """Run the real pytest on the files at ``ref``: what CI would do on the fix."""
    for path, content in github.files(REPO, ref).items():
        (where / path).parent.mkdir(parents=True, exist_ok=True)
        (where / path).write_bytes(content)
    return run_pytest(where)[1] == 0


# -- a red run on the bot's draft pull request -------------------------------------------------


def test_red_ci_on_the_bots_draft_pr_gets_one_diagnosis_and_one_fix_commit(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure, tmp_path: Path
) -> None:
    issue = seed(github)
    bot_spec(github, settings, issue)
    dispatcher = make_dispatcher(settings)
    llm.script("fast-a", edits(DOC_EDIT, summary="Docstring."))
    approval = payload("issues", "labeled", repo=REPO, sender="alice", issue={"number": issue, "title": ISSUE_TITLE},
                       label={"name": "spec-approved"})
    run(dispatcher, Event("issues", approval, "d-approve"))  # the real implement phase opens the draft PR
    [pull] = github.pulls(REPO)
    implemented = head(github, issue)
    red = red_run(github, ci, issue)
    llm.script("reason-a", diagnosis())
    llm.script("fast-a", edits(FIX_EDIT))
    before = len(llm.requests)

    outcome = run(dispatcher, workflow_event(github, red))  # sent by the bot: CI results pass

    assert llm.models_called()[-2:] == ["reason-a", "fast-a"] and len(llm.requests) == before + 2
    fixed = head(github, issue)
    assert github.state.store.commits[fixed].parents == (implemented,)  # on top of the SHA CI ran on
    text = message(github, fixed)
    assert text.endswith(f"\n\nModel-Routing-Issue: {issue}\nModel-Routing-Fix-Round: 1\n")
    assert "Diagnosed by openai/reason-a (high-reasoning); edits by openai/fast-a" in text
    files = github.files(REPO, pull.head_ref)
    assert files["textstats/windows.py"].decode().splitlines()[9] == FIXED.rstrip("\n")
    assert pytest_passes(github, pull.head_ref, tmp_path / "after")  # the real pytest is green now
    assert github.state.repo(REPO).head("main") == github.state.store.commits[implemented].parents[0]
    # the diagnosis saw the cut log, the annotation and the file at the head, numbered; no runner noise
    prompt = llm.prompts("reason-a")[0]
    assert "FAILED tests/test_report.py::test_moving_average - IndexError: list index out of range" in prompt
    assert "textstats/windows.py:10 (failure): test_moving_average failed: IndexError" in prompt
    assert "    10          found.append([values[i] for i in range(start, start + width + 1)])" in prompt
    assert "SPEC-SUMMARY" in prompt and "2026-12-06T08:00" not in prompt and "log lines shown" in prompt
    edit_prompt = llm.prompts("fast-a")[-1]
    assert "DIAG-SUMMARY" in edit_prompt and f'<file path="textstats/windows.py">\n{PROJECT["textstats/windows.py"]}' in edit_prompt
    # the log came from the other host, which never saw the token
    assert [r.status for r in github.log_host_requests] == [200]
    assert not any("authorization" in r.headers for r in github.log_host_requests)
    # one status comment: what failed, the diagnosis, what changed, who did what, the round
    [status] = round_comments(github, pull.number)
    assert status.startswith(marker("fix-round", pr=pull.number, round=1, sha=implemented))
    assert "## CI fix round 1 of 2" in status
    assert f"[`test`](https://github.com/{REPO}/actions/runs/{red.id}/job/{red.job_ids[0]}) (failure)" in status
    assert "First failing test: `FAILED tests/test_report.py::test_moving_average" in status
    assert "**DIAG-SUMMARY moving_average raises IndexError" in status
    assert f"Commit [`{fixed[:7]}`](https://github.com/{REPO}/commit/{fixed})" in status
    assert "- `textstats/windows.py` (changed)" in status
    assert "- Diagnosis: **high-reasoning** `openai/reason-a`" in status
    assert "- Edits: **high-throughput** `openai/fast-a`" in status
    assert "round 2 follows, and its edits are written by the reasoning model" in status
    foot = footer_of(status)
    assert "**high-reasoning** · `openai/reason-a`" in foot and "**high-throughput** · `openai/fast-a`" in foot
    [job] = outcome.results
    assert (job.phase, job.outcome) == ("debug", "ok") and job.detail.startswith("round 1 of 2: commit")
    calls = dispatcher.ledger.calls(f"d-run:debug:#{pull.number}")
    # both calls are the round's (its phase's cost); the edits on the implement phase's profile
    assert [(c.phase, c.profile, c.model) for c in calls] == [
        ("debug", "high-reasoning", "openai/reason-a"), ("debug", "high-throughput", "openai/fast-a")]
    assert calls[1].reason.startswith("fix round 1: the edits, on the implement phase's profile (phase implement")
    assert dispatcher.ledger.job(f"d-run:debug:#{pull.number}")["outcome"] == "ok"


def test_the_two_events_for_one_head_sha_give_one_round(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    issue = seed(github)
    number = bot_pull(github, settings, issue)
    red = red_run(github, ci, issue)
    llm.script("reason-a", diagnosis(), diagnosis())
    llm.script("fast-a", edits(FIX_EDIT), edits(FIX_EDIT))
    dispatcher = make_dispatcher(settings)

    async def both() -> list[Outcome]:  # GitHub sends them together
        try:
            return list(await asyncio.gather(dispatcher.dispatch(suite_event(github, red)),
                                             dispatcher.dispatch(workflow_event(github, red))))
        finally:
            await dispatcher.aclose()

    outcomes = asyncio.run(both())
    again = run(dispatcher, workflow_event(github, red, delivery="d-redelivered"))

    assert llm.models_called() == ["reason-a", "fast-a"]
    assert len(round_comments(github, number)) == 1
    assert [w for w in git_writes(github) if w[0] == "PATCH"] == [
        ("PATCH", f"/repos/{REPO}/git/refs/heads/model-routing/issue-{issue}")]
    details = sorted(r.detail for o in outcomes for r in o.results)
    assert details[0].startswith(("a round at", "round 1 already ran"))
    assert details[1].startswith("round 1 of 2: commit")
    assert [r.outcome for r in again.results] == ["skipped"] and "has moved on" in again.results[0].detail


def test_a_second_red_run_escalates_the_edits_to_the_reasoning_model(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    issue = seed(github)
    number = bot_pull(github, settings, issue)
    llm.script("reason-a", diagnosis())
    # round 1's edit applies but does not fix it: the test still fails on the next run
    llm.script("fast-a", edits({"path": "textstats/windows.py", "action": "edit", "blocks": [
        {"search": "    found = []\n", "replace": "    found = []  # collected windows\n"}]}))
    dispatcher = make_dispatcher(settings)
    run(dispatcher, workflow_event(github, red_run(github, ci, issue)))
    first = head(github, issue)
    llm.script("reason-a", diagnosis(summary="DIAG-TWO still off by one"), edits(FIX_EDIT, summary="REASONED-FIX"))

    outcome = run(dispatcher, workflow_event(github, red_run(github, ci, issue), delivery="d-second"))

    assert llm.models_called() == ["reason-a", "fast-a", "reason-a", "reason-a"]  # no fast-a in round 2
    second = head(github, issue)
    assert github.state.store.commits[second].parents == (first,)
    assert message(github, second).endswith(f"Model-Routing-Issue: {issue}\nModel-Routing-Fix-Round: 2\n")
    assert "REASONED-FIX" in message(github, second)
    calls = dispatcher.ledger.calls(f"d-second:debug:#{number}")
    assert [(c.phase, c.profile) for c in calls] == [("debug", "high-reasoning"), ("debug", "high-reasoning")]
    assert calls[1].reason.startswith("fix round 2: CI still failed after round 1's fix")
    status = [b for b in round_comments(github, number) if "round=2" in b.split("\n", 1)[0]]
    assert len(status) == 1 and "## CI fix round 2 of 2" in status[0]
    assert "- Edits: **high-reasoning** `openai/reason-a`: fix round 2" in status[0]
    assert "Edits written by `high-reasoning` from the start" in footer_of(status[0])
    assert "This was the last round" in status[0]
    assert outcome.results[0].detail.startswith("round 2 of 2")


def test_after_the_last_round_the_bot_says_so_once_and_writes_nothing_more(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Any, ci: CIFailure
) -> None:
    # the repository lowers the operator's 3 rounds to 1 (and could not raise them)
    issue = seed(github, config="limits:\n  fix_rounds: 1\n")
    number = bot_pull(github, settings, issue)
    dispatcher = make_dispatcher(settings, make_config(limits={"fix_rounds": 3}))
    llm.script("reason-a", diagnosis())
    llm.script("fast-a", edits({"path": "textstats/windows.py", "action": "edit", "blocks": [
        {"search": "    found = []\n", "replace": "    found = []  # collected windows\n"}]}))
    run(dispatcher, workflow_event(github, red_run(github, ci, issue)))
    fixed = head(github, issue)
    writes = len(github.writes())
    llm.script("reason-a", diagnosis(summary="LAST-DIAGNOSIS still off by one"))

    stopped = run(dispatcher, workflow_event(github, red_run(github, ci, issue), delivery="d-last"))

    assert llm.models_called() == ["reason-a", "fast-a", "reason-a"]  # a last diagnosis, no edits
    assert head(github, issue) == fixed
    assert [(w.method, w.path) for w in github.writes()[writes:]] == [("POST", f"/repos/{REPO}/issues/{number}/comments")]
    [notice] = stop_comments(github, number)
    assert "CI still fails on" in notice and "after 1 fix round, the limit (`limits.fix_rounds: 1`)" in notice
    assert "**LAST-DIAGNOSIS still off by one**" in notice and "The draft pull request is yours now" in notice
    assert stopped.results[0].outcome == "skipped" and stopped.results[0].detail == "stopped: 1 of 1 fix rounds spent"

    # said once: a later red run, even a redelivery of another event, writes and spends nothing
    writes = len(github.writes())
    later = run(dispatcher, suite_event(github, red_run(github, ci, issue), delivery="d-later"))
    assert len(llm.requests) == 3 and len(github.writes()) == writes
    assert later.results[0].detail == "the bot has stopped fixing this pull request"


def test_a_human_commit_on_the_branch_stops_the_bot_there_for_good(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    issue = seed(github)
    number = bot_pull(github, settings, issue)
    human = github.commit(REPO, f"model-routing/issue-{issue}", {"NOTES.md": "mine\n"}, message="My notes",
                          author="alice")
    dispatcher = make_dispatcher(settings)

    run(dispatcher, workflow_event(github, red_run(github, ci, issue)))
    run(dispatcher, workflow_event(github, red_run(github, ci, issue), delivery="d-again"))
    fix = run(dispatcher, comment(github, number, "/fix"))

    assert llm.requests == []
    assert head(github, issue) == human and git_writes(github) == []
    [notice] = stop_comments(github, number)
    assert f"`alice` committed there (`{human[:7]}`)" in notice and "will not write to it again" in notice
    assert round_comments(github, number) == []
    assert "Nothing to fix: the bot has stopped fixing this pull request." in reply_to(github, number, "fix")
    assert fix.results[0].outcome == "skipped"


@pytest.mark.parametrize("conclusion", ["cancelled", "skipped", "neutral", "success", "action_required"])
def test_a_run_that_did_not_fail_does_nothing(
    conclusion: str, github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    issue = seed(github)
    bot_pull(github, settings, issue)
    red = red_run(github, ci, issue, conclusion=conclusion)
    dispatcher = make_dispatcher(settings)

    outcomes = [run(dispatcher, workflow_event(github, red)), run(dispatcher, suite_event(github, red))]

    assert [o.results for o in outcomes] == [[], []] and all(o.handled for o in outcomes)
    assert llm.requests == [] and github.writes() == []


def test_a_forks_branch_of_the_same_name_never_triggers_it(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    from tests.fakes import github_shapes as shapes
    from tests.fakes.github_events import fit

    issue = seed(github)
    github.create_repo("eve/textstats", fork_of=REPO)
    branch = f"model-routing/issue-{issue}"
    github.open_pull(REPO, branch, {"textstats/report.py": "# eve\n"}, head_repo="eve/textstats", user="eve",
                     title=f"Fix\n\nModel-Routing-Issue: {issue}")
    sha = github.state.repo("eve/textstats").head(branch) or ""
    red = github.add_workflow_run(REPO, sha, branch, event="pull_request", conclusion="failure",
                                  jobs=[{"name": "test", "log": ci.log}])
    body = workflow_run_completed(github, red, sender="eve")
    with github.state.lock:  # GitHub names the fork as the run's head repository
        fork = shapes.repository(github.url, github.state, github.state.repo("eve/textstats"))
    body["workflow_run"]["head_repository"] = fit(body["workflow_run"]["head_repository"], fork)
    dispatcher = make_dispatcher(settings)

    outcome = run(dispatcher, Event("workflow_run", body, "d-fork"))

    assert outcome.results == [] and llm.requests == [] and github.writes() == []


def test_check_suites_of_other_apps_are_not_ci_results(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    issue = seed(github)
    bot_pull(github, settings, issue)
    check = github.add_check_run(REPO, head(github, issue), "coverage", app_slug="codecov", conclusion="failure",
                                 head_branch=f"model-routing/issue-{issue}")
    suite = github.state.ci.check_suites[check.suite_id]

    outcome = run(make_dispatcher(settings), Event("check_suite", check_suite_completed(github, suite, sender="codecov[bot]"), "d-cov"))

    assert outcome.results == [] and llm.requests == [] and github.writes() == []


# -- /debug and /fix ---------------------------------------------------------------------------


def human_pull(github: FakeGitHub, ci: CIFailure) -> tuple[int, WorkflowRun]:
    """alice's pull request brings the bug into a clean main; CI (the real pytest) fails on it."""
    files = {"README.md": "# textstats\n", **PROJECT,
             "textstats/windows.py": PROJECT["textstats/windows.py"].replace(BUGGY, FIXED)}
    github.create_repo(REPO, files, roles={"alice": "write", "mallory": "read"})
    pull = github.open_pull(REPO, "feature/windows", {"textstats/windows.py": PROJECT["textstats/windows.py"]},
                            title="Windows up to the end", user="alice")
    red = github.add_workflow_run(REPO, "feature/windows", event="pull_request", conclusion="failure",
                                  jobs=[{"name": "test", "log": ci.log, "annotations": ci.annotations}])
    return pull.number, red


def test_debug_on_a_humans_pr_posts_a_diagnosis_and_suggestions_and_writes_no_commit(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    number, red = human_pull(github, ci)
    head_sha = github.state.repo(REPO).head("feature/windows")
    off_diff = {"path": "textstats/report.py", "start_line": 8, "end_line": 8,
                "replacement": "    return [sum(w) / width for w in windows(values, width)]\n"}
    loop = "    for start in range(len(values) - width + 1):\n"
    answer = diagnosis(suggestions=[
        {"path": "textstats/windows.py", "start_line": 9, "end_line": 10, "replacement": loop + FIXED}, off_diff])
    llm.script("reason-a", answer, answer)
    dispatcher = make_dispatcher(settings)
    event = comment(github, number, "CI is red, why?\n/debug")

    outcome = run(dispatcher, event)
    run(dispatcher, Event("issue_comment", event.payload, "d-redelivered"))  # the same comment again

    assert llm.models_called() == ["reason-a", "reason-a"]
    assert git_writes(github) == []  # never a push
    assert github.state.repo(REPO).head("feature/windows") == head_sha
    [review] = github.reviews(REPO, number)  # one review, not one per delivery
    assert review.state == "COMMENTED" and review.commit_id == head_sha
    assert review.body.startswith(marker("diagnosis-review", comment=event.payload["comment"]["id"]))
    [inline] = review.comments
    assert (inline.path, inline.start_line, inline.line, inline.side) == ("textstats/windows.py", 9, 10, "RIGHT")
    assert inline.body == f"```suggestion\n{loop}{FIXED}```"
    body = reply_to(github, number, "diagnosis")
    assert f"[`test`](https://github.com/{REPO}/actions/runs/{red.id}/job/{red.job_ids[0]}) (failure)" in body
    assert "**DIAG-SUMMARY" in body and "1 suggestion on lines of the diff, in [a review](" in body
    assert "`textstats/report.py` line 8:\n```\n    return [sum(w) / width" in body
    assert "Nothing was pushed" in body and "**high-reasoning** · `openai/reason-a`" in footer_of(body)
    assert len([c for c in github.comments(REPO, number) if c.user.login == BOT]) == 1  # edited, not repeated
    assert outcome.results[0].detail.endswith("1 suggestion(s) inline")
    assert not any("authorization" in r.headers for r in github.log_host_requests)


def test_debug_and_fix_need_a_writer_and_fix_needs_the_bots_pr(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    number, _ = human_pull(github, ci)
    dispatcher = make_dispatcher(settings)

    stranger = run(dispatcher, comment(github, number, "/debug\n/fix", sender="mallory"))
    fix = run(dispatcher, comment(github, number, "/fix", delivery="d-fix"))

    assert stranger.results == [] and llm.requests == [] and git_writes(github) == []
    assert "`/fix` writes only to the bot's own pull requests" in reply_to(github, number, "fix")
    assert fix.results == []  # refused before any job


def test_fix_on_the_bots_pr_runs_a_round_now(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    issue = seed(github)
    number = bot_pull(github, settings, issue)
    red_run(github, ci, issue)  # no event reached the bot (say, it was down)
    before = head(github, issue)
    llm.script("reason-a", diagnosis())
    llm.script("fast-a", edits(FIX_EDIT))

    outcome = run(make_dispatcher(settings), comment(github, number, "/fix"))

    assert llm.models_called() == ["reason-a", "fast-a"]
    assert github.state.store.commits[head(github, issue)].parents == (before,)
    [status] = round_comments(github, number)
    assert "The `high-reasoning` profile is diagnosing" not in status and "`/fix` from alice" not in status
    assert outcome.results[0].detail.startswith("round 1 of 2: commit")


def test_a_failed_diagnosis_says_so_in_the_round_comment_and_fix_tries_again(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    from tests.fakes.llm import Fail

    issue = seed(github)
    number = bot_pull(github, settings, issue)
    llm.script("reason-a", Fail(500))
    llm.script("reason-b", Fail(500))
    dispatcher = make_dispatcher(settings)

    failed = run(dispatcher, workflow_event(github, red_run(github, ci, issue)))

    [status] = round_comments(github, number)
    assert "Every model of the `high-reasoning` profile failed to answer." in status
    assert "No fix was written." in status and "Comment `/fix` to try again." in status
    assert failed.results[0].outcome == "failed" and git_writes(github) == []

    llm.script("reason-a", diagnosis())
    llm.script("fast-a", edits(FIX_EDIT))
    run(dispatcher, comment(github, number, "/fix"))
    [status] = round_comments(github, number)  # the same round's comment, edited
    assert "Every model" not in status and "### What changed" in status
    assert message(github, head(github, issue)).endswith("Model-Routing-Fix-Round: 1\n")


# -- guards ------------------------------------------------------------------------------------


def test_a_branch_moved_during_the_round_is_never_overwritten(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    issue = seed(github)
    number = bot_pull(github, settings, issue)
    red = red_run(github, ci, issue)
    pushed: list[str] = []

    def push_then_answer(body: dict[str, Any]) -> str:
        pushed.append(github.commit(REPO, f"model-routing/issue-{issue}", {"x.txt": "x\n"}, author="alice"))
        return edits(FIX_EDIT)

    llm.script("reason-a", diagnosis())
    llm.default("fast-a", push_then_answer)

    outcome = run(make_dispatcher(settings), workflow_event(github, red))

    assert head(github, issue) == pushed[0]  # the person's push stands
    [patch] = [w for w in github.writes() if w.method == "PATCH" and "/git/refs/" in w.path]
    assert patch.json["force"] is False
    [status] = round_comments(github, number)
    assert "moved while the bot was fixing" in status and "Nothing was written" in status
    assert outcome.results[0].outcome == "failed"


def test_edits_to_workflows_and_denied_paths_are_refused(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    issue = seed(github, config="limits:\n  deny_paths: ['tests/**']\n")
    number = bot_pull(github, settings, issue)
    before = head(github, issue)
    llm.script("reason-a", diagnosis())
    llm.script("fast-a", edits({"path": ".github/workflows/ci.yml", "action": "write", "content": "on: []\n"},
                               {"path": "tests/test_report.py", "action": "delete"}))

    outcome = run(make_dispatcher(settings), workflow_event(github, red_run(github, ci, issue)))

    assert head(github, issue) == before and git_writes(github) == []
    [status] = round_comments(github, number)
    assert "Every edit of the fix was refused" in status
    assert "`.github/workflows/ci.yml`: deny path `.github/workflows/**`" in status
    assert "`tests/test_report.py`: deny path `tests/**`" in status
    assert outcome.results[0].outcome == "skipped"


# -- the log redirect ----------------------------------------------------------------------------


def test_app_auth_the_log_redirect_never_carries_the_installation_token(
    github: FakeGitHub, llm: FakeLLM, app_settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    issue = seed(github)
    number = bot_pull(github, app_settings, issue)
    llm.script("reason-a", diagnosis(fixable=False))
    red = red_run(github, ci, issue)

    outcome = run(make_dispatcher(app_settings),
                  workflow_event(github, red, installation_id=github.app.installation_id))

    api_side = [r for r in github.requests if r.operation == "actions/download-job-logs-for-workflow-run"]
    assert len(api_side) == 1 and api_side[0].headers["authorization"].startswith("token ")
    assert [r.status for r in github.log_host_requests] == [200]
    assert not any("authorization" in r.headers for r in github.log_host_requests)
    assert outcome.results[0].detail == "the diagnosis puts the fix outside the code"
    [status] = round_comments(github, number)
    assert "No fix was written:** the diagnosis puts the fix outside the code" in status


# -- dry run -----------------------------------------------------------------------------------


def _shape(method: str, path: str) -> tuple[str, str]:
    return method, re.sub(r"/issues/comments/\d+$", "/issues/comments/ID", path)


def test_dry_run_plans_the_same_writes(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_config: Any, ci: CIFailure
) -> None:
    issue = seed(github)
    number = bot_pull(github, settings, issue)
    event = workflow_event(github, red_run(github, ci, issue))
    llm.script("reason-a", diagnosis(), diagnosis())
    llm.script("fast-a", edits(FIX_EDIT), edits(FIX_EDIT))
    lines: list[str] = []

    planned_outcome = dispatch_once(settings, make_config(), event, dry_run=True, emit=lines.append)

    assert github.writes() == [] and round_comments(github, number) == []
    planned = [json.loads(line) for line in lines]
    done = dispatch_once(settings, make_config(), Event(event.name, event.payload, "d-real"))
    made = github.writes()
    assert [_shape(p["method"], p["path"]) for p in planned] == [_shape(w.method, w.path) for w in made] == [
        ("POST", f"/repos/{REPO}/issues/{number}/comments"), ("POST", f"/repos/{REPO}/git/trees"),
        ("POST", f"/repos/{REPO}/git/commits"), ("PATCH", f"/repos/{REPO}/git/refs/heads/model-routing/issue-{issue}"),
        ("PATCH", f"/repos/{REPO}/issues/comments/ID")]
    assert planned[1]["body"] == made[1].json  # the same tree
    assert planned[2]["body"]["message"] == made[2].json["message"]
    assert planned[3]["body"]["force"] is made[3].json["force"] is False
    assert planned_outcome.results[0].detail.split(": commit")[0] == done.results[0].detail.split(": commit")[0]


# -- the Action --------------------------------------------------------------------------------


def action_env(github: FakeGitHub, llm: FakeLLM, tmp: Path, event: str, body: dict[str, Any]) -> dict[str, str]:
    import yaml

    from tests.conftest import TEST_MODELS
    from tests.fakes.github import ACTION_TOKEN

    config = tmp / "operator.yml"
    profiles = {p: [{**m, "api_base": llm.url, "api_key": "test-key-not-secret"} for m in ms] for p, ms in TEST_MODELS.items()}
    config.write_text(yaml.safe_dump({"profiles": profiles, "retries": 0}))
    (tmp / "event.json").write_text(json.dumps(body))
    return {"GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": str(tmp / "event.json"), "GITHUB_TOKEN": ACTION_TOKEN,
            "GITHUB_API_URL": github.url, "MODEL_ROUTING_CONFIG": str(config), "MODEL_ROUTING_DATA_DIR": str(tmp / "data"),
            "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"), "GITHUB_OUTPUT": str(tmp / "output.txt"),
            "GITHUB_WEBHOOK_SECRET": "test-webhook-secret", "GITHUB_RUN_ID": "77"}


def test_the_action_takes_the_bots_workflow_run_and_its_summary_says_github_token_starts_no_ci(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, ci: CIFailure, tmp_path: Path
) -> None:
    import argparse

    from bot.cli import action

    issue = seed(github)
    number = bot_pull(github, settings, issue)  # opened with the workflow's token: github-actions[bot]
    red = red_run(github, ci, issue)
    llm.script("reason-a", diagnosis())
    llm.script("fast-a", edits(FIX_EDIT))
    env = action_env(github, llm, tmp_path, "workflow_run", workflow_run_completed(github, red, sender=BOT))

    code = action.run(argparse.Namespace(dry_run=False), env=env)

    assert code == 0
    assert message(github, head(github, issue)).endswith("Model-Routing-Fix-Round: 1\n")
    summary = (tmp_path / "summary.md").read_text()
    assert "| debug | ok: round 1 of 2: commit" in summary
    assert "pushed with the workflow's own `GITHUB_TOKEN`, and GitHub starts no workflow" in summary
    assert "`actions/create-github-app-token`" in summary
    outputs = (tmp_path / "output.txt").read_text()
    assert "handled=true\n" in outputs and "phase=debug\nprofile=high-reasoning\nmodel=openai/reason-a\n" in outputs
    assert f"/pull/{number}#issuecomment-" in outputs


def test_the_action_summary_says_so_when_the_draft_pr_was_opened_with_github_token(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, tmp_path: Path
) -> None:
    import argparse

    from bot.cli import action

    issue = seed(github)
    bot_spec(github, settings, issue)
    llm.script("fast-a", edits(DOC_EDIT))
    approval = payload("issues", "labeled", repo=REPO, sender="alice", issue={"number": issue, "title": ISSUE_TITLE},
                       label={"name": "spec-approved"})

    code = action.run(argparse.Namespace(dry_run=False), env=action_env(github, llm, tmp_path, "issues", approval))

    assert code == 0 and github.pulls(REPO)[0].draft
    summary = (tmp_path / "summary.md").read_text()
    assert "| implement | ok: draft PR" in summary
    assert "> [!NOTE]\n> This branch was pushed with the workflow's own `GITHUB_TOKEN`" in summary


# -- the rules in one place --------------------------------------------------------------------


def test_bots_never_request_work_but_ci_results_are_not_requests() -> None:
    from handlers import router

    comment_body = payload("issue_comment", "created", repo=REPO, sender=BOT, issue={"number": 1},
                           comment={"id": 1, "body": "/fix", "user": {"login": BOT, "type": "Bot"}})
    assert Event("issue_comment", comment_body).sender_is_bot
    assert router.for_sender("issue_comment", "created", from_bot=True) == []
    assert router.for_sender("issues", "labeled", from_bot=True) == [] != router.handlers("issues", "labeled")
    for name in ("workflow_run", "check_suite"):
        body = payload(name, "completed", repo=REPO, sender=BOT)
        assert Event(name, body).sender_is_bot
        heard = router.for_sender(name, "completed", from_bot=True)
        assert {h.__module__ for h in heard} >= {"handlers.debug"}


def test_a_repository_may_lower_fix_rounds_but_never_raise_them() -> None:
    from bot.config import Config
    from bot.config_files import merge, parse_repo_config

    operator = Config.model_validate({"limits": {"fix_rounds": 2}})
    assert merge(operator, parse_repo_config("limits:\n  fix_rounds: 1\n")).limits.fix_rounds == 1
    assert merge(operator, parse_repo_config("limits:\n  fix_rounds: 9\n")).limits.fix_rounds == 2
    assert merge(operator, parse_repo_config("limits:\n  max_files_changed: 3\n")).limits.fix_rounds == 2
    assert Config().limits.fix_rounds == 2 and Config().triggers.ci_apps == ["github-actions"]


def test_a_job_whose_log_github_no_longer_keeps_is_diagnosed_from_its_annotations(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    number, red = human_pull(github, ci)
    with github.state.lock:  # past the repository's log retention: GitHub answers 404 for it
        github.state.ci.jobs[red.job_ids[0]].log = None
    llm.script("reason-a", diagnosis(suggestions=[]))

    outcome = run(make_dispatcher(settings), comment(github, number, "/debug"))

    prompt = llm.prompts("reason-a")[0]
    assert "No job log: GitHub keeps no log for this job (expired, or the job never ran)." in prompt
    assert "textstats/windows.py:10 (failure): test_moving_average failed: IndexError" in prompt
    assert "    10          found.append(" in prompt  # the annotation's file, read at the head
    assert github.log_host_requests == [] and outcome.results[0].outcome == "ok"
    assert "**DIAG-SUMMARY" in reply_to(github, number, "diagnosis")


def test_docs_show_the_workflow_run_trigger_and_the_token_that_lets_ci_run() -> None:
    import yaml

    text = (Path(__file__).resolve().parent.parent / "docs" / "action.md").read_text()
    section = text.split("## Red CI on the bot's draft pull requests", 1)[1]
    workflow = yaml.safe_load(section.split("```yaml", 1)[1].split("```", 1)[0])
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as true
    assert triggers == {"workflow_run": {"workflows": ["CI"], "types": ["completed"]}}
    assert workflow["permissions"] == {"contents": "write", "issues": "write", "pull-requests": "write",
                                       "checks": "read", "actions": "read"}
    job = workflow["jobs"]["model-routing"]
    for needed in ("startup_failure", "'model-routing/issue-'", "head_repository.full_name == github.repository"):
        assert needed in job["if"]
    token, bot = job["steps"]
    assert token["uses"].startswith("actions/create-github-app-token@")
    assert bot["with"]["github-token"] == "${{ steps.app-token.outputs.token }}"
    assert "starts no workflow" in section and "fine-grained personal access token" in section


def test_a_round_stopped_by_a_github_error_does_not_leave_its_comment_saying_diagnosing(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, ci: CIFailure
) -> None:
    from githubkit.exception import RequestFailed

    issue = seed(github)
    number = bot_pull(github, settings, issue)
    github.fail("GET", r"/pulls/\d+/files", 404, {"message": "Not Found"}, times=5)

    with pytest.raises(RequestFailed):
        run(make_dispatcher(settings), workflow_event(github, red_run(github, ci, issue)))

    [status] = round_comments(github, number)
    assert "is diagnosing" not in status and "The round stopped on an error" in status
    assert "Comment `/fix` to try again." in status and llm.requests == [] and git_writes(github) == []
