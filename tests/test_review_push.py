"""Re-reviews after a push: only what the push changed, the pull request as a cached prefix, no
finding posted twice.

The real dispatcher against the fake GitHub (pushes are real commits; ``synchronize`` events
are GitHub's example payload fitted to the fake's pull request) and the fake LLM, which reports
cached prompt tokens as providers do. The pull request changes 40 files (two hunks each); the
first review finds one problem on line 21 of the first file, an inserted line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from bot.config import Config
from bot.dispatch.dispatcher import Dispatcher
from bot.dispatch.events import Event
from bot.github.review_history import read_record
from bot.settings import Settings
from bot.store.ledger import Call, Ledger
from tests.conftest import TEST_MODELS
from tests.fakes.github import FakeGitHub
from tests.fakes.github_events import pull_request_synchronize
from tests.fakes.llm import FakeLLM, message_text
from tests.test_review import REPO, base_file, comment_event, head_file, modified_path, pr_event, pull_fields, run

FILES = 40
FIRST = modified_path(0)
F1 = "F1: the inserted value starts at zero; start it at one"
DIFF_PIECE = re.compile(r"^### Diff of `([^`]+)`", re.MULTILINE)
PUSHED = "## What changed since the last review"


def caching_config(make_config: Callable[..., Config], **overrides: Any) -> Config:
    """The test profiles, with the review models caching prompt prefixes at a tenth of the price."""
    wide = [{**m, "cache_read_cost_per_million": m["input_cost_per_million"] / 10}
            for m in TEST_MODELS["massive-context"]]
    return make_config(profiles={**TEST_MODELS, "massive-context": wide}, **overrides)


def seed(github: FakeGitHub) -> tuple[int, dict[str, Any]]:
    github.create_repo(REPO, {modified_path(i): base_file(i) for i in range(FILES)} | {"README.md": "# Engine\n"},
                       roles={"alice": "write"})
    pull = github.open_pull(REPO, "feature", {modified_path(i): head_file(i) for i in range(FILES)},
                            title="Rework the engine", user="alice")
    return pull.number, pull_fields(pull, FILES * 60, 0, FILES, False, None)


def push_three(github: FakeGitHub, *, tag: str = "v2") -> str:
    """Three files: two lines put on top of the first (its line 21 moves to 23), one line of the
    second changed, one file added."""
    first = github.files(REPO, "feature")[FIRST].decode()
    second = github.files(REPO, "feature")[modified_path(1)].decode().replace("value_1_30 = 30", f"value_1_30 = 31  # {tag}")
    return github.commit(REPO, "feature", {FIRST: f"# {tag}\nimport os\n" + first, modified_path(1): second,
                                           f"lib/extra_{tag}.py": "extra = 1\n"}, message=f"Push {tag}")


def sync(github: FakeGitHub, number: int, before: str, delivery: str) -> Event:
    return Event("pull_request", pull_request_synchronize(github, REPO, number, before), delivery)


def stable_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The cached part of a review request: the content blocks of its first user message."""
    system, user, rest = body["messages"]
    assert (system["role"], user["role"], rest["role"]) == ("system", "user", "user")
    return [b for b in user["content"] if b.get("cache_control")]


def section(prompt: str, heading: str) -> str:
    """The text under a heading, to the next heading of its level."""
    rest = prompt.split(heading, 1)[1]
    return re.split(r"^## ", rest, maxsplit=1, flags=re.MULTILINE)[0]


def reviewer(new: str = "", repeat_line: int | None = 23, reword: bool = False) -> Callable[[dict[str, Any]], str]:
    """The fake model: F1 on the first review; after a push, F1 again where its line moved
    (``reword``: in other words), and ``new`` as a new finding on the first file's line 1."""
    def reply(body: dict[str, Any]) -> str:
        prompt = "\n".join(message_text(m) for m in body["messages"])
        findings = []
        if PUSHED not in prompt:
            findings.append({"path": FIRST, "line": 21, "severity": "major", "message": F1})
        else:
            if repeat_line:
                message = ("F1: the value inserted starts at zero, should start at one" if reword else F1)
                findings.append({"path": FIRST, "line": repeat_line, "severity": "major", "message": message})
            if new:
                findings.append({"path": FIRST, "line": 1, "severity": "minor", "message": new})
        return "```json\n" + json.dumps({"summary": "Reviewed.", "verdict": "minor-issues", "findings": findings}) + "\n```"
    return reply


def first_review(github: FakeGitHub, llm: FakeLLM, dispatcher: Dispatcher,
                 reply: Callable[[dict[str, Any]], str]) -> tuple[int, str]:
    """The pull request, opened and reviewed once (F1 inline); -> (its number, the head reviewed)."""
    llm.default("wide-a", reply)
    number, fields = seed(github)
    run(dispatcher, pr_event(fields, delivery="d-opened"))
    [review] = github.reviews(REPO, number)
    assert [(c.path, c.line) for c in review.comments] == [(FIRST, 21)]
    return number, fields["head"]["sha"]


def calls_of(settings: Settings) -> list[Call]:
    ledger = Ledger(settings.data_dir / "ledger.sqlite3")
    try:
        return ledger.calls()
    finally:
        ledger.close()


def test_a_push_is_reviewed_on_the_files_it_changed_after_the_first_review_as_a_cached_prefix(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Callable[..., Config]
) -> None:
    dispatcher = make_dispatcher(settings, caching_config(make_config, limits={"delta_reference_share": 1.0}))
    number, before = first_review(github, llm, dispatcher, reviewer(new="NEW: the two lines on top repeat the module header"))
    head = push_three(github)

    [result] = run(dispatcher, sync(github, number, before, "d-push")).results

    first, second = llm.requests
    # the stable part (system text, tree, the whole diff at the reviewed head) is the first
    # prompt's own start, byte for byte; both marked for caching; the rest differs
    stable = stable_of(second)
    assert len(stable) == 2 and second["messages"][0] == first["messages"][0]
    assert stable_of(first) == stable
    assert "## Diff of the pull request at " + before[:12] in stable[1]["text"]
    assert len(DIFF_PIECE.findall(stable[1]["text"])) == FILES
    # the diff part holds only the three files the push changed
    prompt = "\n".join(message_text(m) for m in second["messages"])
    pushed = section(prompt, PUSHED)
    assert DIFF_PIECE.findall(pushed) == ["lib/extra_v2.py", FIRST, modified_path(1)]  # GitHub's order
    assert "## Already reported" in prompt and F1 in section(prompt, "## Already reported")
    # the provider served the stable part from its cache; the ledger prices it at the cached rate
    calls = calls_of(settings)
    cached = calls[1].tokens_cached
    assert calls[0].tokens_cached == 0
    stable_tokens = sum(len(b["text"]) for b in stable) // 4 + len(second["messages"][0]["content"]) // 4
    assert 0.9 * stable_tokens <= cached + 1024 and cached % 1024 == 0 and cached > 0
    expected = ((calls[1].tokens_in - cached) * 2.0 + cached * 0.2 + calls[1].tokens_out * 12.0) / 1e6
    assert calls[1].cost_usd == pytest.approx(expected)
    # one new review: the range in its title, only the new finding, the cached tokens in its footer
    _, new = github.reviews(REPO, number)
    assert new.body.startswith(f"<!-- model-routing:review pr={number} sha={head} -->")
    assert f"## Review of {before[:7]}..{head[:7]}: needs changes" in new.body  # F1 (major) still stands
    assert [(c.path, c.line, c.body) for c in new.comments] == [
        (FIRST, 1, "**minor**: NEW: the two lines on top repeat the module header")]
    assert "1 earlier finding still stands; 1 finding repeating one already posted was left out." in new.body
    assert f"{calls[1].tokens_in:,} tokens in ({cached:,} cached)" in new.body
    assert "**Coverage:** 3 of 3 files the push changed read" in new.body
    assert f"the pull request's diff at {before[:7]} ({FILES} files)" in new.body
    record = read_record(new.body)
    assert record is not None and record.anchor == before
    assert [(f.path, f.line, f.anchor) for f in record.findings] == [
        (FIRST, 23, "inserted_0_0 = 0"), (FIRST, 1, "# v2")]
    assert result.outcome == "ok" and "1 new findings (1 repeated, 1 standing)" in result.detail


def test_with_the_default_share_the_reference_is_the_tree_and_the_diff_of_the_changed_files(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Callable[..., Config]
) -> None:
    """The whole diff is a large part of this review: at 0.2 of its cost, the reference keeps the
    tree (still the first prompt's start) and shows the pull request's diff of the 3 files."""
    dispatcher = make_dispatcher(settings, caching_config(make_config))
    number, before = first_review(github, llm, dispatcher, reviewer(new="NEW: header"))
    push_three(github)

    run(dispatcher, sync(github, number, before, "d-push"))

    first, second = llm.requests
    [stable] = stable_of(second)
    assert stable == stable_of(first)[0] and "## Repository tree at " + before[:12] in stable["text"]
    prompt = "\n".join(message_text(m) for m in second["messages"])
    assert DIFF_PIECE.findall(section(prompt, "## The pull request's whole diff of those files")) == [
        "lib/extra_v2.py", FIRST, modified_path(1)]
    calls = calls_of(settings)
    assert calls[1].tokens_in < 0.35 * calls[0].tokens_in and calls[1].cost_usd < 0.3 * calls[0].cost_usd
    new = github.reviews(REPO, number)[-1]
    assert "as reference, the repository tree at" in new.body
    assert "would cost more than limits.delta_reference_share (0.2)" in new.body


def test_a_push_with_nothing_new_edits_the_last_review_and_a_finding_is_never_posted_twice(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Callable[..., Config]
) -> None:
    dispatcher = make_dispatcher(settings, caching_config(make_config))
    number, before = first_review(github, llm, dispatcher, reviewer())  # after a push: F1 again, where it moved
    [posted] = github.reviews(REPO, number)
    head = push_three(github)
    writes = len(github.writes())

    [result] = run(dispatcher, sync(github, number, before, "d-push")).results

    [put] = github.writes()[writes:]
    assert (put.method, put.path) == ("PUT", f"/repos/{REPO}/pulls/{number}/reviews/{posted.id}")
    [review] = github.reviews(REPO, number)  # no second review
    lines = review.body.split("\n")
    assert lines[4:6] == ["", "Reviewed."]  # one line added under the title, nothing else moved
    assert lines[0] == f"<!-- model-routing:review pr={number} sha={head} -->"
    assert lines[1].startswith(f"## Review of {before[:7]}: ")
    assert lines[3].startswith(f"**Checked `{before[:7]}..{head[:7]}`: nothing new.** The last push "
                               "(3 changed files in 1 commit) was reviewed by `openai/wide-a` (")
    assert lines[3].endswith("and found nothing new to report; 1 earlier finding still stands.")
    assert [(c.path, c.line) for c in review.comments] == [(FIRST, 21)]  # the inline comment stays
    record = read_record(review.body)
    assert record is not None and [(f.line, f.anchor) for f in record.findings] == [(23, "inserted_0_0 = 0")]
    assert result.outcome == "ok" and "0 new findings (1 repeated" in result.detail

    # the same push delivered again: the review covers this head now
    calls = len(llm.requests)
    [again] = run(dispatcher, sync(github, number, before, "d-push-again")).results
    assert again.outcome == "skipped" and "already reviewed" in again.detail and len(llm.requests) == calls

    # another push: the repeat in other words is left out, a new problem gets a new review
    llm.default("wide-a", reviewer(new="NEW: the second header line is unused", repeat_line=25, reword=True))
    third = push_three(github, tag="v3")
    run(dispatcher, sync(github, number, head, "d-push-3"))
    old, new = github.reviews(REPO, number)
    assert old.id == review.id and f"## Review of {head[:7]}..{third[:7]}" in new.body
    assert [c.body for c in new.comments] == ["**minor**: NEW: the second header line is unused"]
    assert "1 finding repeating one already posted was left out" in new.body
    assert "F1" in section(llm.prompts("wide-a")[-1], "## Already reported")


def test_a_force_push_gets_a_full_review_that_says_why(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Callable[..., Config]
) -> None:
    dispatcher = make_dispatcher(settings, caching_config(make_config))
    number, before = first_review(github, llm, dispatcher, reviewer())
    main = github.state.repo(REPO).head("main")
    changes: dict[str, str | bytes | None] = {modified_path(i): head_file(i) for i in range(FILES)}
    changes[modified_path(2)] = head_file(2) + "tail = 1\n"
    head = github.commit(REPO, "feature", changes, message="Redo", parent=main)

    run(dispatcher, sync(github, number, before, "d-force"))

    prompt = llm.prompts("wide-a")[-1]
    assert PUSHED not in prompt and len(DIFF_PIECE.findall(prompt)) == FILES
    review = github.reviews(REPO, number)[-1]
    assert f"## Review of {head[:7]}: " in review.body
    assert (f"Full review: a force-push: {before[:7]}, the last reviewed commit, is no longer in the "
            "branch's history.") in review.body
    # F1 stands on the same line at the new head: found again, not posted again
    assert review.comments == [] and "1 finding repeating one already posted was left out." in review.body


def test_a_rebase_onto_a_new_base_and_review_full_give_full_reviews(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Callable[..., Config]
) -> None:
    dispatcher = make_dispatcher(settings, caching_config(make_config))
    number, before = first_review(github, llm, dispatcher, reviewer())
    main = github.commit(REPO, "main", {"README.md": "# Engine, moved on\n"}, message="Main moves")
    head = github.commit(REPO, "feature", {modified_path(i): head_file(i) for i in range(FILES)},
                         message="Rebased", parent=main)

    run(dispatcher, sync(github, number, before, "d-rebase"))
    review = github.reviews(REPO, number)[-1]
    assert "Full review: the branch was rebased onto a new base (merge base " in review.body
    assert f"## Review of {head[:7]}: " in review.body

    # a push after it is a delta again; `/review full` reads the whole change anyway
    after = push_three(github)
    run(dispatcher, comment_event(github, number, "/review full", pr=True, delivery="d-full"))
    prompt = llm.prompts("wide-a")[-1]
    assert PUSHED not in prompt and len(DIFF_PIECE.findall(prompt)) == FILES + 1
    review = github.reviews(REPO, number)[-1]
    assert f"## Review of {after[:7]}: " in review.body
    assert "Full review: `/review full` asked for the whole change." in review.body
    assert "Requested by `/review full` from alice." in review.body


@pytest.mark.parametrize(("new", "method"), [("NEW: header", "POST"), ("", "PUT")])
def test_dry_run_plans_the_writes_a_real_run_makes(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Callable[..., Config],
    new: str, method: str,
) -> None:
    """A new review (something new) or the last one edited (nothing new): the same either way."""
    dispatcher = make_dispatcher(settings, caching_config(make_config))
    number, before = first_review(github, llm, dispatcher, reviewer(new=new))
    push_three(github)
    event = sync(github, number, before, "d-push")

    def planned(dry: bool) -> list[tuple[str, str, str]]:
        llm.clear_cache()  # both runs miss, so their footers count the same tokens
        printed: list[str] = []
        writes = len(github.writes())
        outcome = run(dispatcher, Event(event.name, event.payload, f"d-push-{dry}"), dry_run=dry, emit=printed.append)
        made = ([json.loads(p) for p in printed] if dry else
                [{"method": w.method, "path": w.path, "body": w.json} for w in github.writes()[writes:]])
        assert outcome.results[0].outcome == "ok"
        return [(w["method"], w["path"], re.sub(r"· [\d.]+ s", "· T s", json.dumps(w["body"], sort_keys=True,
                                                                                ensure_ascii=False)))
                for w in made]

    dry = planned(True)
    [review] = github.reviews(REPO, number)  # nothing written
    assert review.body.startswith(f"<!-- model-routing:review pr={number} sha={before} -->")
    path = f"/repos/{REPO}/pulls/{number}/reviews" + (f"/{review.id}" if method == "PUT" else "")
    assert dry == planned(False) and [w[:2] for w in dry] == [(method, path)]


def test_a_push_beyond_the_compare_apis_300_files_says_so_and_an_empty_push_calls_no_model(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any, make_config: Callable[..., Config]
) -> None:
    dispatcher = make_dispatcher(settings, caching_config(make_config))  # F1 moves one line down
    number, before = first_review(github, llm, dispatcher, reviewer(new="NEW: header", repeat_line=22))
    head = github.commit(REPO, "feature", {f"gen/g{i:03d}.py": f"g = {i}\n" for i in range(301)}
                         | {FIRST: "# top\n" + github.files(REPO, "feature")[FIRST].decode()}, message="Generate")

    run(dispatcher, sync(github, number, before, "d-big-push"))

    review = github.reviews(REPO, number)[-1]
    assert f"## Review of {before[:7]}..{head[:7]}" in review.body
    assert "**Coverage:** 300 of 300 files the push changed read" in review.body
    assert ("- changes to files beyond the 300 GitHub's compare API lists: the push changed at least that many, "
            "and the compare API lists no more; `/review full` reads the whole change") in review.body

    calls, writes = len(llm.requests), len(github.writes())
    empty = github.commit(REPO, "feature", {}, message="Empty")
    [result] = run(dispatcher, sync(github, number, head, "d-empty")).results
    assert len(llm.requests) == calls and result.detail == f"nothing changed in 1 commit(s) since {head[:7]}"
    [put] = github.writes()[writes:]
    assert put.method == "PUT" and put.path.endswith(f"/reviews/{review.id}")
    assert (f"**Checked `{head[:7]}..{empty[:7]}`: nothing new.** The last push (1 commit) changed no file; "
            "no model was called; 2 earlier findings still stand.") in github.reviews(REPO, number)[-1].body
    # F1, reported again beside a file the compare API did not list, is still known by its line's text
    assert "1 finding repeating one already posted was left out" in review.body

