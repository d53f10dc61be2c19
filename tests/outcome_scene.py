"""The scenes the outcome, /stats and dashboard tests play: a design issue through spec,
approval, red CI, a fix round, green CI and merge; a spec revised, a pull request taken over by
a person and closed; a person's pull request reviewed and pushed to.

Every step is a real event (GitHub's example payloads, fitted to the fake GitHub's state by
tests/fakes/github_events.py or tests/fakes/fixtures.payload) dispatched through the real
dispatcher, with the real spec, implement and review handlers against the fake LLM. The model
replies carry fixed token counts, so every cost is exact.

The fix round is the debug phase's own (handlers/debug.py): the red run carries a job log made
by the real pytest on a real bug (tests/fakes/ci_logs.py), the reasoning model's diagnosis and
the fast model's edit are scripted with fixed token counts, and the phase commits the fix with
its trailers (``Model-Routing-Issue``, ``Model-Routing-Fix-Round``). The outcomes handlers read
the round from the commit, whoever wrote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bot.dispatch.dispatcher import Dispatcher, Outcome
from bot.dispatch.events import Event
from tests.fakes.fixtures import payload
from tests.fakes.github import FakeGitHub
from tests.fakes.github_events import (
    check_suite_completed,
    pull_request_closed,
    pull_request_synchronize,
    workflow_run_completed,
)
from tests.fakes.llm import Fail, FakeLLM, Reply

REPO = "acme/widgets"
BOT = "github-actions[bot]"  # the Action token's login in the fake
CORE = "def widgets():\n    return ['a']\n"
BASE = {"README.md": "# Widgets\n", "widgets/__init__.py": "", "widgets/core.py": CORE}
EXPORT = "import csv\n\n\ndef export_csv(rows, out):\n    writer = csv.writer(out)\n    writer.writerows(rows)\n"
EXPORT_FIXED = EXPORT.replace("writer.writerows(rows)", "writer.writerows(list(rows))")
SPEC = {
    "title": "Add widget export", "summary": "Export widgets as CSV.",
    "requirements": ["`export_csv` writes one row per widget"], "design": "Add widgets/export.py.",
    "files_to_change": [{"path": "widgets/export.py", "action": "create", "why": "the export"}],
    "test_plan": ["two widgets, two rows"], "acceptance_checks": ["pytest passes"],
}
PLAN = {"summary": "Adds the CSV export.", "edits": [
    {"path": "widgets/export.py", "action": "write", "content": EXPORT},
    {"path": "widgets/core.py", "action": "edit",
     "blocks": [{"search": "    return ['a']\n", "replace": "    return ['a', 'b']\n"}]},
]}
IMPORT_PLAN = {"summary": "Adds the CSV import.", "edits": [
    {"path": "widgets/importer.py", "action": "write", "content": "import csv\n\n\ndef rows(f):\n    return list(csv.reader(f))\n"},
]}
BAD_PLAN = {"summary": "Edits a line that is not there.", "edits": [
    {"path": "widgets/core.py", "action": "edit", "blocks": [{"search": "    return ['z']\n", "replace": "    return []\n"}]},
]}
# token counts: reason-a 1,000 in / 500 out = $0.06; fast-a 2,000 / 400 = $0.0022;
# wide-a 4,000 / 250 = $0.011 (prices in tests/conftest.py TEST_MODELS)
SPEC_REPLY = Reply("```json\n" + json.dumps(SPEC) + "\n```", prompt_tokens=1_000, completion_tokens=500)
PLAN_REPLY = Reply("```json\n" + json.dumps(PLAN) + "\n```", prompt_tokens=2_000, completion_tokens=400)
IMPORT_REPLY = Reply("```json\n" + json.dumps(IMPORT_PLAN) + "\n```", prompt_tokens=2_000, completion_tokens=400)
# the debug job of a fix round: diagnosis by reason-a ($0.0336), edits by fast-a ($0.0012)
# a fix round: reason-a's diagnosis 1,200 in / 120 out = $0.0336, fast-a's edit 1,200 / 200 = $0.0012
DIAGNOSIS_REPLY = Reply("```json\n" + json.dumps({
    "summary": "export_csv writes a generator's rows once: the test passes a generator twice.",
    "root_cause": "widgets/export.py hands csv.writer the rows as given.", "evidence": ["E   AssertionError"],
    "files": ["widgets/export.py"], "fix_plan": [{"path": "widgets/export.py", "change": "write list(rows)"}],
    "fixable": True, "suggestions": []}) + "\n```", prompt_tokens=1_200, completion_tokens=120)


def fix_reply(content: str = EXPORT_FIXED) -> Reply:
    return Reply("```json\n" + json.dumps({"summary": "Rows are listed before they are written.", "edits": [
        {"path": "widgets/export.py", "action": "write", "content": content}]}) + "\n```",
        prompt_tokens=1_200, completion_tokens=200)


def review_reply(path: str, lines: list[int]) -> Reply:
    findings = [{"path": path, "line": n, "severity": "minor", "message": f"FINDING at {n}"} for n in lines]
    text = json.dumps({"summary": "Reads fine.", "verdict": "minor-issues", "findings": findings})
    return Reply("```json\n" + text + "\n```", prompt_tokens=4_000, completion_tokens=250)


@dataclass
class Scene:
    github: FakeGitHub
    llm: FakeLLM
    dispatcher: Dispatcher
    repo: str = REPO
    deliveries: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    sent: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)  # (event, payload, delivery)

    @classmethod
    def start(cls, github: FakeGitHub, llm: FakeLLM, dispatcher: Dispatcher, repo: str = REPO) -> Scene:
        if github.state.repo(repo) is None:
            github.create_repo(repo, BASE, roles={"alice": "write", "tina": "triage"})
        return cls(github, llm, dispatcher, repo)

    def send(self, name: str, body: dict[str, Any], delivery: str | None = None) -> Outcome:
        self.deliveries += 1
        prefix = "d" if self.repo == REPO else self.repo.split("/")[1]  # delivery ids are unique on GitHub
        event = Event(name, body, delivery or f"{prefix}-{self.deliveries}")
        self.sent.append((name, body, event.delivery_id))
        outcome = self.dispatcher.run_once(event)
        self.outcomes.append(outcome)
        return outcome

    # -- issues -------------------------------------------------------------------------------
    def issue(self, title: str = "Export widgets as CSV") -> int:
        return self.github.add_issue(self.repo, title, "We need to export widgets.", user="alice").number

    def label(self, number: int, label: str, sender: str = "alice") -> Outcome:
        body = payload("issues", "labeled", repo=self.repo, sender=sender, issue={"number": number},
                       label={"name": label})
        return self.send("issues", body)

    def comment(self, number: int, text: str, *, pr: bool = False, sender: str = "alice") -> Outcome:
        comment = self.github.add_comment(self.repo, number, text, user=sender)
        issue: dict[str, Any] = {"number": number}
        if pr:
            issue["pull_request"] = {"url": f"{self.github.url}/repos/{self.repo}/pulls/{number}"}
        body = payload("issue_comment", "created", repo=self.repo, sender=sender, issue=issue,
                       comment={"id": comment.id, "body": text, "user": {"login": sender, "type": "User"}})
        return self.send("issue_comment", body)

    def design(self, number: int) -> Outcome:
        self.llm.script("reason-a", SPEC_REPLY)
        return self.label(number, "design")

    def approve(self, number: int, how: str = "/approve", plan: Reply = PLAN_REPLY) -> int:
        """The spec approved (a command or the label); -> the draft pull request's number."""
        self.llm.script("fast-a", plan)
        self.comment(number, how) if how.startswith("/") else self.label(number, how)
        return self.pull_of(number)

    def pull_of(self, issue: int) -> int:
        branch = f"model-routing/issue-{issue}"
        return next(p.number for p in self.github.pulls(self.repo) if p.head_ref == branch)

    # -- CI and pushes ------------------------------------------------------------------------
    def ci(self, issue: int, conclusion: str, *, sender: str = BOT, log: str | None = None) -> list[Outcome]:
        """One workflow run on the branch's head, told by both events GitHub sends for it; a
        red one with a job ``log`` is what the debug phase reads."""
        jobs = [{"name": "test", "conclusion": conclusion, "log": log}] if log is not None else None
        run = self.github.add_workflow_run(self.repo, f"model-routing/issue-{issue}", event="pull_request",
                                           conclusion=conclusion, actor=sender, jobs=jobs)
        # both told as the run completes (GitHub sends them together), before either is handled
        suite, workflow = (check_suite_completed(self.github, run, sender=sender),
                           workflow_run_completed(self.github, run, sender=sender))
        return [self.send("check_suite", suite), self.send("workflow_run", workflow)]

    def head(self, pull: int) -> str:
        return str(self.github.state.repo(self.repo).pulls[pull].last_head)

    def red_ci_fixed(self, issue: int, pull: int, log: str, fix_round: int = 1,
                     content: str = EXPORT_FIXED) -> Outcome:
        """Red CI on the bot's branch: the debug phase diagnoses and commits fix round
        ``fix_round`` (the check suite's event starts it; the run's own event for the same head
        is held off), and the fix's push comes back as ``synchronize``. From the second round
        the reasoning model writes the edits too."""
        before = self.head(pull)
        self.llm.script("reason-a", DIAGNOSIS_REPLY)
        self.llm.script("fast-a" if fix_round == 1 else "reason-a", fix_reply(content))
        self.ci(issue, "failure", log=log)
        assert self.head(pull) != before, "the debug phase committed no fix"
        return self.send("pull_request", pull_request_synchronize(self.github, self.repo, pull, before, sender=BOT))

    def push(self, pull: int, branch: str, files: dict[str, str], sender: str = "alice") -> Outcome:
        before = self.head(pull)
        self.github.commit(self.repo, branch, files, message="A person's change", author=sender)
        return self.send("pull_request", pull_request_synchronize(self.github, self.repo, pull, before, sender=sender))

    def close(self, pull: int, *, merged: bool) -> Outcome:
        self.github.close_pull(self.repo, pull, merged=merged, by="alice")
        return self.send("pull_request", pull_request_closed(self.github, self.repo, pull, sender="alice"))

    # -- the whole stories --------------------------------------------------------------------
    def merged_story(self, log: str) -> tuple[int, int]:
        """design -> /approve -> red CI (``log``: a real failing job's) -> fix round 1 by the
        debug phase -> green CI -> merged; -> (issue, PR)."""
        number = self.issue()
        self.design(number)
        pull = self.approve(number)
        self.red_ci_fixed(number, pull, log)
        self.ci(number, "success")
        self.close(pull, merged=True)
        return number, pull

    def closed_story(self) -> tuple[int, int]:
        """design -> /spec (revised) -> the approve label -> a person's push -> closed unmerged."""
        number = self.issue("Import widgets")
        self.design(number)
        self.llm.script("reason-a", SPEC_REPLY)
        self.comment(number, "/spec")
        pull = self.approve(number, "spec-approved", IMPORT_REPLY)
        self.push(pull, f"model-routing/issue-{number}", {"widgets/core.py": "def widgets():\n    return []\n"})
        self.ci(number, "success", sender="alice")  # a person's commit: no CI outcome of the bot's
        self.close(pull, merged=False)
        return number, pull

    def review_story(self) -> int:
        """A person's pull request, `/review`, then a push that rewrites one finding's line."""
        base = "".join(f"value_{j} = {j}\n" for j in range(1, 21))
        self.github.commit(self.repo, "main", {"src/values.py": base}, message="values")
        head = base + "".join(f"more_{j} = {j}\n" for j in range(21, 31))
        pull = self.github.open_pull(self.repo, "more-values", {"src/values.py": head}, title="More values",
                                     user="alice").number
        self.llm.script("wide-a", review_reply("src/values.py", [22, 25]))
        self.comment(pull, "/review", pr=True)
        [review] = self.github.reviews(self.repo, pull)
        self.send("pull_request_review", self.review_submitted(pull, review))
        self.push(pull, "more-values", {"src/values.py": head.replace("more_22 = 22", "more_22 = 220")})
        return pull

    def switch_story(self) -> int:
        """Model switches: the spec's first model answers 500 (reason-b takes over), the
        implementation's edits do not apply twice (reason-a writes them); CI green at once."""
        number = self.issue("Rate limits")
        self.llm.script("reason-a", Fail(500), Reply(PLAN_REPLY.text, prompt_tokens=2_500, completion_tokens=400))
        self.llm.script("reason-b", SPEC_REPLY)
        self.label(number, "design")
        bad = Reply("```json\n" + json.dumps(BAD_PLAN) + "\n```", prompt_tokens=2_000, completion_tokens=100)
        self.llm.script("fast-a", bad, bad)
        self.comment(number, "/approve")
        self.ci(number, "success")
        return number

    def review_submitted(self, pull: int, review: Any) -> dict[str, Any]:
        """``pull_request_review.submitted`` for the fake's review, sent by the bot that wrote it."""
        return payload("pull_request_review", "submitted", repo=self.repo, sender=BOT, sender_type="Bot",
                       review={"id": review.id, "body": review.body, "commit_id": review.commit_id,
                               "user": {"login": review.user.login, "type": review.user.type}},
                       pull_request={"number": pull})
