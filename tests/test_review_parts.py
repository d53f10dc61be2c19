"""/ask, a failed review, and the packing rules the review relies on.

The end-to-end tests of the large pull request are in test_review.py; these reuse its seeding.
"""

from __future__ import annotations

from typing import Any

from bot.github.diffmap import right_lines
from bot.llm import catalog
from bot.prompts.packing import Piece, chunk_pieces, numbered_patch, split_to_fit
from bot.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.fakes.github_diff import make_patch
from tests.fakes.llm import Fail, FakeLLM
from tests.test_review import REPO, base_file, comment_event, head_file, modified_path, review_reply, run, seed_small


def count(text: str) -> int:
    return catalog.count_tokens(text, "openai/wide-a")


def test_ask_on_an_issue_replies_once_with_the_named_file(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    github.create_repo(REPO, {modified_path(i): base_file(i) for i in range(5)} | {"README.md": "# Engine\n"},
                       roles={"alice": "write"})
    number = github.add_issue(REPO, "How do values work?", "Asking for a friend.", user="alice").number
    llm.default("wide-a", "ANSWER: values count from one.")
    dispatcher = make_dispatcher(settings)
    event = comment_event(github, number, f"/ask what does `{modified_path(3)}` hold?", pr=False)

    run(dispatcher, event)
    run(dispatcher, type(event)(event.name, event.payload, "d-again"))  # a redelivery edits, never adds

    replies = [c.body for c in github.comments(REPO, number) if "ANSWER" in c.body]
    assert len(replies) == 1 and "`openai/wide-a`" in replies[0], replies
    assert "**Coverage:** 2 related files, the repository tree (6 of 6 paths)" in replies[0], replies[0]
    assert llm.models_called() == ["wide-a", "wide-a"]
    assert "value_3_40 = 40" in llm.prompts("wide-a")[0]  # the file the question names was read


def test_ask_on_a_pull_request_reads_its_diff(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number, _ = seed_small(github)
    llm.default("wide-a", "ANSWER about the change.")
    run(make_dispatcher(settings), comment_event(github, number, "/ask is this change safe?", pr=True))

    [reply] = [c.body for c in github.comments(REPO, number) if "ANSWER" in c.body]
    assert "**Coverage:** 1 of 1 changed files read (60 changed lines), the whole head version of 1 of them" in reply
    [prompt] = llm.prompts("wide-a")
    assert "### Diff of `src/a.py`" in prompt and "is this change safe?" in prompt


def test_a_failed_review_says_so_in_one_comment(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number, _ = seed_small(github)
    llm.script("wide-a", Fail(500), Fail(500))
    llm.script("wide-b", Fail(500), Fail(500))

    outcome = run(make_dispatcher(settings), comment_event(github, number, "/review", pr=True))

    assert github.reviews(REPO, number) == []
    [notice] = [c.body for c in github.comments(REPO, number) if "model-routing:review-failed" in c.body]
    assert "could not be written" in notice and "Every model of the `massive-context` profile failed" in notice
    assert [r.outcome for r in outcome.results] == ["failed"]


def test_numbered_patch_numbers_exactly_the_commentable_lines() -> None:
    patch, _, _ = make_patch(base_file(1), head_file(1))
    numbered = [line.split()[0] for line in numbered_patch(patch).split("\n")
                if not line.startswith("@@") and line.split() and line.split()[0].isdigit()]
    assert [int(n) for n in numbered] == list(right_lines(patch))


def test_split_and_chunk_respect_the_budget() -> None:
    patch, _, _ = make_patch("", "".join(f"line_{i} = {i}\n" for i in range(3000)))
    parts = split_to_fit(numbered_patch(patch), 2_000, count)
    assert len(parts) > 1 and all(count(p) <= 2_000 for p in parts)
    assert "\n".join(parts) == numbered_patch(patch)  # nothing lost, nothing doubled
    pieces = [Piece("diff", f"f{i}", "x", n) for i, n in enumerate([600, 600, 900, 100, 1_000])]
    chunks = chunk_pieces(pieces, 1_500)
    assert [[p.path for p in c] for c in chunks] == [["f0", "f1"], ["f2", "f3"], ["f4"]]


def test_a_refused_inline_comment_lands_in_the_body(
    github: FakeGitHub, llm: FakeLLM, settings: Settings, make_dispatcher: Any
) -> None:
    number, _ = seed_small(github)
    llm.default("wide-a", review_reply)
    github.fail("POST", rf"/pulls/{number}/reviews$", 422, {
        "message": "Unprocessable Entity", "errors": ["Line could not be resolved"],
        "documentation_url": "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request",
        "status": "422"})

    run(make_dispatcher(settings), comment_event(github, number, "/review", pr=True))

    [review] = github.reviews(REPO, number)
    assert review.comments == [] and "Comments GitHub would not place inline" in review.body
    assert "INLINE-FINDING off by one" in review.body


def test_a_large_prompt_counts_as_litellm_counts_it() -> None:
    """catalog counts a megabyte-sized text on two threads; the number must stay litellm's own,
    both where litellm counts exactly and where it extrapolates from samples (over 4M chars)."""
    litellm = catalog.litellm_module()
    patch, _, _ = make_patch("", "".join(f"value_{i} = compute({i}, 'x' * {i % 7})\n" for i in range(40_000)))
    text = numbered_patch(patch)
    assert catalog.PARALLEL_CHARS < len(text) < 4_000_000
    assert count(text) == litellm.token_counter(model="openai/wide-a", text=text)
    messages = [{"role": "system", "content": "Review."}, {"role": "user", "content": text * 3}]
    assert count_messages(messages) == litellm.token_counter(model="openai/wide-a", messages=messages)


def count_messages(messages: list[dict[str, Any]]) -> int:
    return catalog.count_tokens(messages, "openai/wide-a")
